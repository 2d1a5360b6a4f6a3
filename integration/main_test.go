package integration

import (
	"flag"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// testcontainers-go reads its configuration once, on first use, so these
	// are set before any test starts a container.
	//
	// Ryuk, the reaper container that removes leftovers when a test process
	// dies, is an image that cannot be pulled here. Without it a killed test
	// run can leave containers behind (labelled org.testcontainers=true);
	// normal runs remove each container in t.Cleanup.
	setDefaultEnv("TESTCONTAINERS_RYUK_DISABLED", "true")
	// testcontainers-go believes it runs inside a container when /.dockerenv
	// exists (it does on these machines) and then dials published ports on
	// the default gateway, an address off this machine. The engine is local:
	// its published ports are on the loopback. This holds whatever
	// DOCKER_HOST says: testcontainers falls back to the local socket when
	// DOCKER_HOST does not answer (a tcp:// value made it dial the gateway),
	// and these tests may send traffic to the loopback only, so an engine
	// elsewhere must fail to connect rather than be reached.
	setDefaultEnv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	os.Exit(m.Run())
}

// setDefaultEnv sets key to value unless the caller's environment already
// chose a value.
func setDefaultEnv(key, value string) {
	if _, ok := os.LookupEnv(key); !ok {
		os.Setenv(key, value)
	}
}
