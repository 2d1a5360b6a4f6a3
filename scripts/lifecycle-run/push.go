package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

// image is one pushed tag and what happened to it.
type image struct {
	Namespace, Name, Tag, Digest string
	// Offset is when it is pushed, from the scenario's start.
	Offset time.Duration
	// Late: it appears in SWR only LateDelay after its push.
	Late bool
	// PushedAt is when the webhook was sent (the last try's start);
	// Status the bridge's final answer.
	PushedAt time.Time
	Status   int
	Tries    int
}

func (im *image) ref() string { return im.Namespace + "/" + im.Name + ":" + im.Tag }

// plan lays out a scenario's pushes: n images over ns namespaces, chosen
// uniformly or Zipf-skewed (s = zipfS, rank 1 the largest), spread evenly
// over window (0: a burst), a share late ones. Deterministic per seed.
func plan(sc scenario, seed uint64) []*image {
	r := rand.New(rand.NewPCG(seed, 0x11))
	var zipf *rand.Zipf
	if sc.dist == "zipf" {
		zipf = rand.NewZipf(r, sc.zipfS, 1, uint64(sc.namespaces-1))
	}
	imgs := make([]*image, sc.images)
	for i := range imgs {
		var n int
		if zipf != nil {
			n = int(zipf.Uint64())
		} else {
			n = r.IntN(sc.namespaces)
		}
		im := &image{
			Namespace: fmt.Sprintf("ns-%03d", n),
			Name:      fmt.Sprintf("app-%d", i%7),
			Tag:       fmt.Sprintf("%s-%04d", sc.name, i),
		}
		im.Digest = fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(im.ref())))
		if sc.images > 1 {
			im.Offset = time.Duration(int64(sc.window) * int64(i) / int64(sc.images))
		}
		imgs[i] = im
	}
	// The late ones: every k-th image, so they are spread over the window.
	if sc.lateShare > 0 {
		late := int(float64(sc.images)*sc.lateShare + 0.5)
		for j := range late {
			imgs[j*sc.images/late].Late = true
		}
	}
	return imgs
}

// harborBody is Harbor's PUSH_ARTIFACT payload for one tag.
func harborBody(im *image, at time.Time) string {
	return fmt.Sprintf(`{"type":"PUSH_ARTIFACT","occur_at":%d,"operator":"ci","event_data":{"resources":[{"digest":%q,"tag":%q,"resource_url":"harbor.example.com/%s/%s:%s"}],"repository":{"date_created":%d,"name":%q,"namespace":%q,"repo_full_name":"%s/%s","repo_type":"private"}}}`,
		at.Unix(), im.Digest, im.Tag, im.Namespace, im.Name, im.Tag, at.Unix(), im.Name, im.Namespace, im.Namespace, im.Name)
}

const (
	pushWorkers  = 16
	pushTries    = 6
	pushTimeout  = 15 * time.Second
	pushRetryGap = time.Second
)

// pushAll sends every image's webhook at its offset from start (a burst
// when the offsets are 0), with pushWorkers in parallel, and puts each
// image into SWR at its push (or lateDelay later). A 429 or 503 from the
// bridge is retried up to pushTries times; the last answer is kept.
func pushAll(ctx context.Context, e *env, imgs []*image, start time.Time, lateDelay time.Duration) {
	c := &http.Client{Timeout: pushTimeout}
	work := make(chan *image)
	var wg sync.WaitGroup
	for range pushWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for im := range work {
				pushOne(ctx, c, e, im, lateDelay)
			}
		}()
	}
	for _, im := range imgs {
		if d := time.Until(start.Add(im.Offset)); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		work <- im
	}
	close(work)
	wg.Wait()
}

func pushOne(ctx context.Context, c *http.Client, e *env, im *image, lateDelay time.Duration) {
	inSWR := time.Now()
	if im.Late {
		inSWR = inSWR.Add(lateDelay)
	}
	// The registry has the image before it sends the webhook.
	e.fake.PushToSWR(hsstest.Target{Region: region, ProjectID: projectID}, imageType, im.Namespace, im.Name, im.Tag, im.Digest, inSWR)
	for try := 1; try <= pushTries && ctx.Err() == nil; try++ {
		im.Tries = try
		at := time.Now()
		if try == 1 {
			im.PushedAt = at
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.hookURL, strings.NewReader(harborBody(im, at)))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", hookToken)
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			im.Status = resp.StatusCode
			if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
				return
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(pushRetryGap):
		}
	}
}
