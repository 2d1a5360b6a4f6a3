package sources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/scan-bridge/scan-bridge/handlers/formats"
)

// lister is where a round learns what a source holds: the repositories
// and each one's tag → digest. Two kinds: the OCI distribution API
// (registryLister: catalog, tag lists, a manifest HEAD per tag) and
// SWR's own API (swrLister: repositories with their update times, tags
// with their digests). The poller does the rest, the same for both:
// checkpoints, normalize → route → validate → publish.
type lister interface {
	// host is the registry host the pushes name.
	host() string
	// repositories returns the repositories this round checks, sorted,
	// at most limits.max_repositories, starting after resume; and where
	// the next round goes on ("" when this one reaches the end).
	repositories(ctx context.Context, resume string) ([]repoRef, string, error)
	// heads returns the repository's tags, at most limits.max_tags, each
	// with its digest or why it has none; none when the repository is
	// gone.
	heads(ctx context.Context, repo repoRef) ([]head, error)
	// notImage says why a new or changed tag's manifest is not a
	// container image ("" when it is one, or when the listing cannot
	// tell): a HEAD gives the manifest's media type alone, and an OCI
	// artifact (an SBOM pushed with oras, a Helm chart) is an image
	// manifest with another config or artifactType.
	notImage(ctx context.Context, repo string, h head) (string, error)
}

// repoRef is one repository of a round.
type repoRef struct {
	name string
	// updated is when the registry last changed the repository, when it
	// says (SWR); zero when it does not (the distribution API). A
	// repository whose update time is its checkpoint's is not listed.
	updated time.Time
}

// head is one tag's manifest, or why it has none.
type head struct {
	tag, digest, mediaType string
	// configMediaType and artifactType are the manifest's when the
	// listing gave it (swr); "" for a registry's HEAD.
	configMediaType, artifactType string
	err                           error
	gone                          bool
}

// registryLister is the OCI distribution API, through
// go-containerregistry, with one round's options (authentication read
// at the round's start).
type registryLister struct {
	p      *Poller
	opts   []remote.Option
	puller *remote.Puller
}

func (p *Poller) newRegistryLister(ctx context.Context) (lister, error) {
	auth, err := p.cfg.Auth.authenticator(p.reg.host)
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(p.rt),
		remote.WithPageSize(p.cfg.Limits.PageSize), remote.WithUserAgent("scan-bridge")}
	// One puller for the round: it pings the registry and logs in once per
	// repository, not once per manifest HEAD (without it each remote.Head
	// starts from a clean slate, which doubled the requests of a round;
	// calls_test.go).
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	opts = append(opts, remote.Reuse(puller))
	return registryLister{p: p, opts: opts, puller: puller}, nil
}

func (l registryLister) host() string { return l.p.reg.host }

// maxCatalogPages bounds the catalog pages one round reads, whatever the
// globs leave of them.
const maxCatalogPages = 1000

func (l registryLister) repositories(ctx context.Context, resume string) ([]repoRef, string, error) {
	p := l.p
	limit := p.cfg.Limits.MaxRepositories
	if names, ok := p.literalIncludes(); ok {
		out, next := p.window(names, resume)
		return out, next, nil
	}
	reg, err := p.reg.registryName()
	if err != nil {
		return nil, "", err
	}
	var out []repoRef
	last := resume
	for page := 0; page < maxCatalogPages; page++ {
		if ctx.Err() != nil {
			return out, last, nil
		}
		names, err := remote.CatalogPage(reg, last, p.cfg.Limits.PageSize, l.opts...)
		if err != nil {
			return nil, "", fmt.Errorf("catalog after %q: %w", last, err)
		}
		slices.Sort(names)
		progressed := false
		for _, n := range names {
			if n <= last {
				continue // a registry that ignores "last" must not loop
			}
			progressed, last = true, n
			if !p.selected(n) {
				continue
			}
			out = append(out, repoRef{name: n})
			if len(out) == limit {
				return out, n, nil
			}
		}
		if !progressed || len(names) < p.cfg.Limits.PageSize {
			return out, "", nil
		}
	}
	return out, last, nil
}

