// Package formats decodes registry webhook bodies into pushes.
//
// One file per sender format; each registers its Decoder in an init
// function, so adding a format touches no shared file. A decoder knows the
// wire format and nothing else: no receivers, no HSS targets, no NATS. It
// turns a body into the tagged pushes it reports (Pushes) and says why it
// passes over everything else (Skipped), so the HTTP answer can tell a
// registry administrator exactly what became of each event.
//
// Decoders must never panic on any input (each has a fuzz test) and must
// return an error only when the body is not that format at all (the caller
// answers 400); a well-formed event that is not a tagged image push is a
// Skip, not an error (the caller answers 200 "ignored", so a sender such as
// distribution, which retries non-2xx answers forever, is not blocked).
// Every such error wraps ErrMalformed and starts with the format's name.
//
// The rules every format shares live once: what is a container image and
// what is not (mediatypes.go), the image reference grammar (refs.go), and
// reading bodies and event times and collecting pushes and skips in body
// order (decode.go). A decoder maps its sender's fields onto them, so a fix
// to a rule reaches every format and every format words a skip the same way.
//
// Decoding is most of what the intake spends on a webhook of its own, so
// the formats that carry the traffic (harbor and its aliases,
// distribution, generic, job) have a fast path that reads their members
// without reflection and hands every body it cannot read exactly as
// encoding/json would to encoding/json (fastpath.go says when). The
// library was chosen by benchmark: decoding Harbor's documented 468-byte
// push into the harbor structs, CPU ns and allocations per body (go1.26,
// this project's 2-core machine under other builds, so medians of 5
// interleaved runs of CPU time rather than wall time):
//
//	encoding/json (reflection)                8,150  20
//	  its json.Valid alone                    1,730   0
//	goccy/go-json v0.12.0                     2,340  13
//	bytedance/sonic v1.15.5                   2,610   6
//	json-iterator/go v1.1.12 (std-compatible) 1,830  14
//	mailru/easyjson v0.9.2 (generated)        1,680  11  + json.Valid
//	buger/jsonparser v1.6.1                   2,810  12  + json.Valid
//	valyala/fastjson v1.6.10                  2,690  13  + its Validate
//	tidwall/gjson v1.20.4, its Valid included 3,130   5
//
// Every fast library is 3 to 5 times cheaper than reflection; what decided
// among them is exactness. The decoders must accept exactly the bodies
// encoding/json accepts and read the same values: easyjson, jsonparser and
// fastjson's parser skip or accept malformed members (easyjson and
// jsonparser check no member they do not read, fastjson takes bad
// escapes), so each needs json.Valid first; sonic takes raw control
// characters and bad escapes in members it skips and keeps invalid UTF-8
// as it is; goccy and json-iterator re-implement encoding/json's rules
// (key case, Unicode folding, invalid UTF-8, merging repeated keys)
// inside, goccy through the runtime's internals, so whether they match is
// only as good as a fuzz test of them. With gjson, exactness does not rest
// on the library: its Valid agrees with json.Valid
// (FuzzValidAgreesWithEncodingJSON; only its unbounded nesting needed a
// guard), and the fast path only walks members with it, reads a value only
// where the answer cannot differ from encoding/json's and declines
// everywhere else. It also reads every string of a body from one copy of
// it, the fewest allocations here. With the fast path, and the shared
// result rules building refs and duplicate keys only when they are needed,
// a Harbor push decodes in 6 allocations instead of 29, distribution in 5
// instead of 22, generic in 6 instead of 42 and job in 5 instead of 46
// (BenchmarkDecode*).
//
// Imports: the standard library and github.com/tidwall/gjson, for the
// fast path. It must not import any other package of this module,
// scanjob included: handlers turns a Push into a scanjob.Job, and keeping
// this package a leaf lets the HTTP route, the NATS intake and the tests
// decode with nothing else wired up (TestImportsWhatDocGoAllows enforces
// it).
package formats
