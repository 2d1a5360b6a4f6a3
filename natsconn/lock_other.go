//go:build !unix

package natsconn

import "os"

// tryLock does not lock where there is no flock: the bridge targets Linux
// (the Dockerfile's image), and elsewhere a second bridge on one data dir
// is the operator's to avoid.
func tryLock(*os.File) error { return nil }
