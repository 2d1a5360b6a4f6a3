package sources

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"golang.org/x/time/rate"

	"github.com/scan-bridge/scan-bridge/handlers/formats"
	"github.com/scan-bridge/scan-bridge/swrclient"
)

// swrLister is a kind swr source: SWR's own API (package swrclient).
// A round lists the repositories (of the literal namespaces, or of every
// namespace), newest update first, one call per page of
// limits.page_size; it lists the tags, with their digests, of each
// repository whose update time is not its checkpoint's, one call per
// page. No manifest is fetched: SWR returns each tag's digest.
type swrLister struct {
	p *Poller
	c *swrclient.Client
}

// newSWRLister builds one round's client: the credentials are read now,
// so a rotated secret file takes effect at the next round; the pace is
// the poller's, shared by all its rounds.
func (p *Poller) newSWRLister() (lister, error) {
	creds, err := p.cfg.SWR.credentials()
	if err != nil {
		return nil, err
	}
	project := cmp.Or(p.cfg.SWR.ProjectID, p.cfg.Target.ProjectID)
	c, err := swrclient.New(swrclient.Config{Region: p.cfg.SWR.Region, Endpoint: p.cfg.SWR.Endpoint, Credentials: creds,
		ProjectID: project, Limiter: p.swrLimit, Transport: p.d.Transport, Timeout: p.cfg.Limits.RoundTimeout})
	if err != nil {
		return nil, err
	}
	return swrLister{p: p, c: c}, nil
}

// newLister is the round's lister of the source's kind.
func (p *Poller) newLister(ctx context.Context) (lister, error) {
	if p.cfg.Kind == KindSWR {
		return p.newSWRLister()
	}
	return p.newRegistryLister(ctx)
}

// notImage reads the types of the manifest SWR lists with each tag: no
// call, and the same words as a webhook's for the same artifact. A tag
// whose row carries no manifest is taken as an image; HSS refuses what it
// cannot scan, and the lifecycle gives it up with HSS's reason.
func (swrLister) notImage(_ context.Context, _ string, h head) (string, error) {
	return formats.NonImageReason(h.mediaType, h.configMediaType, h.artifactType), nil
}

func (l swrLister) host() string {
	if l.p.cfg.SWR.Region == "" {
		if u, err := url.Parse(l.p.cfg.SWR.Endpoint); err == nil {
			return u.Host
		}
	}
	return swrclient.RegistryHost(l.p.cfg.SWR.Region)
}

// maxSWRPages bounds the repository pages of one namespace per round.
const maxSWRPages = 100

func (l swrLister) repositories(ctx context.Context, resume string) ([]repoRef, string, error) {
	p := l.p
	namespaces := []string{""} // every namespace, in one listing
	if lits, ok := literal(p.cfg.SWR.Namespaces.Include); ok {
		namespaces = lits
	}
	updated := map[string]repoRef{}
	var names []string
	for _, ns := range namespaces {
		repos, err := l.c.ListRepos(ctx, ns, swrclient.ListOptions{PageSize: p.cfg.Limits.PageSize, MaxPages: maxSWRPages})
		if err != nil {
			return nil, "", err
		}
		for _, r := range repos {
			if !selectedBy(p.cfg.SWR.Namespaces, r.Namespace) {
				continue
			}
			n := r.FullName()
			if _, dup := updated[n]; !dup {
				names = append(names, n)
			}
			updated[n] = repoRef{name: n, updated: r.UpdatedAt}
		}
	}
	slices.Sort(names)
	refs, next := p.window(names, resume)
	for i := range refs {
		refs[i] = updated[refs[i].name]
	}
	return refs, next, nil
}

func (l swrLister) heads(ctx context.Context, repo repoRef) ([]head, error) {
	ns, name, ok := strings.Cut(repo.name, "/")
	if !ok {
		return nil, fmt.Errorf("repository %q has no namespace", repo.name)
	}
	tags, err := l.c.ListTags(ctx, ns, name, swrclient.ListOptions{PageSize: min(l.p.cfg.Limits.PageSize, l.p.cfg.Limits.MaxTags),
		MaxItems: l.p.cfg.Limits.MaxTags})
	if swrclient.IsNotFound(err) {
		return nil, nil // deleted since it was listed
	}
	if err != nil {
		return nil, err
	}
	out := make([]head, 0, len(tags))
	for _, t := range tags {
		out = append(out, head{tag: t.Name, digest: t.Digest, mediaType: t.MediaType, configMediaType: t.ConfigMediaType, artifactType: t.ArtifactType})
	}
	return out, nil
}

// literal returns the globs when every one is a plain name, sorted.
func literal(globs []string) ([]string, bool) {
	if len(globs) == 0 {
		return nil, false
	}
	for _, g := range globs {
		if strings.ContainsAny(g, `*?[\`) {
			return nil, false
		}
	}
	out := slices.Clone(globs)
	slices.Sort(out)
	return slices.Compact(out), true
}

// credentials are the source's AK/SK: its own (or the hss section's,
// which package config copies in), or the environment's. Files are read
// now. Errors name settings and variables, never values.
func (s SWR) credentials() (swrclient.Credentials, error) {
	from := "swr"
	if s.CredentialsFrom == "hss" {
		from = "hss"
	}
	if s.AccessKey == "" {
		c, err := swrclient.CredentialsFromEnv()
		if errors.Is(err, swrclient.ErrNoCredentials) {
			return c, errors.New("swr: no credentials: set swr.access_key with swr.secret_key_file on the source, " +
				"or hss.access_key with hss.secret_key_file, or HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (or their _FILE variants)")
		}
		return c, err
	}
	sk, err := secretOf(s.SecretKey, s.SecretKeyFile, from+".secret_key_file")
	if err != nil {
		return swrclient.Credentials{}, err
	}
	if sk == "" {
		return swrclient.Credentials{}, fmt.Errorf("%s.secret_key_file: %s.access_key %s has no secret key", from, from, s.AccessKey)
	}
	st, err := secretOf(s.SecurityToken, s.SecurityTokenFile, from+".security_token_file")
	if err != nil {
		return swrclient.Credentials{}, err
	}
	return swrclient.Credentials{AccessKey: s.AccessKey, SecretKey: swrclient.NewSecret(sk), SecurityToken: swrclient.NewSecret(st)}, nil
}

func secretOf(inline, file, setting string) (string, error) {
	if file == "" {
		return inline, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", setting, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", setting, file)
	}
	return v, nil
}

// swrLimiter is a source's pace of SWR calls.
func swrLimiter(c Config) *rate.Limiter { return swrclient.NewLimiter(c.SWR.CallsPerMinute) }
