// Package bridgeproc runs the real bridge binary for the suites that test
// it from outside, as a process (faults/ and security/): it builds the
// binary, reads a process's memory from /proc, and edits the config map a
// suite writes. The suites keep their own process handling and figures;
// this holds only what both did the same way.
//
// It must not import any other package of this module: the suites reach
// the bridge as an operator does, through its binary.
package bridgeproc
