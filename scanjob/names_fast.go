package scanjob

// This file is the name rules' fast path. The grammar stays the library's
// (names.go): distribution/reference and go-digest check a name with
// regular expressions, and the intake checks five names per job, which
// cost more than the rest of a job's validation together. Almost every
// name a registry reports has a plain shape that a byte loop can confirm
// against the same grammar, so each check below accepts what it can
// confirm and answers "don't know" for everything else, including every
// invalid name: the library then decides, and its answer is the only one
// that ever refuses a name. So the fast path can only be wrong by
// accepting a name the library refuses, which FuzzNameFastPaths checks
// against the library for each of them.

// isPathComponent reports whether c certainly is one path component of
// reference's name grammar, [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*, no
// longer than the 255 bytes WithName allows a whole name. "/" is not part
// of the grammar, so a namespace it accepts holds none.
func isPathComponent(c string) bool {
	n := len(c)
	if n == 0 || n > 255 || !isLowerAlnum(c[0]) || !isLowerAlnum(c[n-1]) {
		return false
	}
	for i := 1; i < n; {
		switch c[i] {
		case '.':
			i++
		case '_':
			i++
			if c[i] == '_' { // c[n-1] is alphanumeric, so i < n here
				i++
			}
		case '-':
			for c[i] == '-' {
				i++
			}
		default:
			if !isLowerAlnum(c[i]) {
				return false
			}
			i++
			continue
		}
		if !isLowerAlnum(c[i]) { // a separator is followed by an alphanumeric
			return false
		}
	}
	return true
}

// isImageName reports whether every "/"-separated component of image
// certainly is a path component.
func isImageName(image string) bool {
	start := 0
	for i := 0; i <= len(image); i++ {
		if i == len(image) || image[i] == '/' {
			if !isPathComponent(image[start:i]) {
				return false
			}
			start = i + 1
		}
	}
	return true
}

// isTag reports whether t certainly matches reference's tag grammar,
// [\w][\w.-]{0,127} (\w is ASCII: letters, digits and _).
func isTag(t string) bool {
	if len(t) == 0 || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !isWord(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// isSHA256Digest reports whether d certainly is a digest go-digest
// accepts: "sha256:" and 64 lower-case hex digits, what registries send.
// Other algorithms are left to go-digest.
func isSHA256Digest(d string) bool {
	const prefix = "sha256:"
	if len(d) != len(prefix)+64 || d[:len(prefix)] != prefix {
		return false
	}
	for i := len(prefix); i < len(d); i++ {
		if c := d[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isDomainHost reports whether h certainly matches reference's
// DomainRegexp as a host name or IPv4 address with an optional port:
// labels of letters and digits with "-" inside, joined by ".", then
// optionally ":" and digits. Bracketed IPv6 addresses are left to the
// regular expression.
func isDomainHost(h string) bool {
	host, port := h, ""
	for i := 0; i < len(h); i++ {
		if h[i] == ':' {
			host, port = h[:i], h[i+1:]
			if port == "" {
				return false
			}
			break
		}
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	start := 0
	for i := 0; i <= len(host); i++ {
		if i < len(host) && host[i] != '.' {
			if c := host[i]; !isAlnum(c) && c != '-' {
				return false
			}
			continue
		}
		label := host[start:i]
		if label == "" || !isAlnum(label[0]) || !isAlnum(label[len(label)-1]) {
			return false
		}
		start = i + 1
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isAlnum(c byte) bool      { return isLowerAlnum(c) || c >= 'A' && c <= 'Z' }
func isWord(c byte) bool       { return isAlnum(c) || c == '_' }
