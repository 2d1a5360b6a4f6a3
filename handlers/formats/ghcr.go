package formats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// GitHub Packages webhooks for the GitHub Container Registry (ghcr.io) and
// the legacy Docker registry (docker.pkg.github.com).
// https://docs.github.com/en/webhooks/webhook-events-and-payloads#package
// https://docs.github.com/en/webhooks/webhook-events-and-payloads#registry_package
//
// GitHub sends a "package" or "registry_package" event (header
// X-GitHub-Event) with action "published" or "updated". For a container
// the package version is named by its manifest digest and the pushed tag
// is package_version.container_metadata.tag.name; an untagged version
// (tag name "") is a push by digest. GitHub signs the raw body with
// HMAC-SHA256 (X-Hub-Signature-256: sha256=<hex>); verifying it is the
// receiver's job, not the decoder's.
//
// Repository naming: ghcr.io images are ghcr.io/<owner>/<package name>,
// lower-cased (package_version.package_url says so when present);
// docker.pkg.github.com images are <owner>/<repo>/<package name>, the
// registry url path plus the package name.

func init() { register("ghcr", decodeGHCR) }

type ghcrPayload struct {
	Action          string       `json:"action"`
	Package         *ghcrPackage `json:"package"`
	RegistryPackage *ghcrPackage `json:"registry_package"`
	Zen             string       `json:"zen"` // ping events
}

type ghcrPackage struct {
	Name        string `json:"name"`
	Namespace   string `json:"namespace"`
	Ecosystem   string `json:"ecosystem"`
	PackageType string `json:"package_type"`
	Owner       *struct {
		Login string `json:"login"`
	} `json:"owner"`
	PackageVersion *struct {
		Name              string          `json:"name"`
		Version           string          `json:"version"`
		PackageURL        string          `json:"package_url"`
		CreatedAt         string          `json:"created_at"`
		UpdatedAt         string          `json:"updated_at"`
		Metadata          json.RawMessage `json:"metadata"`
		ContainerMetadata *struct {
			Tag *struct {
				Name   string `json:"name"`
				Digest string `json:"digest"`
			} `json:"tag"`
			Manifest json.RawMessage `json:"manifest"`
		} `json:"container_metadata"`
	} `json:"package_version"`
	Registry *struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	} `json:"registry"`
}

// ghcrManifest is container_metadata.manifest, read only when it is an
// object (the schema also allows null).
type ghcrManifest struct {
	Digest    string `json:"digest"`
	MediaType string `json:"media_type"`
	Config    *struct {
		MediaType string `json:"media_type"`
	} `json:"config"`
}

