package formats

import (
	"bytes"
	"strings"

	"github.com/tidwall/gjson"
)

// This file is the decoders' fast path: the formats that carry most of the
// traffic (harbor and its aliases, distribution, generic, job) read their
// members with gjson instead of encoding/json's reflection, and fall back
// to encoding/json for any body the fast path cannot read exactly as
// encoding/json would. Why gjson, with the figures, is in doc.go.
//
// The contract: when the fast path reads a body, the result is the one
// encoding/json would have given, value for value; for anything else it
// declines, and the decoder runs encoding/json as before, which also
// produces every error (so errors keep their *json.SyntaxError and
// *json.UnmarshalTypeError causes and their words). It declines on:
//   - a body that gjson.Valid refuses, or that may nest deeper than
//     encoding/json's limit of 10,000 (gjson has no limit);
//   - a member key with an escape or a byte outside ASCII, or one that
//     matches a known key only without regard to case: encoding/json
//     unescapes keys and matches struct fields case-insensitively (and
//     folds K and ſ, U+212A and U+017F, to k and s);
//   - a known key given twice: encoding/json merges repeated objects
//     into one value;
//   - a string value with an escape or a byte outside ASCII, which
//     encoding/json unescapes and whose invalid UTF-8 it replaces;
//   - a value of a type the field does not take (encoding/json's
//     *UnmarshalTypeError), and a null where encoding/json would make a
//     zero element.
//
// Real registry bodies take the fast path: TestFastPathReadsEveryFixture
// holds every fixture of those formats to it, and the Fuzz…FastPath tests
// hold the fast path to encoding/json's result on any body.

// maxNesting is encoding/json's limit on nested arrays and objects
// (maxNestingDepth in its scanner): a deeper body is a *SyntaxError there.
const maxNesting = 10000

// fastObject returns the body as a gjson value when the fast path may read
// it: a JSON object that encoding/json accepts too. gjson.Valid agrees
// with json.Valid except on nesting (FuzzValidAgreesWithEncodingJSON), so
// a body with more than maxNesting '{' and '[' bytes anywhere, which is
// more than any registry sends, goes to encoding/json. The body is
// copied once into a string that the strings read from it share.
func fastObject(body []byte) (gjson.Result, bool) {
	if requireJSONObject(body) != nil ||
		bytes.Count(body, []byte{'{'})+bytes.Count(body, []byte{'['}) > maxNesting ||
		!gjson.ValidBytes(body) {
		return gjson.Result{}, false
	}
	return gjson.ParseBytes(body), true
}

// readMembers calls set for each member of obj whose key is keys[i], with
// i and the value, in body order. It reports false, to decline, when obj
// is not an object, when a key could mean a known key to encoding/json
// without being it exactly, when a known key comes twice, or when set
// returns false. Other members are skipped, as encoding/json skips them.
// keys has at most 64 entries.
func readMembers(obj gjson.Result, keys []string, set func(i int, v gjson.Result) bool) bool {
	return walkMembers(obj, keys, false, set)
}

// readKnownMembers is readMembers for the strict formats (generic, job),
// which refuse a body with an unknown member: it declines on one, so that
// encoding/json reads the body and the decoder says what is wrong.
func readKnownMembers(obj gjson.Result, keys []string, set func(i int, v gjson.Result) bool) bool {
	return walkMembers(obj, keys, true, set)
}

func walkMembers(obj gjson.Result, keys []string, strict bool, set func(i int, v gjson.Result) bool) bool {
	if !isObject(obj) {
		return false
	}
	var seen uint64
	ok := true
	obj.ForEach(func(k, v gjson.Result) bool {
		i := keyIndex(k.Raw, keys)
		switch {
		case i == keyUnclear, i == keyUnknown && strict:
			ok = false
		case i == keyUnknown:
		case seen&(1<<i) != 0:
			ok = false
		default:
			seen |= 1 << i
			ok = set(i, v)
		}
		return ok
	})
	return ok
}

const (
	keyUnknown = -1 // a key encoding/json ignores too
	keyUnclear = -2 // a key encoding/json might read as a known one
)

// keyIndex finds a quoted key among keys: its index, keyUnknown, or
// keyUnclear for a key with an escape or a byte outside ASCII, or one
// equal to a known key only without regard to case.
func keyIndex(quoted string, keys []string) int {
	if len(quoted) < 2 {
		return keyUnclear
	}
	k := quoted[1 : len(quoted)-1]
	if !plainASCII(k) {
		return keyUnclear
	}
	for i, known := range keys {
		if k == known {
			return i
		}
	}
	for _, known := range keys {
		if strings.EqualFold(k, known) {
			return keyUnclear
		}
	}
	return keyUnknown
}

// plainASCII reports whether s is printable ASCII without a backslash: a
// JSON string whose raw text is its value.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '\\' {
			return false
		}
	}
	return true
}

// readString stores a JSON string value in *s. null leaves *s as it is,
// as encoding/json does. It reports false for a string that is not plain
// ASCII (see plainASCII) and for any other type.
func readString(v gjson.Result, s *string) bool {
	switch v.Type {
	case gjson.Null:
		return true
	case gjson.String:
		if len(v.Raw) < 2 || !plainASCII(v.Raw[1:len(v.Raw)-1]) {
			return false
		}
		*s = v.Str
		return true
	}
	return false
}

// readEventTime gives an eventTime the raw value, whatever its type, as
// encoding/json gives it to UnmarshalJSON.
func readEventTime(v gjson.Result, t *eventTime) bool {
	t.Time = rawEventTime(v.Raw)
	return true
}

// readArray calls add for each element of arr in order. null is no
// elements, as encoding/json leaves a nil slice; any other type declines.
func readArray(arr gjson.Result, add func(v gjson.Result) bool) bool {
	switch {
	case arr.Type == gjson.Null:
		return true
	case !arr.IsArray():
		return false
	}
	ok := true
	arr.ForEach(func(_, v gjson.Result) bool {
		ok = add(v)
		return ok
	})
	return ok
}

func isObject(v gjson.Result) bool { return v.Type == gjson.JSON && strings.HasPrefix(v.Raw, "{") }

// fastReader is a payload type with a reader for the fast path.
type fastReader interface {
	// readFast fills the zero value it is called on from obj, a JSON
	// object of a body that fastObject accepted, exactly as json.Unmarshal
	// would, and reports true; or it reports false and leaves the value
	// as it was.
	readFast(obj gjson.Result) bool
}
