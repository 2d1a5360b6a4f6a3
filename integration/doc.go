// Package integration holds the end-to-end tests that run scan-bridge's
// real neighbours as containers through testcontainers-go: a NATS server
// with JetStream, a CNCF distribution registry that sends its push
// notifications, and the bridge's own image built from the repository's
// Dockerfile. On top of those: the whole path from a registry push to the
// fake HSS (TestRegistryToHSS); a three-server NATS cluster with two bridge
// replicas under load while the stream leader and a replica fail
// (TestClusterFailover); an image's lifecycle from push to result event
// with the presence check, two replicas and the watch lease holder killed
// (TestImageLifecycleTwoReplicas, bridges as host processes built from
// the tree); a registry polled by a `registry` source with its
// notifications off (TestSourceRegistryToHSS), a sweep that finds the
// notifications a registry restart lost (TestSweepFindsLostNotifications)
// and what a round costs the registry (TestSourceRegistryCalls), see
// docs/sources.md; and the deployment examples under deploy/, run with Compose
// (TestComposeUp) and checked offline (TestComposeFile,
// TestKubernetesManifests). See docs/deployment.md.
//
// Why: the unit tests of handlers, queue and hssclient use fakes. Only here
// do the wire contracts meet the real programs: the envelopes a registry
// really sends (headers, one event per request, delete events without a
// media type), JetStream's deduplication and file store across a restart,
// and an image that must start as an unprivileged user on an empty base.
//
// The package is tests only: every helper lives in a _test.go file and
// nothing may import it. Of this module it imports only hssclient/hsstest,
// the fake HSS, which stands for the outside world: it drives the bridge
// from outside, through its image, HTTP and NATS, as a registry and an
// operator do. Every container a test runs is on the loopback or on a
// Docker network of the test's own: bridges run on the host network and
// reach NATS through ports published on 127.0.0.1 and the fake HSS on
// 127.0.0.1.
//
// The machines this project runs on cannot pull images, so the helpers build
// every image they need from Go modules when its tag is missing or stale:
// nats-server (at the version go.mod requires) into scan-bridge/nats:local
// and distribution's registry (distributionVersion) into
// scan-bridge/registry:local, each one static binary on scratch; the bridge
// image through scripts/build-image.sh. See docs/docker.md.
//
// Environment:
//
//	CI=true, SCANBRIDGE_REQUIRE_DOCKER=1  fail, not skip, when no Docker engine (or no Compose) answers
//	SCANBRIDGE_NATS_IMAGE                 use this NATS image (e.g. nats:2.12) instead of building one
//	SCANBRIDGE_REGISTRY_IMAGE             use this registry image (e.g. registry:3) instead
//	SCANBRIDGE_BRIDGE_IMAGE               use this bridge image instead of building one
//
// Flags: -short skips the bridge image test (its image is rebuilt for every
// change of the tree); -update rewrites the captured registry notifications
// under testdata/.
//
// TestMain sets TESTCONTAINERS_RYUK_DISABLED=true (the reaper image cannot be
// pulled; every test removes its containers with t.Cleanup instead) and, for
// a local engine, TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1, unless they are
// set already.
package integration
