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
// Imports: the standard library only. It must not import any other package
// of this module, scanjob included: handlers turns a Push into a
// scanjob.Job, and keeping this package a leaf lets the HTTP route, the
// NATS intake and the tests decode with nothing else wired up
// (TestImportsOnlyTheStandardLibrary enforces it).
package formats
