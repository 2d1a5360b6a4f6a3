package natsconn

import "testing"

func TestClientURL(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		flag    string
		want    string
		wantErr bool
	}{
		{"the flag wins", Config{URL: "nats://a:4222", Listen: "127.0.0.1:4222"}, "nats://b:4222", "nats://b:4222", false},
		{"nats.url is the bridge's NATS", Config{URL: "nats://a:4222", Listen: "127.0.0.1:4222"}, "", "nats://a:4222", false},
		{"without a url, the embedded server's listen address", Config{Listen: "127.0.0.1:4333"}, "", "nats://127.0.0.1:4333", false},
		{"an embedded server that does not listen cannot be reached", Config{DataDir: "data/nats"}, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.clientURL(tt.flag)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("clientURL = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestRedactHidesPasswords(t *testing.T) {
	got := redact("nats://bridge:s3cret@a:4222,nats://b:4222")
	if got != "nats://bridge:xxxxx@a:4222,nats://b:4222" {
		t.Fatalf("redact = %q", got)
	}
}
