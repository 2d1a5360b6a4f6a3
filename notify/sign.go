package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
)

// The Standard Webhooks signature
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
//
//	webhook-signature: v1,<base64(HMAC-SHA256(key, id + "." + timestamp + "." + body))>
//
// where key is the secret's bytes (the base64 after "whsec_", decoded),
// id the webhook-id header, timestamp the webhook-timestamp header
// (decimal unix seconds) and body the request body byte for byte.
// Several signatures are separated by spaces: one per secret, so a
// receiver rotating its secret verifies with either.
//
// Written here rather than imported: the Standard Webhooks Go library is
// not among the modules this build may use, and signing is one HMAC and
// one base64 encoding. TestSignSpecVector holds it to the spec's example.

// sign returns the webhook-signature header value for one request.
func sign(keys [][]byte, id string, timestamp int64, body []byte) string {
	ts := strconv.FormatInt(timestamp, 10)
	sigs := make([]string, len(keys))
	for i, k := range keys {
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	return strings.Join(sigs, " ")
}
