package main

import (
	"bufio"
	"net/http"
	"runtime"
	"testing"
)

func TestVersion(t *testing.T) {
	out, err := runCLI(t, "", "version")
	if err != nil {
		t.Fatal(err)
	}
	b := currentBuild()
	want := "version: " + b.Version + "\ncommit:  " + b.Commit + "\ngo:      " + runtime.Version() + "\n"
	if out != want || b.Commit == "" {
		t.Fatalf("out = %q, want %q", out, want)
	}
}

func TestBuildInfoMetric(t *testing.T) {
	e := newE2E(t)
	resp, err := http.Get("http://" + e.app.adminLn.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := currentBuild()
	want := `scanbridge_build_info{commit="` + b.Commit + `",goversion="` + b.GoVersion + `",version="` + b.Version + `"} 1`
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == want {
			return
		}
	}
	t.Fatalf("/metrics has no line %s", want)
}
