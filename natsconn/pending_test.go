package natsconn

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestAWatchOfABigBucketKeepsTheConnection: a watch of a bucket twice the
// 32 MiB a JetStream flow-controlled watch may have in flight, read by a
// handler slower than the server sends, is served whole on one connection:
// flow control, not the server's slow-consumer cut (embedded.go,
// MaxPending), paces it. The scanner's record index
// (scanner/watch_index.go) reads the lifecycle bucket this way at start;
// with MaxPending at 16 MiB this test saw the connection cut.
func TestAWatchOfABigBucketKeepsTheConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a 64 MiB bucket")
	}
	e := startEmbedded(t, Config{DataDir: t.TempDir()}, nil)
	var disconnects atomic.Int32
	nc, err := Connect(Config{}, e, slog.New(slog.DiscardHandler),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				disconnects.Add(1)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "big"})
	if err != nil {
		t.Fatal(err)
	}
	const keys, size = 16 << 10, 4 << 10 // 64 MiB
	value := []byte(strings.Repeat("v", size))
	for i := range keys {
		if _, err := kv.PutString(ctx, fmt.Sprintf("k%05d", i), string(value)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	got := 0
	deadline := time.After(2 * time.Minute)
	for got < keys {
		select {
		case u := <-w.Updates():
			if u == nil {
				continue // the end of the initial values
			}
			got++
			if got%512 == 0 {
				time.Sleep(5 * time.Millisecond) // a reader slower than the server
			}
		case <-deadline:
			t.Fatalf("watch delivered %d of %d values in 2 minutes", got, keys)
		}
	}
	if n := disconnects.Load(); n != 0 {
		t.Errorf("the connection was cut %d times while the watch was read (slow consumer)", n)
	}
}