// window keeps the selected names after resume, at most
// limits.max_repositories, and says where the next round goes on.
func (p *Poller) window(names []string, resume string) ([]repoRef, string) {
	limit := p.cfg.Limits.MaxRepositories
	var out []repoRef
	for _, n := range names {
		if n > resume && p.selected(n) {
			out = append(out, repoRef{name: n})
		}
	}
	if len(out) > limit {
		return out[:limit], out[limit-1].name
	}
	return out, ""
}

func (l registryLister) heads(ctx context.Context, repo repoRef) ([]head, error) {
	r, err := l.p.reg.repository(repo.name)
	if err != nil {
		return nil, err
	}
	tags, err := l.tags(ctx, r)
	if err != nil {
		return nil, err
	}
	return l.headAll(r, tags), nil
}

// tags lists a repository's tags, page by page, at most limits.max_tags.
func (l registryLister) tags(ctx context.Context, repo name.Repository) ([]string, error) {
	p := l.p
	lister, err := l.puller.Lister(ctx, repo)
	if err != nil {
		if isNotFound(err) {
			return nil, nil // deleted since the catalog was read
		}
		return nil, fmt.Errorf("list tags: %w", err)
	}
	var tags []string
	for pages := 0; ; pages++ {
		page, err := lister.Next(ctx)
		if err != nil {
			return nil, fmt.Errorf("list tags: %w", err)
		}
		tags = append(tags, page.Tags...)
		if len(tags) >= p.cfg.Limits.MaxTags {
			p.log.Debug("source repository over max_tags", "repository", repo.RepositoryStr(), "max_tags", p.cfg.Limits.MaxTags)
			return tags[:p.cfg.Limits.MaxTags], nil
		}
		if !lister.HasNext() || len(page.Tags) == 0 || pages > p.cfg.Limits.MaxTags {
			return tags, nil
		}
	}
}

// headAll HEADs every tag's manifest, limits.concurrency at a time.
func (l registryLister) headAll(nr name.Repository, tags []string) []head {
	out := make([]head, len(tags))
	sem := make(chan struct{}, l.p.cfg.Limits.Concurrency)
	var wg sync.WaitGroup
	for i, tag := range tags {
		out[i].tag = tag
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			d, err := remote.Head(nr.Tag(tag), l.opts...)
			switch {
			case err != nil && isNotFound(err):
				out[i].gone = true
			case err != nil:
				out[i].err = err
			default:
				out[i].digest, out[i].mediaType = d.Digest.String(), string(d.MediaType)
			}
		})
	}
	wg.Wait()
	return out
}

// notImage fetches the manifest of a new or changed tag whose media type
// may hold an artifact (an OCI or Docker image manifest: an index is
// scanned as an image, as in a webhook) and reads its config media type
// and artifactType; one GET per changed tag, none for unchanged ones.
func (l registryLister) notImage(ctx context.Context, repo string, h head) (string, error) {
	switch h.mediaType {
	case string(types.OCIManifestSchema1), string(types.DockerManifestSchema2):
	default:
		return formats.NonImageReason(h.mediaType, "", ""), nil
	}
	r, err := l.p.reg.repository(repo)
	if err != nil {
		return "", err
	}
	d, err := remote.Get(r.Digest(h.digest), append(l.opts, remote.WithContext(ctx))...)
	if err != nil {
		return "", fmt.Errorf("get manifest: %w", err)
	}
	var m struct {
		Config struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
		ArtifactType string `json:"artifactType"`
	}
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		return "", fmt.Errorf("read manifest: %w", err)
	}
	return formats.NonImageReason(h.mediaType, m.Config.MediaType, m.ArtifactType), nil
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
