package sources

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/scanjob"
	"github.com/scan-bridge/scan-bridge/swrclient/swrtest"
)

const (
	swrAK = "AKSWRTEST"
	swrSK = "SKSWRTEST-secret-0123"
)

func swrDigest(i int) string { return fmt.Sprintf("sha256:%064x", i) }

// swrRig is the rig with a fake SWR API in process.
func swrRig(t *testing.T) (*rig, *swrtest.Fake) {
	t.Helper()
	r := newRig(t)
	return r, swrtest.New(swrtest.Options{AccessKeys: map[string]swrtest.Key{swrAK: {SecretKey: swrSK}}})
}

func swrSource(name string) Config {
	return Config{Name: name, Kind: KindSWR, Target: target,
		// The pace is SWR's in production (30 a minute); a test has no
		// gateway to spare.
		SWR: SWR{Region: "cn-north-4", AccessKey: swrAK, SecretKey: swrSK, CallsPerMinute: 1e6}}
}

func (r *rig) swrPoller(t *testing.T, f *swrtest.Fake, c Config) *Poller {
	t.Helper()
	p, err := New(c, Deps{KV: r.kv, Planner: r.srv, Publisher: queuePublisher{r.q}, Known: r.store, Transport: f.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// calls is what a round cost at the fake.
type calls struct{ repos, tags int }

func count(f *swrtest.Fake) calls {
	return calls{f.Calls(swrtest.APIListReposDetails), f.Calls(swrtest.APIListRepositoryTags)}
}

func (c calls) minus(o calls) calls { return calls{c.repos - o.repos, c.tags - o.tags} }

func TestSWRSourceRounds(t *testing.T) {
	r, f := swrRig(t)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	f.Push("team", "app", "1.0", swrDigest(1), at)
	f.Push("team", "app", "latest", swrDigest(2), at)
	f.Push("team", "group/api", "v1", swrDigest(3), at)
	f.Push("other", "tool", "v1", swrDigest(4), at)
	p := r.swrPoller(t, f, swrSource("swr"))
	host := "swr.cn-north-4.myhuaweicloud.com/"

	steps := []struct {
		name  string
		do    func()
		dry   bool
		want  []string
		calls calls
	}{
		{"a dry run lists everything and stores nothing", nil, true,
			[]string{"other/tool:v1@" + swrDigest(4), "team/app:1.0@" + swrDigest(1), "team/app:latest@" + swrDigest(2), "team/group/api:v1@" + swrDigest(3)},
			calls{1, 3}},
		{"the first round enqueues every tag", nil, false,
			[]string{"other/tool:v1@" + swrDigest(4), "team/app:1.0@" + swrDigest(1), "team/app:latest@" + swrDigest(2), "team/group/api:v1@" + swrDigest(3)},
			calls{1, 3}},
		{"a round with nothing pushed lists no tag", nil, false, nil, calls{1, 0}},
		{"a re-push lists that repository only", func() { f.Push("team", "app", "latest", swrDigest(5), at.Add(time.Hour)) }, false,
			[]string{"team/app:latest@" + swrDigest(5)}, calls{1, 1}},
		{"a deleted tag is dropped from the checkpoint, no job", func() { f.DeleteTag("team", "app", "1.0", at.Add(2*time.Hour)) }, false,
			nil, calls{1, 1}},
	}
	for _, st := range steps {
		if st.do != nil {
			st.do()
		}
		before := count(f)
		rep := round(t, p, st.dry)
		var want []string
		for _, w := range st.want {
			want = append(want, strings.TrimPrefix(host+w, host)) // images are named without the host
		}
		if got := images(rep); !slices.Equal(got, want) {
			t.Fatalf("%s: jobs %v, want %v", st.name, got, want)
		}
		if got := count(f).minus(before); got != st.calls {
			t.Fatalf("%s: calls %+v, want %+v", st.name, got, st.calls)
		}
	}
	if n := streamMessages(t, r); n != 5 {
		t.Fatalf("stream holds %d jobs, want 5", n)
	}
	if len(f.Refusals()) != 0 {
		t.Fatalf("the fake refused %+v", f.Refusals())
	}
}

func TestSWRNamespacesSelect(t *testing.T) {
	tests := []struct {
		name       string
		namespaces Globs
		repos      Globs
		want       []string
		wantNS     []string // the namespace parameter of each repository listing
	}{
		{"every namespace in one listing", Globs{}, Globs{}, []string{"a-team/app", "b-team/app", "ops/tool"}, []string{""}},
		{"literal namespaces are listed one by one", Globs{Include: []string{"ops", "a-team"}}, Globs{}, []string{"a-team/app", "ops/tool"}, []string{"a-team", "ops"}},
		{"a namespace glob filters one listing", Globs{Include: []string{"*-team"}, Exclude: []string{"b-*"}}, Globs{}, []string{"a-team/app"}, []string{""}},
		{"repository globs apply to namespace/name", Globs{}, Globs{Exclude: []string{"*/app"}}, []string{"ops/tool"}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, f := swrRig(t)
			at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			for i, repo := range []string{"a-team/app", "b-team/app", "ops/tool"} {
				ns, name, _ := strings.Cut(repo, "/")
				f.Push(ns, name, "v1", swrDigest(i), at)
			}
			c := swrSource("swr")
			c.SWR.Namespaces, c.Repositories = tt.namespaces, tt.repos
			rep := round(t, r.swrPoller(t, f, c), true)
			var got []string
			for _, j := range rep.Jobs {
				got = append(got, strings.Split(j.Image, ":")[0])
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("repositories %v, want %v", got, tt.want)
			}
			var ns []string
			for _, req := range f.Requests() {
				if req.API == swrtest.APIListReposDetails {
					ns = append(ns, req.Query.Get("namespace"))
				}
			}
			if !slices.Equal(ns, tt.wantNS) {
				t.Fatalf("listings of %q, want %q", ns, tt.wantNS)
			}
		})
	}
}

// TestSWRJobIDIsTheWebhooks: an swr sweep's job is the receiver's
// webhook's job, with the same id.
func TestSWRJobIDIsTheWebhooks(t *testing.T) {
	r, f := swrRig(t)
	f.Push("team", "app", "1.0", swrDigest(7), time.Now())
	c := swrSource("sweep")
	c.Target, c.SweepFor = scanjob.Target{}, "hook"
	rep := round(t, r.swrPoller(t, f, c), true)
	if len(rep.Jobs) != 1 {
		t.Fatalf("jobs %v", rep.Jobs)
	}
	e, err := r.srv.Explain("hook", http.Header{}, distributionPush("swr.cn-north-4.myhuaweicloud.com", "team/app", "1.0", swrDigest(7)))
	if err != nil || len(e.Jobs) != 1 {
		t.Fatalf("webhook explanation %+v, %v", e, err)
	}
	if rep.Jobs[0].ID != e.Jobs[0].ID {
		t.Fatalf("poll job id %s, webhook job id %s", rep.Jobs[0].ID, e.Jobs[0].ID)
	}
}

// TestSWRCallsPer1000Tags measures the figure docs/sources.md gives: a
// first round over 50 repositories of 20 tags (1,000 tags) and a round
// with nothing new, at the default page size.
func TestSWRCallsPer1000Tags(t *testing.T) {
	r, f := swrRig(t)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range 50 {
		for j := range 20 {
			f.Push("team", fmt.Sprintf("app%02d", i), fmt.Sprintf("v%02d", j), swrDigest(i*100+j), at.Add(time.Duration(i)*time.Second))
		}
	}
	p := r.swrPoller(t, f, swrSource("swr"))
	before := count(f)
	first := round(t, p, false)
	c1 := count(f).minus(before)
	if first.Tags != 1000 || len(first.Jobs) != 1000 || c1 != (calls{1, 50}) {
		t.Fatalf("first round: %d tags, %d jobs, calls %+v", first.Tags, len(first.Jobs), c1)
	}
	before = count(f)
	round(t, p, false)
	c2 := count(f).minus(before)
	if c2 != (calls{1, 0}) {
		t.Fatalf("idle round: calls %+v", c2)
	}
	f.Push("team", "app07", "v99", swrDigest(9999), at.Add(time.Hour))
	before = count(f)
	third := round(t, p, false)
	c3 := count(f).minus(before)
	if len(third.Jobs) != 1 || c3 != (calls{1, 1}) {
		t.Fatalf("one push: %d jobs, calls %+v", len(third.Jobs), c3)
	}
	t.Logf("SWR calls per 1,000 tags (50 repositories x 20 tags, page 100): first round %d, idle round %d, a round after one push %d",
		c1.repos+c1.tags, c2.repos+c2.tags, c3.repos+c3.tags)
}

func TestSWRCredentials(t *testing.T) {
	for _, k := range []string{"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "CLOUD_SDK_AK", "CLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN",
		"HUAWEICLOUD_SDK_AK_FILE", "HUAWEICLOUD_SDK_SK_FILE", "CLOUD_SDK_AK_FILE", "CLOUD_SDK_SK_FILE", "HUAWEICLOUD_SDK_SECURITY_TOKEN_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	skFile := filepath.Join(dir, "sk")
	if err := os.WriteFile(skFile, []byte(swrSK+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		swr     SWR
		env     map[string]string
		wantErr string
	}{
		{"a secret file", SWR{AccessKey: swrAK, SecretKeyFile: skFile}, nil, ""},
		{"the hss section's, copied in by config", SWR{AccessKey: swrAK, SecretKeyFile: skFile, CredentialsFrom: "hss"}, nil, ""},
		{"the environment's", SWR{}, map[string]string{"HUAWEICLOUD_SDK_AK": swrAK, "HUAWEICLOUD_SDK_SK": swrSK}, ""},
		{"none anywhere", SWR{}, nil, "swr.access_key with swr.secret_key_file on the source, or hss.access_key"},
		{"a missing file", SWR{AccessKey: swrAK, SecretKeyFile: filepath.Join(dir, "none")}, nil, "swr.secret_key_file: open"},
		{"the hss section's missing file", SWR{AccessKey: swrAK, SecretKeyFile: filepath.Join(dir, "none"), CredentialsFrom: "hss"}, nil, "hss.secret_key_file: open"},
		{"a wrong secret", SWR{AccessKey: swrAK, SecretKey: "wrong-secret-value"}, nil, "APIG.0301"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r, f := swrRig(t)
			f.Push("team", "app", "1.0", swrDigest(1), time.Now())
			c := swrSource("swr")
			tt.swr.Region, tt.swr.CallsPerMinute = "cn-north-4", 1e6
			c.SWR = tt.swr
			p, err := New(c, Deps{KV: r.kv, Planner: r.srv, Transport: f.Transport()})
			if err != nil {
				// Checked at start: a file the source names must be there.
				if tt.wantErr == "" || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: %v, want %q", err, tt.wantErr)
				}
				return
			}
			rep, err := p.Round(t.Context(), true)
			switch {
			case tt.wantErr == "" && (err != nil || rep.Result != ResultOK || len(rep.Jobs) != 1):
				t.Fatalf("round %+v, %v", rep, err)
			case tt.wantErr != "" && !strings.Contains(rep.Error, tt.wantErr):
				t.Fatalf("error %q, want %q", rep.Error, tt.wantErr)
			}
			if strings.Contains(rep.Error, swrSK) || strings.Contains(rep.Error, "wrong-secret-value") {
				t.Fatalf("the error carries the secret: %s", rep.Error)
			}
		})
	}
}

func TestSWRConfigChecks(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want string
	}{
		{"no region", Config{Name: "s", Kind: KindSWR}, "swr.region: is required"},
		{"a registry url", Config{Name: "s", Kind: KindSWR, URL: "https://r", SWR: SWR{Region: "r"}}, "url: not used by kind swr"},
		{"a bad endpoint", Config{Name: "s", Kind: KindSWR, SWR: SWR{Endpoint: "ftp://x"}}, `swr.endpoint "ftp://x"`},
		{"both secrets", Config{Name: "s", Kind: KindSWR, SWR: SWR{Region: "r", AccessKey: "a", SecretKey: "b", SecretKeyFile: "/f"}}, "set secret_key or secret_key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.c.Check()
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			if !strings.Contains(strings.Join(all, "\n"), tt.want) {
				t.Fatalf("errors %q, want %q", all, tt.want)
			}
		})
	}
	if (Config{Kind: KindSWR}).WithDefaults().Schedule.Every != DefaultEverySWR {
		t.Fatal("kind swr does not default to DefaultEverySWR")
	}
	if (Config{}).WithDefaults().Schedule.Every != DefaultEvery {
		t.Fatal("kind registry's default moved")
	}
}

