package formats

import (
	"fmt"
	"net/url"
	"strings"
)

// This file is the image reference grammar every format shares: splitting
// a reference a registry prints (host/path:tag@digest), telling a digest
// from a tag, and checking repository names and tags the way
// distribution/reference does
// (https://github.com/distribution/reference/blob/main/reference.go).

// imageRef is a parsed reference host/path[:tag][@digest].
type imageRef struct {
	Host, Repository, Tag, Digest string
}

// parseRef splits an image reference as registries print it:
// "host[:port]/ns/repo:tag", "…/repo@sha256:…", "…/repo:tag@sha256:…",
// and Harbor 2.0's "…/repo:sha256:<hex>" (resource_url of an artifact
// copied by digest, goharbor/harbor#11713), whose digest is a digest, not
// the tag "<hex>" of a repository "repo:sha256". A leading scheme
// ("https://", "docker://") is dropped. The tag starts at the first ":" of
// the last path component, so a ":port" of the host is never a tag. The
// first path component is a host only when isRegistryHost says so, and a
// host is lower-cased (host names are case-insensitive, RFC 4343), so one
// registry has one name whichever format reports it. It reports false for
// a reference without a repository path.
func parseRef(s string) (imageRef, bool) {
	var r imageRef
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if name, digest, ok := strings.Cut(s, "@"); ok {
		s, r.Digest = name, digest
	}
	last := strings.LastIndexByte(s, '/') + 1
	if i := strings.IndexByte(s[last:], ':'); i >= 0 {
		ref := s[last+i+1:]
		s = s[:last+i]
		switch {
		case !looksLikeDigest(ref):
			r.Tag = ref
		case r.Digest == "":
			r.Digest = ref
		}
	}
	if first, rest, ok := strings.Cut(s, "/"); ok && isRegistryHost(first) {
		r.Host, s = strings.ToLower(first), rest
	}
	r.Repository = strings.Trim(s, "/")
	return r, r.Repository != ""
}

// isRegistryHost applies docker's rule to the first component of a
// reference: it is a registry host when it has a "." or a ":" in it or is
// "localhost"; otherwise it is the first path component ("library/nginx").
func isRegistryHost(component string) bool {
	return strings.ContainsAny(component, ".:") || component == "localhost"
}

// urlHost is the lower-cased host[:port] of an absolute URL, or "".
func urlHost(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// looksLikeDigest reports whether s looks like a content digest
// ("sha256:<hex>", sha384 and sha512 too). Some senders put the digest in
// their tag field for a push by digest (Harbor does), which is not a tag.
func looksLikeDigest(s string) bool {
	alg, hexPart, ok := strings.Cut(s, ":")
	return ok && (alg == "sha256" || alg == "sha512" || alg == "sha384") && len(hexPart) >= 32 && isLowerHex(hexPart)
}

// withDigestAlgorithm completes a digest that a sender gives as bare hex
// (Alibaba ACR's push_data.digest, Artifactory's data.sha256) to
// "sha256:<hex>"; a digest that names its algorithm, or "", is unchanged.
func withDigestAlgorithm(digest string) string {
	if digest == "" || strings.Contains(digest, ":") {
		return digest
	}
	return "sha256:" + digest
}

// repoPath is the repository path from the fields most registries send: a
// full name ("team/app"), else namespace and name joined.
func repoPath(fullName, namespace, name string) string {
	if full := strings.Trim(strings.TrimSpace(fullName), "/"); full != "" {
		return full
	}
	namespace = strings.Trim(strings.TrimSpace(namespace), "/")
	name = strings.Trim(strings.TrimSpace(name), "/")
	if namespace == "" || name == "" {
		return ""
	}
	return namespace + "/" + name
}

// refString formats repo:tag@digest for skip entries, leaving out what is
// unknown.
func refString(repo, tag, digest string) string {
	s := repo
	if tag != "" {
		s += ":" + tag
	}
	if digest != "" {
		s += "@" + digest
	}
	return s
}

// refProblem checks a repository and tag against the reference grammar and
// says what is wrong, or "". Registries enforce the grammar themselves, so
// a failure means the body did not come from one; it is still answered as a
// Skip, not an error, so a sender is never blocked on it.
func refProblem(repository, tag string) string {
	if !validRepository(repository) {
		return fmt.Sprintf("invalid repository name %q", Clip(repository, 80))
	}
	if !validTag(tag) {
		return fmt.Sprintf("invalid tag %q", Clip(tag, 80))
	}
	return ""
}

// maxRepositoryLength is distribution's NameTotalLengthMax.
const maxRepositoryLength = 255

// validRepository reports whether s is a repository path as
// distribution/reference defines it: slash-separated components of
// [a-z0-9]+ joined by ".", "_", "__" or runs of "-", at most 255 bytes, no
// registry host.
func validRepository(s string) bool {
	if s == "" || len(s) > maxRepositoryLength {
		return false
	}
	for {
		comp, rest, more := strings.Cut(s, "/")
		if !validPathComponent(comp) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

func validPathComponent(s string) bool {
	n := len(s)
	if n == 0 || !isLowerAlnum(s[0]) || !isLowerAlnum(s[n-1]) {
		return false
	}
	for i := 1; i < n; {
		c := s[i]
		if isLowerAlnum(c) {
			i++
			continue
		}
		switch c {
		case '.':
			i++
		case '_':
			i++
			if i < n && s[i] == '_' {
				i++
			}
		case '-':
			for i < n && s[i] == '-' {
				i++
			}
		default:
			return false
		}
		if i >= n || !isLowerAlnum(s[i]) {
			return false
		}
	}
	return true
}

// validTag reports whether s matches [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func validTag(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// validRegistryHost accepts host or host:port with DNS-ish or IPv4 hosts
// (letters, digits, "-", "." ) and, for IPv6, a bracketed address.
func validRegistryHost(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		inner := s[1:end]
		if inner == "" {
			return false
		}
		for i := 0; i < len(inner); i++ {
			if c := inner[i]; strings.IndexByte("0123456789abcdefABCDEF:.", c) < 0 {
				return false
			}
		}
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return false
			}
			port = rest[1:]
			if port == "" || len(port) > 5 {
				return false
			}
		}
		return allDigits(port)
	}
	if h, p, ok := strings.Cut(s, ":"); ok {
		host, port = h, p
		if port == "" || !allDigits(port) || len(port) > 5 {
			return false
		}
	}
	for {
		label, rest, more := strings.Cut(host, ".")
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlnum(c) && c != '-' {
				return false
			}
		}
		if !more {
			return true
		}
		host = rest
	}
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isAlnum(c byte) bool      { return isLowerAlnum(c) || c >= 'A' && c <= 'Z' }
