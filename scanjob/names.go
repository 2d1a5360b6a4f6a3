package scanjob

import (
	_ "crypto/sha512" // go-digest validates sha384 and sha512 digests only when their hash is linked in
	"regexp"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// This file holds the name rules: a job's namespace, image name, tag,
// digest and registry host must be what the OCI distribution grammar
// allows (github.com/distribution/reference, the grammar registries
// enforce on push), on top of the HSS length limits in job.go. A registry
// accepts no other name on push, so a name outside the grammar did not
// come from a push: it is a sender probing the bridge, and it would
// otherwise travel to the queue, the logs and HSS with its control
// characters, spaces, glob characters, bidi marks or invalid UTF-8.
//
// The grammar is the library's, not a copy: path components are checked
// with reference.WithName, tags and hosts with reference's own TagRegexp
// and DomainRegexp anchored, digests with go-digest, so the bridge and the
// registries cannot drift apart.

// RuleGrammar is the FieldError rule of a value outside the OCI
// distribution grammar; Param then says what the grammar allows.
const RuleGrammar = "grammar"

// What each name field may hold, in a registry administrator's words (the
// Param of a RuleGrammar FieldError).
const (
	grammarNamespace = "namespace (OCI distribution grammar: one path component of lower-case letters and digits, " +
		"which may be joined inside by ., _, __ or runs of -; no /)"
	grammarImage = "image name (OCI distribution grammar: path components separated by /, each of lower-case letters " +
		"and digits, which may be joined inside by ., _, __ or runs of -)"
	grammarTag  = "tag (OCI distribution grammar: letters, digits, _ . -, up to 128, not starting with . or -)"
	grammarHost = "registry host (OCI distribution grammar: a host name of letters, digits, - and ., " +
		"an IPv4 address or an [IPv6] address, with an optional :port; no scheme, no path)"
	grammarDigest = "digest (algorithm:hex, e.g. sha256: and 64 lower-case hex digits)"
)

var (
	// anchoredTag and anchoredHost are reference's own patterns, anchored:
	// the package exports them unanchored and keeps its anchored
	// versions private.
	anchoredTag  = regexp.MustCompile(`^(?:` + reference.TagRegexp.String() + `)$`)
	anchoredHost = regexp.MustCompile(`^(?:` + reference.DomainRegexp.String() + `)$`)
)

// nameErrors checks the name fields of j against the OCI distribution
// grammar. Fields in skip already have an error (a missing value, an HSS
// limit), so each field is reported once, by its first broken rule.
func (j Job) nameErrors(skip map[string]bool) []error {
	var errs []error
	check := func(field, value string, ok func(string) bool, grammar string) {
		if skip[field] || value == "" || ok(value) {
			return
		}
		errs = append(errs, newFieldError(field, RuleGrammar, grammar, value))
	}
	check("namespace", j.Namespace, validNamespace, grammarNamespace)
	check("image_name", j.Image, validImageName, grammarImage)
	check("image_version", j.Tag, validTag, grammarTag)
	check("digest", j.Digest, validDigest, grammarDigest)
	check("registry_host", j.RegistryHost, validHost, grammarHost)
	return errs
}

// Each valid… function asks its fast path first (names_fast.go), which
// accepts only what it can confirm, and the library for the rest.

func validTag(t string) bool { return isTag(t) || anchoredTag.MatchString(t) }

func validHost(h string) bool { return isDomainHost(h) || anchoredHost.MatchString(h) }

// validNamespace reports whether ns is one path component: the SWR
// namespace is the first component of the repository, so a "/" in it
// would move the image into another namespace.
func validNamespace(ns string) bool {
	return isPathComponent(ns) || !strings.Contains(ns, "/") && validPathComponent(ns)
}

// validImageName reports whether every "/"-separated component of image is
// a path component; an empty component ("a//b", "a/") is not.
func validImageName(image string) bool {
	if isImageName(image) {
		return true
	}
	for c := range strings.SplitSeq(image, "/") {
		if !validPathComponent(c) {
			return false
		}
	}
	return true
}

// validPathComponent reports whether c, which holds no "/", is one path
// component of reference's name grammar. Without a "/", WithName cannot
// read any part of c as a registry host, so it checks exactly
// [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*.
func validPathComponent(c string) bool {
	_, err := reference.WithName(c)
	return err == nil
}

// validDigest reports whether d is a digest go-digest accepts: a known
// algorithm and an encoded part of its exact length in lower-case hex.
func validDigest(d string) bool {
	if isSHA256Digest(d) {
		return true
	}
	_, err := digest.Parse(d)
	return err == nil
}