// TestSWRArtifactsAreSkippedFromTheListedManifest: SWR lists each tag
// with its manifest, whose config media type or artifactType tells a Helm
// chart or an SBOM from an image. An swr source skips them in the
// webhook's words without another call, once, while the image beside
// them is a job.
func TestSWRArtifactsAreSkippedFromTheListedManifest(t *testing.T) {
	r, f := swrRig(t)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	f.Push("team", "app", "1.0", swrDigest(1), at)
	f.PushRaw("team", "app", "1.0.sbom", swrDigest(2), []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"artifactType":"application/spdx+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},`+
		`"layers":[{"mediaType":"application/spdx+json","digest":"`+swrDigest(9)+`","size":10}]}`), at)
	f.PushRaw("team", "chart", "0.1.0", swrDigest(3), []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"`+swrDigest(8)+`","size":100},`+
		`"layers":[{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"`+swrDigest(7)+`","size":1000}]}`), at)
	p := r.swrPoller(t, f, swrSource("swr"))

	before := count(f)
	first := round(t, p, false)
	if got := images(first); !slices.Equal(got, []string{"team/app:1.0@" + swrDigest(1)}) {
		t.Fatalf("jobs %v, want only the image", got)
	}
	if got := count(f).minus(before); got != (calls{1, 2}) {
		t.Fatalf("calls %+v, want one list of repositories and one of tags per repository", got)
	}
	wantSkipped(t, first, map[string]string{
		"team/app:1.0.sbom": "spdx sbom, not a container image",
		"team/chart:0.1.0":  "helm chart, not a container image",
	})
	if second := round(t, p, false); len(second.Jobs) != 0 || len(second.Skipped) != 0 {
		t.Fatalf("an unchanged SWR: jobs %v, skipped %v", second.Jobs, second.Skipped)
	}
	if len(f.Refusals()) != 0 {
		t.Fatalf("the fake refused %+v", f.Refusals())
	}
}
