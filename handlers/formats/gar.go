package formats

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Google Artifact Registry and Container Registry notifications, delivered
// by a Pub/Sub push subscription on the "gcr" topic.
// https://cloud.google.com/artifact-registry/docs/configure-notifications
// https://cloud.google.com/pubsub/docs/push
//
// The HTTP body is the push envelope
// {"message":{"data":<base64>,"messageId","publishTime","attributes"},"subscription"}
// (or, with "payload unwrapping" on, the bare message). The message is
// {"action":"INSERT"|"DELETE","digest":"<host>/<path>@sha256:…","tag":"<host>/<path>:<tag>"}.
// INSERT with a tag is a push; INSERT without one is a push by digest;
// DELETE is skipped.
//
// Namespace mapping: Push.Repository is the whole path after the host, so
// for Artifact Registry (<region>-docker.pkg.dev/<project>/<repository>/<image>)
// the SWR namespace becomes the GCP project and the image name
// "<repository>/<image>"; for gcr.io/<project>/<image> the namespace is the
// project too. The project is the one level both hosts share, and project
// ids (6-30 characters) fit the 64-character namespace limit.
//
// Pub/Sub push can attach an OIDC token (Authorization: Bearer <JWT>,
// issuer https://accounts.google.com, audience as configured, email of the
// push service account); verifying it is the receiver's job.

func init() { register("gar", decodeGAR) }

type pubsubEnvelope struct {
	Message *struct {
		Data         []byte `json:"data"` // base64 in JSON; encoding/json decodes it
		MessageID    string `json:"messageId"`
		MessageID2   string `json:"message_id"`
		PublishTime  string `json:"publishTime"`
		PublishTime2 string `json:"publish_time"`
	} `json:"message"`
	Subscription string `json:"subscription"`
}

type garNotification struct {
	Action *string `json:"action"`
	Digest string  `json:"digest"`
	Tag    string  `json:"tag"`
}

func decodeGAR(body []byte, header http.Header) (Result, error) {
	var env pubsubEnvelope
	if err := decodeObject(body, &env); err != nil {
		return Result{}, err
	}
	var data []byte
	var eventID, published string
	if env.Message != nil {
		data = env.Message.Data
		eventID = cmp.Or(env.Message.MessageID, env.Message.MessageID2)
		published = cmp.Or(env.Message.PublishTime, env.Message.PublishTime2)
	} else {
		// Unwrapped delivery: the body is the message and Pub/Sub metadata,
		// if enabled, is in headers.
		data = body
		eventID = header.Get("X-Goog-Pubsub-Message-Id")
		published = header.Get("X-Goog-Pubsub-Publish-Time")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Result{}, errors.New("pub/sub message has no data")
	}
	var n garNotification
	if err := json.Unmarshal(data, &n); err != nil {
		return Result{}, fmt.Errorf("decode message data: %w", err)
	}
	if n.Action == nil {
		return Result{}, errors.New("message data has no action")
	}

	tagRef, tagOK := parseRef(n.Tag)
	digestRef, digestOK := parseRef(n.Digest)
	var b resultBuilder
	ref := cmp.Or(n.Tag, n.Digest)
	switch strings.ToUpper(*n.Action) {
	case "INSERT":
	case "DELETE":
		b.skip(ref, reasonDelete)
		return b.result(), nil
	default:
		b.skip(ref, fmt.Sprintf("gar %s event, not a push", Clip(*n.Action, 64)))
		return b.result(), nil
	}
	p := Push{EventID: eventID, PushedAt: parseTime(published)}
	switch {
	case tagOK && tagRef.Host != "" && tagRef.Tag != "":
		p.Host, p.Repository, p.Tag = tagRef.Host, tagRef.Repository, tagRef.Tag
	case n.Tag != "" && !strings.ContainsAny(n.Tag, "/@") && digestOK:
		// A bare tag with the image named by the digest reference.
		p.Host, p.Repository, p.Tag = digestRef.Host, digestRef.Repository, n.Tag
	case digestOK:
		p.Host, p.Repository = digestRef.Host, digestRef.Repository
	case n.Tag != "" || n.Digest != "":
		return Result{}, fmt.Errorf("cannot read an image reference from tag %q / digest %q", Clip(n.Tag, 100), Clip(n.Digest, 100))
	}
	if digestOK && digestRef.Repository == p.Repository {
		p.Digest = digestRef.Digest
	}
	b.add(candidate{Push: p})
	return b.result(), nil
}
