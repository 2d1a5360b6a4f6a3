// Package archtest enforces the import rules that each package's doc.go
// states ("It must not import hssclient or cmd/bridge"), so that they
// cannot rot: a forbidden import, direct or through another package of
// the module, fails go test, and so does a rule that a doc.go states and
// the table in rules_test.go lacks, or the other way round.
//
// Why a test and not a linter config: the rules are part of each
// package's design and are written down where a reader looks for them,
// in its doc.go. The test reads the same sentences, so doc and check
// cannot disagree. It asks the go command (go list) for the import graph,
// so it needs no dependency beyond the standard library.
//
// To add a rule, state it in the package's doc.go and add one line to
// rules in rules_test.go.
//
// The package holds tests only; this file is its one non-test file. It
// must not import any other package of this module: it reads them through
// go list, as a reviewer would.
package archtest
