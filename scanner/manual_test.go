package scanner

import (
	"testing"

	"github.com/scan-bridge/scan-bridge/hssclient"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		name, in, ns, image, tag string
		ok                       bool
	}{
		{"a namespace, an image and a tag", "team/app:1.0", "team", "app", "1.0", true},
		{"a nested image name stays whole", "team/sub/app:v2", "team", "sub/app", "v2", true},
		{"a registry host with a port is not a tag", "registry:5000/team/app", "", "", "", false},
		{"an image without a namespace is refused", "app:1.0", "", "", "", false},
		{"an empty tag is refused", "team/app:", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, image, tag, err := ParseRef(tt.in)
			if (err == nil) != tt.ok || ns != tt.ns || image != tt.image || tag != tt.tag {
				t.Fatalf("ParseRef(%q) = %q %q %q %v", tt.in, ns, image, tag, err)
			}
		})
	}
}

func TestTargetedRequest(t *testing.T) {
	req, err := TargetedRequest(hssclient.InstanceImage, "inst-1", "https://swr.example/team/app:1.0", "team/app:1.0", "team/sub/cli:2")
	if err != nil {
		t.Fatal(err)
	}
	want := []hssclient.ImageInfo{
		{Namespace: "team", ImageName: "app", ImageVersion: "1.0", InstanceID: "inst-1", InstanceURL: "https://swr.example/team/app:1.0"},
		{Namespace: "team", ImageName: "sub/cli", ImageVersion: "2", InstanceID: "inst-1", InstanceURL: "https://swr.example/team/app:1.0"},
	}
	if req.ImageType != hssclient.InstanceImage || req.IsFullScan() || len(req.ImageInfoList) != 2 ||
		req.ImageInfoList[0] != want[0] || req.ImageInfoList[1] != want[1] {
		t.Fatalf("request = %+v", req)
	}
	if _, err := TargetedRequest(hssclient.PrivateImage, "", "", "team/app:1.0", "app"); err == nil {
		t.Fatal("a ref without a tag was accepted")
	}
}
