package scanjob

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzAppendJSON: AppendJSON writes what json.Marshal writes, byte for
// byte, for any job, and fails where it fails.
func FuzzAppendJSON(f *testing.F) {
	f.Add("harbor-prod", "team", "tools/cli", "v1.0", digest256, "registry.example.com:5000", "", "private_image", "<&>", int64(1700000000), int64(5), 0, "")
	f.Add("r", "a", "b", "1", "", "", "i-1", "instance_image", "", int64(0), int64(0), 3600, "push")
	f.Add("é\u2028", "a\"b", "b\\c", "\x00\x1f", "\xff", "\t\n\r\b\f", "", "", "x", int64(-62135596800), int64(0), -1800, "\xff<")
	f.Add("r", "a", "b", "1", "", "", "", "", "", int64(253402300800), int64(999999999), 0, "sweep")
	f.Add("r", "a", "b", "1", "", "", "", "", "", int64(0), int64(0), 0, "redrive\u003c")
	f.Fuzz(func(t *testing.T, receiver, ns, image, tag, dgst, host, instanceID, imageType, free string, sec, nsec int64, offset int, lane string) {
		j := Job{
			Receiver: receiver, Registry: free, RegistryHost: host, Namespace: ns, Image: image, Tag: tag, Digest: dgst,
			InstanceID: instanceID, InstanceURL: free, EventID: strings.ToUpper(free), RequestID: strings.ToLower(free),
			Target: Target{Region: free, ProjectID: receiver, EnterpriseProjectID: host, ImageType: ImageType(imageType)},
			Lane:   Lane(lane),
		}
		if sec != 0 || nsec != 0 {
			j.PushedAt = time.Unix(sec, nsec).In(time.FixedZone("z", offset%86400))
			j.AcceptedAt = time.Unix(sec/2, 0).UTC()
		}
		want, wantErr := json.Marshal(j)
		prefix := []byte("kept")
		got, err := j.AppendJSON(prefix)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("AppendJSON error %v, json.Marshal %v", err, wantErr)
		}
		if !bytes.HasPrefix(got, prefix) {
			t.Fatalf("AppendJSON lost the prefix: %q", got)
		}
		if err == nil && !bytes.Equal(got[len(prefix):], want) {
			t.Fatalf("AppendJSON\n%s\njson.Marshal\n%s", got[len(prefix):], want)
		}
	})
}

// BenchmarkAppendJSON is the encoding of one job as the queue stores it.
func BenchmarkAppendJSON(b *testing.B) {
	j := validJob()
	j.Digest, j.RegistryHost, j.EventID = digest256, "harbor.example.com:8443", "6f0c6a1e-7b1c-4b6e-9a53-5a1c1c1f6e01"
	j.RequestID = "b3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	j.PushedAt, j.AcceptedAt = time.Unix(1700000000, 0).UTC(), time.Unix(1700000001, 123456789).UTC()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = j.AppendJSON(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
