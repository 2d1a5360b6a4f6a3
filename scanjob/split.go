package scanjob

import "strings"

// SplitRepository maps a registry repository path to the SWR namespace
// (the first path segment) and image name (the rest), as HSS names them.
// A repository with one segment has no namespace; the caller decides what
// that means (Docker Hub's "library" images, for instance).
func SplitRepository(repo string) (namespace, image string) {
	repo = strings.Trim(repo, "/")
	ns, rest, ok := strings.Cut(repo, "/")
	if !ok {
		return "", repo
	}
	return ns, rest
}