func decodeGHCR(body []byte, header http.Header) (Result, error) {
	var p ghcrPayload
	if err := decodeObject(body, &p); err != nil {
		return Result{}, err
	}
	event := strings.ToLower(strings.TrimSpace(header.Get("X-GitHub-Event")))
	var b resultBuilder
	switch {
	case event == "ping" || (event == "" && p.Zen != "" && p.Package == nil && p.RegistryPackage == nil):
		b.skip("", "github ping event")
		return b.result(), nil
	case event != "" && event != "package" && event != "registry_package" && event != "package_v2":
		b.skip("", fmt.Sprintf("github %s event, not a package event", Clip(event, 64)))
		return b.result(), nil
	}
	pkg := p.Package
	if pkg == nil {
		pkg = p.RegistryPackage
	}
	if pkg == nil {
		return Result{}, errors.New("body has neither package nor registry_package")
	}
	name := strings.Trim(strings.TrimSpace(pkg.Name), "/")
	if name == "" {
		return Result{}, errors.New("package has no name")
	}
	switch strings.ToLower(p.Action) {
	case "published", "updated":
	case "create": // the action of the GHCR beta (package_v2) deliveries, as captured in keel-hq/keel tests
	case "deleted":
		b.skip(name, reasonDelete)
		return b.result(), nil
	default:
		b.skip(name, fmt.Sprintf("package %s event, not a publish", Clip(p.Action, 64)))
		return b.result(), nil
	}
	kind, ok := ghcrContainerKind(pkg)
	if !ok {
		b.skip(name, fmt.Sprintf("%s package, not a container image", Clip(kind, 64)))
		return b.result(), nil
	}
	v := pkg.PackageVersion
	if v == nil {
		return Result{}, fmt.Errorf("package %s has no package_version", Clip(name, 100))
	}

	host, repo := ghcrLocation(pkg, name, kind)
	digest := ""
	var tags []string
	var mediaType, configType string
	if cm := v.ContainerMetadata; cm != nil {
		if cm.Tag != nil {
			tags = append(tags, cm.Tag.Name)
			digest = cm.Tag.Digest
		}
		if m := bytes.TrimSpace(cm.Manifest); len(m) > 0 && m[0] == '{' {
			var man ghcrManifest
			if json.Unmarshal(m, &man) == nil {
				mediaType = man.MediaType
				if man.Config != nil {
					configType = man.Config.MediaType
				}
				if digest == "" {
					digest = man.Digest
				}
			}
		}
	}
	tags = append(tags, ghcrMetadataTags(v.Metadata)...)
	if looksLikeDigest(v.Name) {
		digest = v.Name // the version of a container package is its manifest digest
	}
	if kind == "docker" && v.ContainerMetadata == nil && !looksLikeDigest(v.Version) {
		tags = append(tags, v.Version) // the legacy registry names the tag as the version
	}
	pushedAt := parseTime(v.UpdatedAt)
	if pushedAt.IsZero() {
		pushedAt = parseTime(v.CreatedAt)
	}

	added := 0
	for _, tag := range tags {
		if strings.TrimSpace(tag) == "" {
			continue
		}
		added++
		b.add(candidate{
			Push: Push{
				Host: host, Repository: repo, Tag: tag, Digest: digest, MediaType: mediaType,
				PushedAt: pushedAt, EventID: header.Get("X-GitHub-Delivery"),
			},
			ConfigMediaType: configType,
		})
	}
	if added == 0 {
		b.skip(refString(repo, "", digest), reasonByDigest)
	}
	return b.result(), nil
}

// ghcrContainerKind says whether a package is a container image and which
// registry holds it: "container" for ghcr.io, "docker" for the legacy
// docker.pkg.github.com. The registry type is trusted first (GitHub's own
// examples mix an npm package_type with a container registry), then the
// package type, then the ecosystem. For anything else it returns the
// package type to name in the skip.
func ghcrContainerKind(pkg *ghcrPackage) (string, bool) {
	for _, t := range []string{registryType(pkg), pkg.PackageType, pkg.Ecosystem} {
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "container":
			return "container", true
		case "docker":
			return "docker", true
		case "":
			continue
		default:
			return strings.ToLower(t), false
		}
	}
	return "unknown", false
}

func registryType(pkg *ghcrPackage) string {
	if pkg.Registry == nil {
		return ""
	}
	return pkg.Registry.Type
}

// ghcrLocation returns the host and repository path of a container
// package.
func ghcrLocation(pkg *ghcrPackage, name, kind string) (host, repo string) {
	if kind == "docker" {
		host = "docker.pkg.github.com"
		if pkg.Registry != nil {
			if u, err := url.Parse(pkg.Registry.URL); err == nil && u.Host != "" {
				host = strings.ToLower(u.Host)
				if path := strings.Trim(u.Path, "/"); path != "" {
					return host, strings.ToLower(path + "/" + name)
				}
			}
		}
	} else {
		host = "ghcr.io"
		if v := pkg.PackageVersion; v != nil && v.PackageURL != "" {
			if ref, ok := parseRef(v.PackageURL); ok && ref.Host != "" {
				return ref.Host, strings.ToLower(ref.Repository)
			}
		}
	}
	owner, _, _ := strings.Cut(strings.Trim(pkg.Namespace, "/"), "/")
	if owner == "" && pkg.Owner != nil {
		owner = pkg.Owner.Login
	}
	if owner == "" {
		return host, strings.ToLower(name)
	}
	return host, strings.ToLower(owner + "/" + name)
}

// ghcrMetadataTags reads metadata.container.tags, the tag list of a
// container version in GitHub's REST shape. Webhooks usually send an empty
// metadata array instead; anything that is not that object is ignored.
func ghcrMetadataTags(raw json.RawMessage) []string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var m struct {
		Container *struct {
			Tags []string `json:"tags"`
		} `json:"container"`
	}
	if json.Unmarshal(raw, &m) != nil || m.Container == nil {
		return nil
	}
	return m.Container.Tags
}
