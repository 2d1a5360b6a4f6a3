// Package scanjob defines the scan job: the one value that travels from a
// registry webhook, through the JetStream queue, to an HSS batch-scan item.
//
// It sits below handlers and queue so both can import it without a cycle
// (handlers → queue → scanjob, handlers → scanjob); it is the contract
// between them.
//
// Field limits are the HSS ones from the BatchScanSwrImageInfo table of the
// API reference (namespace 1-64, image_name 1-128, image_version 1-128,
// instance_id 1-128, instance_url 0-256), so a job that would be refused by
// HSS is refused at the door instead, where the sender can still be told.
//
// Names follow the OCI distribution grammar on top of those limits
// (names.go): the namespace is one path component and the image name one
// or more, lower-case letters and digits joined by ".", "_", "__" or runs
// of "-"; the tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; a digest is
// algorithm:hex of the algorithm's length; a registry host is a host name,
// IPv4 or [IPv6] address with an optional port. Registries enforce that
// grammar on push, so the names a registry reports pass, and it keeps
// control characters, spaces, NATS wildcards, bidi marks and invalid UTF-8
// out of the queue, the logs and HSS. Every path to the queue validates
// (the HTTP route, the NATS intake and `bridge route` after routing; the
// consumer again on delivery), so the rule lives here once. A plainly
// valid job, the kind registries send, is confirmed by byte loops instead
// of the validator's reflection and the grammar's regular expressions
// (names_fast.go, plainlyValid in validate.go); every other job, and every
// refusal, still goes through the libraries.
//
// Imports: the standard library, go-playground/validator for the limits,
// and github.com/distribution/reference and
// github.com/opencontainers/go-digest for the grammar (the library
// registries use, rather than a copy that could drift). It must not import
// any other package of this module.
package scanjob
