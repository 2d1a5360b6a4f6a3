package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/handlers/formats"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// These tests run every registry format through one running bridge
// (embedded NATS, batching consumer, strict fake HSS), each with the
// published payloads of handlers/formats/testdata/<format>/ and the
// credentials that registry's sender can present. Each format gets its own
// HSS project, so the items at the fake HSS can be told apart per format.
// The second test keeps the receiver examples of docs/registries/ valid.

// fixturesDir is handlers/formats/testdata seen from this package.
var fixturesDir = filepath.Join("..", "..", "handlers", "formats", "testdata")

// sender is how a registry proves itself on every request, and the
// credentials that must not pass for it.
type sender interface {
	// auth is the receiver configuration that checks this sender.
	auth() handlers.AuthConfig
	// sign adds the sender's credentials for body to h and returns what
	// it appends to the receiver's path ("" or "/<token>").
	sign(h http.Header, body []byte) string
	// forgeries are credentials the receiver must refuse.
	forgeries() []forgery
}

// forgery is a wrong credential, named by what is wrong with it.
type forgery struct {
	what string
	sign func(h http.Header, body []byte) string
}

// headerToken is a static secret in a header (Harbor's Auth Header, custom
// headers, X-JFrog-Event-Auth, an API-key connection).
type headerToken struct{ header, prefix, secret string }

func (s headerToken) auth() handlers.AuthConfig {
	return handlers.AuthConfig{Method: handlers.AuthToken, Header: s.header, Prefix: s.prefix, Secrets: []string{s.secret}}
}

func (s headerToken) sign(h http.Header, _ []byte) string {
	h.Set(s.header, s.prefix+s.secret)
	return ""
}

func (s headerToken) forgeries() []forgery {
	f := []forgery{{"the wrong secret", func(h http.Header, _ []byte) string {
		h.Set(s.header, s.prefix+"not-"+s.secret)
		return ""
	}}}
	if s.prefix != "" {
		f = append(f, forgery{"the secret without its prefix", func(h http.Header, _ []byte) string {
			h.Set(s.header, s.secret)
			return ""
		}})
	}
	return f
}

// bodyHMAC is a hex HMAC of the raw body (GitHub, Nexus, generic senders).
type bodyHMAC struct{ header, prefix, algorithm, secret string }

func (s bodyHMAC) auth() handlers.AuthConfig {
	return handlers.AuthConfig{Method: handlers.AuthHMAC, Header: s.header, Prefix: s.prefix,
		Algorithm: s.algorithm, Encoding: "hex", Secrets: []string{s.secret}}
}

func (s bodyHMAC) mac(key string, body []byte) string {
	newHash := map[string]func() hash.Hash{"sha256": sha256.New, "sha1": sha1.New}[s.algorithm]
	m := hmac.New(newHash, []byte(key))
	m.Write(body)
	return s.prefix + hex.EncodeToString(m.Sum(nil))
}

func (s bodyHMAC) sign(h http.Header, body []byte) string {
	h.Set(s.header, s.mac(s.secret, body))
	return ""
}

func (s bodyHMAC) forgeries() []forgery {
	return []forgery{
		{"a signature under another key", func(h http.Header, body []byte) string {
			h.Set(s.header, s.mac("not-"+s.secret, body))
			return ""
		}},
		{"the signature of another body", func(h http.Header, body []byte) string {
			h.Set(s.header, s.mac(s.secret, append([]byte(" "), body...)))
			return ""
		}},
	}
}

// pathToken is a secret as the last path segment, for senders that can
// neither sign nor add a header (Docker Hub, Quay, Alibaba ACR).
type pathToken struct{ secret string }

func (s pathToken) auth() handlers.AuthConfig {
	return handlers.AuthConfig{Method: handlers.AuthPathToken, Secrets: []string{s.secret}}
}

func (s pathToken) sign(http.Header, []byte) string { return "/" + s.secret }

func (s pathToken) forgeries() []forgery {
	return []forgery{
		{"another token in the path", func(http.Header, []byte) string { return "/" + strings.ToUpper(s.secret) }},
		{"the token in a header instead of the path", func(h http.Header, _ []byte) string {
			h.Set("Authorization", s.secret)
			return ""
		}},
	}
}

// oidcToken is the OIDC JWT a Pub/Sub push subscription sends in
// Authorization, signed here with an RSA key whose public half the
// receiver reads from a JWKS file.
type oidcToken struct {
	key, otherKey   *rsa.PrivateKey
	jwksFile        string
	audience, email string
	now             func() time.Time
}

const oidcKeyID = "e2e-key-1"

func (s oidcToken) auth() handlers.AuthConfig {
	return handlers.AuthConfig{Method: handlers.AuthJWT, JWKSFile: s.jwksFile, Audience: s.audience, Email: s.email}
}

// token is an RS256 JWT with Google's ID token claims.
func (s oidcToken) token(key *rsa.PrivateKey, audience string, exp time.Time) string {
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := s.now()
	signing := enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": oidcKeyID}) + "." + enc(map[string]any{
		"iss": "https://accounts.google.com", "aud": audience, "sub": "109876543210",
		"email": s.email, "email_verified": true, "iat": now.Unix(), "exp": exp.Unix(),
	})
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		panic(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (s oidcToken) sign(h http.Header, _ []byte) string {
	h.Set("Authorization", "Bearer "+s.token(s.key, s.audience, s.now().Add(time.Hour)))
	return ""
}

func (s oidcToken) forgeries() []forgery {
	bearer := func(tok string) func(http.Header, []byte) string {
		return func(h http.Header, _ []byte) string {
			h.Set("Authorization", "Bearer "+tok)
			return ""
		}
	}
	return []forgery{
		{"a token signed by another key under the same key id", bearer(s.token(s.otherKey, s.audience, s.now().Add(time.Hour)))},
		{"a token for another audience", bearer(s.token(s.key, "someone-else", s.now().Add(time.Hour)))},
		{"an expired token", bearer(s.token(s.key, s.audience, s.now().Add(-time.Hour)))},
	}
}

// newOIDCToken makes the signing keys (2048 bits, the least the receiver
// accepts) and writes the JWKS file the receiver trusts.
func newOIDCToken(t *testing.T) oidcToken {
	t.Helper()
	keys := make([]*rsa.PrivateKey, 2)
	errs := make(chan error, len(keys))
	for i := range keys {
		go func() {
			var err error
			keys[i], err = rsa.GenerateKey(rand.Reader, 2048)
			errs <- err
		}()
	}
	for range keys {
		if err := <-errs; err != nil {
			t.Fatalf("generate key: %v", err)
		}
	}
	pub := keys[0].PublicKey
	set, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": oidcKeyID, "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, set, 0o600); err != nil {
		t.Fatal(err)
	}
	return oidcToken{key: keys[0], otherKey: keys[1], jwksFile: path, audience: "scan-bridge-e2e",
		email: "scan-bridge-push@my-project.iam.gserviceaccount.com", now: time.Now}
}

// secretFor is the secret of a format's receiver: 64 characters, enough
// for path-token's minimum of 32.
func secretFor(format string) string {
	sum := sha256.Sum256([]byte("e2e secret of " + format))
	return hex.EncodeToString(sum[:])
}

func tokenIn(header, prefix, format string) headerToken {
	return headerToken{header: header, prefix: prefix, secret: secretFor(format)}
}

// fixturePost is one request a sender makes.
type fixturePost struct {
	// file is under testdata/<format>/ ("../other/x.json" reads another
	// format's fixture).
	file string
	// header holds what the sender adds besides credentials (event type
	// headers, CloudEvents attributes, content type).
	header http.Header
	// edit derives a variant the fixtures do not hold (say why in the
	// case); nil sends the fixture as published.
	edit func(testing.TB, []byte) []byte
	// want lists the job of each pushed tag as "namespace/image:tag", in
	// body order.
	want []string
}

// formatCase is one format: how its sender authenticates, how the
// receiver is set up, and what each fixture must give.
type formatCase struct {
	name   string
	format string
	cred   sender
	// receiver adjusts the receiver config (default_namespace for
	// registries whose repositories have one path segment, SWR
	// Enterprise's instance).
	receiver func(*handlers.ReceiverConfig)
	pushes   []fixturePost
	ignored  []fixturePost // 200 ignored
	refused  []fixturePost // 400, nothing stored
	// handshake is a body the sender needs answered with reply (200).
	handshake *fixturePost
	reply     string
	// instanceURL is the instance_url every HSS item of an instance_image
	// receiver must carry, per "namespace/image:tag".
	instanceURL map[string]string
}

// replaceOnce derives a body by replacing old, which must occur exactly
// once (so a changed fixture fails loudly instead of testing nothing).
func replaceOnce(old, repl string) func(testing.TB, []byte) []byte {
	return func(tb testing.TB, b []byte) []byte {
		tb.Helper()
		if n := bytes.Count(b, []byte(old)); n != 1 {
			tb.Fatalf("fixture holds %q %d times, want once", old, n)
		}
		return bytes.Replace(b, []byte(old), []byte(repl), 1)
	}
}

// cosignTag is the tag cosign pushes a signature under, which registries
// report like any other pushed tag.
const cosignTag = "sha256-457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917.sig"

const (
	swrInstanceID = "0a1b2c3d4e5f"
	// eventGridValidation is the reply to subscription-validation.json.
	eventGridValidation = `{"validationResponse":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}`
)

func withDefaultNamespace(ns string) func(*handlers.ReceiverConfig) {
	return func(r *handlers.ReceiverConfig) { r.DefaultNamespace = ns }
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

var ceStructured = hdr("Content-Type", "application/cloudevents+json")

// formatCases is one case per registered format; the expectations are the
// ones each fixture README states.
func formatCases(oidc oidcToken) []formatCase {
	return []formatCase{
		{
			name: "acr webhook with a custom Authorization header", format: "acr", cred: tokenIn("Authorization", "Bearer ", "acr"),
			receiver: withDefaultNamespace("azure"),
			pushes:   []fixturePost{{file: "push.json", want: []string{"azure/hello-world:v1"}}},
			ignored:  []fixturePost{{file: "delete.json"}, {file: "chart_push.json"}},
		},
		{
			name: "acr through event grid with a delivery header", format: "acr-eventgrid", cred: tokenIn("Authorization", "Bearer ", "acr-eventgrid"),
			receiver: withDefaultNamespace("azure"),
			pushes: []fixturePost{
				{file: "imagepushed-eventgrid-schema.json", want: []string{"azure/aci-helloworld:v1"}},
				{file: "imagepushed-cloudevents-schema.json", want: []string{"azure/aci-helloworld:v1"}},
			},
			ignored:   []fixturePost{{file: "imagedeleted-cloudevents-schema.json"}},
			handshake: &fixturePost{file: "subscription-validation.json"}, reply: eventGridValidation,
		},
		{
			// A trigger has only a URL to carry a secret. Triggers fire only
			// on pushes: the ignored body is the push fixture with a cosign
			// signature tag, as `cosign sign` pushes.
			name: "alibaba acr trigger with its token in the url", format: "aliyun-acr", cred: pathToken{secretFor("aliyun-acr")},
			// The published sample names the repository "repoTest"; no
			// registry accepts an upper-case name on push.
			pushes: []fixturePost{{file: "push.json", want: []string{"namespace/repotest:latest"},
				edit: replaceOnce(`"repo_full_name": "namespace/repoTest"`, `"repo_full_name": "namespace/repotest"`)}},
			ignored: []fixturePost{{file: "push.json", edit: replaceOnce(`"tag": "latest"`, `"tag": "`+cosignTag+`"`)}},
		},
		{
			name: "artifactory webhook with its secret token in X-JFrog-Event-Auth", format: "artifactory",
			cred:    tokenIn("X-JFrog-Event-Auth", "", "artifactory"),
			pushes:  []fixturePost{{file: "pushed.json", want: []string{"docker-remote-cache/library/ubuntu:latest"}}},
			ignored: []fixturePost{{file: "deleted.json"}},
		},
		{
			name: "cloudevents relay with a bearer token", format: "cloudevents", cred: tokenIn("Authorization", "Bearer ", "cloudevents"),
			receiver: withDefaultNamespace("events"),
			pushes: []fixturePost{
				{file: "structured-harbor-pushed.json", header: ceStructured, want: []string{"ocean-integration/redis:v1"}},
				{file: "structured-acr-imagepushed.json", header: ceStructured, want: []string{"events/aci-helloworld:v1"}},
				{file: "structured-generic.json", header: ceStructured, want: []string{"team/api:1.4.2"}},
			},
			ignored: []fixturePost{
				{file: "binary-distribution-envelope.json", header: hdr("Content-Type", "application/json", "Ce-Specversion", "1.0",
					"Ce-Id", "ce-1", "Ce-Source", "/registry", "Ce-Type", "org.distribution.notification")},
				{file: "structured-spec-example.json", header: ceStructured},
			},
		},
		{
			name: "distribution registry with an endpoint Authorization header", format: "distribution", cred: tokenIn("Authorization", "Bearer ", "distribution"),
			pushes: []fixturePost{
				{file: "oci-image-push-tagged.json", want: []string{"team/app:1.2.3"}},
				{file: "docker-schema2-push-tagged.json", want: []string{"library/busybox:1.36"}},
				{file: "oci-index-push-tagged.json", want: []string{"team/app:2.0.0"}},
				{file: "oci-image-with-references.json", want: []string{"team/app:1.2.3"}},
				{file: "multi-arch-push-envelope.json", want: []string{"team/app:2.0.0"}},
			},
			ignored: []fixturePost{
				{file: "docs-push-envelope-example.json"}, {file: "docs-pull-example.json"},
				{file: "oci-index-child-manifest-by-digest.json"}, {file: "blob-push-octet-stream.json"},
				{file: "manifest-pull-head.json"}, {file: "blob-mount.json"}, {file: "manifest-delete.json"},
				{file: "tag-delete.json"}, {file: "oras-sbom-with-references.json"},
				{file: "helm-chart-with-references.json"}, {file: "cosign-signature-tag.json"},
			},
		},
		{
			// Docker Hub can send no header and signs nothing: its secret is
			// the URL. Every Docker Hub call is a push: the ignored body is a
			// cosign signature tag pushed to the same repository.
			name: "docker hub webhook with its token in the url", format: "dockerhub", cred: pathToken{secretFor("dockerhub")},
			pushes: []fixturePost{
				{file: "push.json", want: []string{"svendowideit/testhook:latest"}},
				{file: "push-multiarch-empty-images.json", want: []string{"fireflyiii/core:develop"}},
				{file: "push-legacy-exponent-time.json", want: []string{"svendowideit/testhook:latest"}},
			},
			ignored: []fixturePost{{file: "push.json", edit: replaceOnce(`"tag": "latest"`, `"tag": "`+cosignTag+`"`)}},
		},
		{
			name: "ecr through an eventbridge api destination with an api key header", format: "ecr",
			cred: tokenIn("X-Scan-Bridge-Token", "", "ecr"), receiver: withDefaultNamespace("aws"),
			// The published sample's digest is 60 hex digits; a real
			// sha256 digest has 64.
			pushes: []fixturePost{{file: "push.json", want: []string{"aws/my-repository-name:latest"},
				edit: replaceOnce(`abcd1234"`, `abcd12345678"`)}},
			ignored: []fixturePost{{file: "delete.json"}, {file: "scan-complete.json"}},
		},
		{
			// Pub/Sub push proves itself with a Google-signed OIDC JWT.
			name: "artifact registry through a pub/sub push subscription with an oidc token", format: "gar", cred: oidc,
			pushes: []fixturePost{
				{file: "insert-tag.json", want: []string{"my-project/my-repo/hello-world:1.1"}},
				{file: "insert-gcr.json", want: []string{"freshly-docker/freshly:PIG-267-refactor-email-service"}},
				{file: "insert-unwrapped.json", want: []string{"my-project/my-repo/hello-world:1.1"}},
			},
			ignored: []fixturePost{{file: "delete-tag.json"}, {file: "insert-digest-only.json"}},
		},
		{
			// The ignored body is single-event.json without its tag.
			name: "generic sender signing with hmac sha256", format: "generic",
			cred: bodyHMAC{"X-Signature-256", "sha256=", "sha256", secretFor("generic")},
			pushes: []fixturePost{
				{file: "single-event.json", want: []string{"team/app:1.2.3"}},
				{file: "envelope-two-events.json", want: []string{"payments/api-gateway:v1.4.0"}},
			},
			ignored: []fixturePost{{file: "single-event.json", edit: replaceOnce(`"tag": "1.2.3",`, "")}},
			refused: []fixturePost{{file: "typo-field.json"}},
		},
		{
			name: "github packages signing with X-Hub-Signature-256", format: "ghcr",
			cred: bodyHMAC{"X-Hub-Signature-256", "sha256=", "sha256", secretFor("ghcr")},
			pushes: []fixturePost{
				{file: "package-ghcr-tagged.json", header: hdr("X-GitHub-Event", "package_v2"), want: []string{"utaitebox/utaitebox-server:3.2.1"}},
				{file: "registry_package-docker-legacy.json", header: hdr("X-GitHub-Event", "registry_package"), want: []string{"dingggu/utaitebox/server:1.2.3"}},
			},
			ignored: []fixturePost{
				{file: "registry_package-published-untagged.json", header: hdr("X-GitHub-Event", "registry_package")},
				{file: "package-published-npm.json", header: hdr("X-GitHub-Event", "package")},
			},
		},
		{
			name: "harbor default payload with the Auth Header token", format: "harbor", cred: tokenIn("Authorization", "", "harbor"),
			pushes: []fixturePost{
				{file: "push-artifact-docs-2.0.json", want: []string{"test-webhook/debian:latest"}},
				{file: "push-image-harbor-1.x-keel.json", want: []string{"mynamespace/repository:2.1.6"}},
			},
			ignored: []fixturePost{
				{file: "push-artifact-by-digest-docs.json"}, {file: "push-artifact-cnab-copy-issue-11713.json"},
				{file: "pull-artifact-docs.json"}, {file: "pull-artifact-harbor-default-test.json"},
				{file: "delete-artifact-docs.json"}, {file: "scanning-completed-docs.json"},
				{file: "scanning-stopped-docs.json"}, {file: "scanning-failed-docs.json"},
				{file: "quota-exceed-docs.json"}, {file: "quota-warning-docs.json"},
				{file: "replication-docs.json"}, {file: "tag-retention-docs.json"},
			},
			refused: []fixturePost{{file: "artifact-deleted-cloudevents-docs.json"}, {file: "push-image-docs-1.10.json"}},
		},
		{
			name: "harbor cloudevents payload with the Auth Header token", format: "harbor-cloudevents", cred: tokenIn("Authorization", "", "harbor-cloudevents"),
			pushes:  []fixturePost{{file: "artifact-pushed-tag.json", header: ceStructured, want: []string{"ocean-integration/redis:v1"}}},
			ignored: []fixturePost{{file: "artifact-pushed-by-digest.json", header: ceStructured}},
		},
		{
			// The fixtures are all pushes; the ignored body is pushImage.json
			// as Harbor 1.x reports a pull of the same image.
			name: "harbor 1.x payload with the Auth Header token", format: "harbor-v1", cred: tokenIn("Authorization", "", "harbor-v1"),
			pushes: []fixturePost{
				{file: "pushImage.json", want: []string{"library/centos:7"}},
				{file: "pushImage-keel.json", want: []string{"mynamespace/repository:2.1.6"}},
				{file: "PUSH_ARTIFACT-default.json", want: []string{"test-webhook/debian:latest"}},
			},
			ignored: []fixturePost{{file: "pushImage.json", edit: replaceOnce(`"type": "pushImage"`, `"type": "pullImage"`)}},
		},
		{
			// EventGrid webhook targets are documented with a URL only, so
			// the secret travels in the path (docs/registries/huawei-eventgrid.md).
			// The fixtures are synthesized: Huawei publishes no SWR event.
			name: "huawei eventgrid webhook target with its token in the url", format: "huawei-eventgrid",
			cred: pathToken{secretFor("huawei-eventgrid")},
			pushes: []fixturePost{
				{file: "cts-apicall-createtag.json", header: ceStructured, want: []string{"team/api:1.4.2"}},
				{file: "cts-consoleaction-uploadimage.json", want: []string{"payments/tools/migrator:2026.01.02"}},
				{file: "batch-events-pushimage-and-deletetag.json", want: []string{"team/web:latest"}},
			},
			ignored: []fixturePost{{file: "cts-createnamespace.json"}, {file: "cts-createtag-failed.json"}},
		},
		{
			// The ignored body is single.json without its image_version.
			name: "internal producer posting normalized jobs with a bearer token", format: "job", cred: tokenIn("Authorization", "Bearer ", "job"),
			pushes: []fixturePost{
				{file: "single.json", want: []string{"team/tools/cli:1.2"}},
				{file: "batch.json", want: []string{"team/api:2.0"}},
			},
			ignored: []fixturePost{{file: "single.json", edit: replaceOnce(`"image_version":"1.2",`, "")}},
		},
		{
			name: "nexus webhook signing with X-Nexus-Webhook-Signature", format: "nexus",
			cred: bodyHMAC{"X-Nexus-Webhook-Signature", "", "sha1", secretFor("nexus")}, receiver: withDefaultNamespace("nexus"),
			pushes: []fixturePost{{file: "component-created-docker.json", header: hdr("X-Nexus-Webhook-Id", "rm:repository:component"),
				want: []string{"nexus/my-app:2.0"}}},
			ignored: []fixturePost{
				{file: "asset-created.json", header: hdr("X-Nexus-Webhook-Id", "rm:repository:asset")},
				{file: "component-created-npm.json", header: hdr("X-Nexus-Webhook-Id", "rm:repository:component")},
			},
		},
		{
			// Quay sends no custom header and signs nothing.
			name: "quay notification with its token in the url", format: "quay", cred: pathToken{secretFor("quay")},
			pushes: []fixturePost{
				{file: "repo_push-list.json", want: []string{"dgangaia/test:latest"}},
				{file: "repo_push-map.json", want: []string{"devtable/ubuntu:latest"}},
				{file: "repo_push-sample.json", want: []string{"acme/api:latest", "acme/api:foo"}},
			},
			ignored: []fixturePost{{file: "build_queued.json"}, {file: "vulnerability_found.json"}},
		},
		{
			name: "swr enterprise trigger with auth_header", format: "swr-enterprise", cred: tokenIn("Authorization", "", "swr-enterprise"),
			receiver: func(r *handlers.ReceiverConfig) {
				r.Target.ImageType, r.InstanceID = scanjob.InstanceImage, swrInstanceID
			},
			pushes: []fixturePost{
				{file: "push-artifact-harbor-shape.json", want: []string{"payments/api-gateway:v1.4.0"}},
				{file: "push-artifact-lowercase-ms.json", want: []string{"payments/api-gateway:v1.4.0"}},
				{file: "push-artifact-event-type-url-only.json", want: []string{"payments/tools/migrator:2025.05.29"}},
			},
			ignored: []fixturePost{{file: "push-artifact-by-digest.json"}, {file: "../harbor/pull-artifact-docs.json"}},
			instanceURL: map[string]string{
				"payments/api-gateway:v1.4.0":        "ee-instance.example.com",
				"payments/tools/migrator:2025.05.29": "ee-instance.example.com:443",
			},
		},
		{
			// The ignored body is pushImage.json as TCR reports deleting
			// that image (its trigger's "delete image" action).
			name: "tencent tcr trigger with a custom Authorization header", format: "tencent-tcr", cred: tokenIn("Authorization", "", "tencent-tcr"),
			// The published sample masks four digits of the digest with xxxx.
			pushes: []fixturePost{{file: "pushImage.json", want: []string{"public/nginx:v1.10.0"},
				edit: replaceOnce(`fc105xxxx268fc9`, `fc1050000268fc9`)}},
			ignored: []fixturePost{{file: "pushImage.json", edit: replaceOnce(`"type": "pushImage"`, `"type": "deleteImage"`)}},
		},
	}
}

// projectFor is the HSS project of the i-th format's receiver.
func projectFor(i int) string { return fmt.Sprintf("%032x", 0xf00+i) }

func TestE2EEveryFormatThroughTheBridge(t *testing.T) {
	cases := formatCases(newOIDCToken(t))
	var covered []string
	for _, tc := range cases {
		covered = append(covered, tc.format)
	}
	sort.Strings(covered)
	if !slices.Equal(covered, formats.Names()) {
		t.Fatalf("cases cover formats %v, registered formats are %v: every format needs exactly one case", covered, formats.Names())
	}

	receivers := make([]handlers.ReceiverConfig, len(cases))
	for i, tc := range cases {
		r := handlers.ReceiverConfig{Name: tc.format, Format: tc.format, Auth: tc.cred.auth(),
			Target: scanjob.Target{ProjectID: projectFor(i)}}
		if tc.receiver != nil {
			tc.receiver(&r)
		}
		receivers[i] = r
	}
	e := newE2E(t, func(c *config.Config) { c.Receivers = receivers })

	var stored atomic.Int64 // jobs the bridge reported as newly stored
	wantItems := map[string]map[string]int{}
	t.Run("formats", func(t *testing.T) {
		for i, tc := range cases {
			want := map[string]int{}
			for _, p := range tc.pushes {
				for _, w := range p.want {
					want[w] = 1
				}
			}
			wantItems[projectFor(i)] = want
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				stored.Add(int64(e.runFormatCase(t, tc, projectFor(i), want)))
			})
		}
	})
	if t.Failed() {
		return
	}

	// Nothing but the accepted jobs reached the stream: no refused,
	// ignored or unauthorized body stored anything.
	seq, err := streamLastSeq(e)
	if err != nil {
		t.Fatal(err)
	}
	if seq != uint64(stored.Load()) {
		t.Errorf("the job stream stored %d messages in all, the bridge answered %d new jobs", seq, stored.Load())
	}
	// And HSS saw nothing beyond the expected images of each project.
	got := map[string]map[string]int{}
	for _, it := range e.hss.Items() {
		p := it.Target.ProjectID
		if got[p] == nil {
			got[p] = map[string]int{}
		}
		got[p][it.Namespace+"/"+it.ImageName+":"+it.ImageVersion]++
	}
	for p, w := range wantItems {
		if !equalCounts(got[p], w) {
			t.Errorf("project %s: HSS items %v, want %v", p, got[p], w)
		}
	}
	if len(got) != len(wantItems) {
		t.Errorf("HSS got items for %d projects, want %d", len(got), len(wantItems))
	}
}

// runFormatCase posts every fixture of tc and waits for its images at HSS.
// It returns how many jobs the bridge reported as newly stored.
func (e *e2eEnv) runFormatCase(t *testing.T, tc formatCase, project string, want map[string]int) int {
	seenIDs := map[string]bool{}
	for _, p := range tc.pushes {
		body := readFormatFixture(t, tc.format, p)
		// Refused credentials first: had any of them been stored, the good
		// delivery below would be answered as a duplicate.
		bad := append([]forgery{{"without credentials", func(http.Header, []byte) string { return "" }}}, tc.cred.forgeries()...)
		for _, f := range bad {
			code, raw := e.postFormat(t, tc.format, body, p.header, f.sign)
			if code != http.StatusUnauthorized {
				t.Errorf("%s with %s: status %d %s, want 401", p.file, f.what, code, raw)
			}
		}

		code, raw := e.postFormat(t, tc.format, body, p.header, tc.cred.sign)
		ans := decodeAnswer(t, raw)
		if code != http.StatusAccepted || ans.Status != "accepted" {
			t.Errorf("%s: status %d %s, want 202 accepted", p.file, code, raw)
			continue
		}
		var images []string
		for _, j := range ans.Jobs {
			img, _, _ := strings.Cut(j.Image, "@")
			images = append(images, img)
			if j.Duplicate != seenIDs[j.ID] {
				t.Errorf("%s: job %s duplicate=%v, want %v (only a job this case already stored is a duplicate)", p.file, j.Image, j.Duplicate, seenIDs[j.ID])
			}
			seenIDs[j.ID] = true
		}
		if !slices.Equal(images, p.want) {
			t.Errorf("%s: jobs %v, want %v", p.file, images, p.want)
		}
	}
	for _, p := range tc.ignored {
		body := readFormatFixture(t, tc.format, p)
		code, raw := e.postFormat(t, tc.format, body, p.header, tc.cred.sign)
		ans := decodeAnswer(t, raw)
		if code != http.StatusOK || ans.Status != "ignored" || len(ans.Jobs) != 0 || ans.Reason == "" {
			t.Errorf("%s: status %d %s, want 200 ignored with a reason", p.file, code, raw)
		}
	}
	for _, p := range tc.refused {
		body := readFormatFixture(t, tc.format, p)
		code, raw := e.postFormat(t, tc.format, body, p.header, tc.cred.sign)
		if ans := decodeAnswer(t, raw); code != http.StatusBadRequest || len(ans.Jobs) != 0 {
			t.Errorf("%s: status %d %s, want 400", p.file, code, raw)
		}
	}
	if tc.handshake != nil {
		body := readFormatFixture(t, tc.format, *tc.handshake)
		code, raw := e.postFormat(t, tc.format, body, tc.handshake.header, tc.cred.sign)
		if code != http.StatusOK || !jsonEqual(raw, []byte(tc.reply)) {
			t.Errorf("%s: status %d %s, want 200 %s", tc.handshake.file, code, raw, tc.reply)
		}
		// The handshake proves the endpoint to the sender: a stranger must
		// not get the validation code answered.
		noCreds := func(http.Header, []byte) string { return "" }
		if code, raw := e.postFormat(t, tc.format, body, tc.handshake.header, noCreds); code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: status %d %s, want 401", tc.handshake.file, code, raw)
		}
	}

	if t.Failed() {
		return len(seenIDs) // an answer was wrong: HSS may never see what this case waits for
	}
	natstest.Eventually(t, 30*time.Second, "the images of "+tc.format+" at HSS", func() bool {
		got := itemsOf(e.hss, project)
		for img := range want {
			if len(got[img]) == 0 {
				return false
			}
		}
		return true
	})
	for img, items := range itemsOf(e.hss, project) {
		if want[img] == 0 {
			t.Errorf("HSS scanned %s, which no fixture pushed", img)
			continue
		}
		if len(items) != 1 {
			t.Errorf("HSS scanned %s %d times, want once", img, len(items))
		}
		for _, it := range items {
			checkItemTarget(t, tc, img, it)
		}
	}
	return len(seenIDs)
}

// checkItemTarget checks the image type and, for SWR Enterprise, the
// instance fields an HSS item carries.
func checkItemTarget(t *testing.T, tc formatCase, img string, it hsstest.Item) {
	t.Helper()
	if tc.instanceURL == nil {
		if it.ImageType != string(scanjob.PrivateImage) || it.InstanceID != "" || it.InstanceURL != "" {
			t.Errorf("%s: image type %q, instance %q %q, want a private image without instance", img, it.ImageType, it.InstanceID, it.InstanceURL)
		}
		return
	}
	if it.ImageType != string(scanjob.InstanceImage) || it.InstanceID != swrInstanceID || it.InstanceURL != tc.instanceURL[img] {
		t.Errorf("%s: image type %q, instance %q %q, want instance_image %q %q", img, it.ImageType, it.InstanceID, it.InstanceURL, swrInstanceID, tc.instanceURL[img])
	}
}

// itemsOf groups the HSS items of one project by "namespace/image:tag".
func itemsOf(hss *hsstest.Server, project string) map[string][]hsstest.Item {
	out := map[string][]hsstest.Item{}
	for _, it := range hss.Items() {
		if it.Target.ProjectID == project {
			k := it.Namespace + "/" + it.ImageName + ":" + it.ImageVersion
			out[k] = append(out[k], it)
		}
	}
	return out
}

func readFormatFixture(t *testing.T, format string, p fixturePost) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixturesDir, format, p.file))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	if p.edit != nil {
		b = p.edit(t, b)
	}
	return b
}

// postFormat posts body to the receiver named format with the sender's
// headers and the credentials sign adds (headers, a path segment).
func (e *e2eEnv) postFormat(t *testing.T, format string, body []byte, header http.Header, sign func(http.Header, []byte) string) (int, []byte) {
	t.Helper()
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	return e.postRaw(t, format+sign(h, body), body, h)
}

// postRaw posts to /webhooks/<path>.
func (e *e2eEnv) postRaw(t *testing.T, path string, body []byte, h http.Header) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+e.app.ln.Addr().String()+"/webhooks/"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post to %s: %v", strings.SplitN(path, "/", 2)[0], err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer of %s: %v", strings.SplitN(path, "/", 2)[0], err)
	}
	return resp.StatusCode, raw
}

func decodeAnswer(t *testing.T, raw []byte) handlers.Answer {
	t.Helper()
	var ans handlers.Answer
	if err := json.Unmarshal(raw, &ans); err != nil {
		t.Fatalf("answer %q: %v", raw, err)
	}
	return ans
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// streamLastSeq is the sequence of the last message ever stored on the job
// stream; acked jobs leave the work queue, their sequence numbers stay.
func streamLastSeq(e *e2eEnv) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	js, err := jetstreamFor(e.app)
	if err != nil {
		return 0, fmt.Errorf("jetstream: %w", err)
	}
	name := e.app.q.Config().Stream.Name
	s, err := js.Stream(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s info: %w", name, err)
	}
	return info.State.LastSeq, nil
}

// registryDocsDir holds one page per supported registry.
var registryDocsDir = filepath.Join("..", "..", "docs", "registries")

// yamlReceivers is a fenced yaml block of a docs page that configures
// receivers.
type yamlReceivers struct {
	page string
	line int
	text string
}

var fence = regexp.MustCompile("^( *)```(\\S*)")

// receiverSnippets returns the fenced ```yaml blocks of a markdown page
// that contain "receivers:"; a fence indented inside a list item is
// de-indented by the fence's own indentation.
func receiverSnippets(page string, md []byte) ([]yamlReceivers, error) {
	var out []yamlReceivers
	sc := bufio.NewScanner(bytes.NewReader(md))
	var (
		in     bool
		lang   string
		indent int
		start  int
		buf    strings.Builder
	)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		m := fence.FindStringSubmatch(line)
		switch {
		case !in && m != nil:
			in, lang, indent, start = true, m[2], len(m[1]), n
			buf.Reset()
		case in && m != nil && strings.TrimSpace(line) == "```":
			in = false
			if lang == "yaml" && strings.Contains(buf.String(), "receivers:") {
				out = append(out, yamlReceivers{page: page, line: start, text: buf.String()})
			}
		case in:
			buf.WriteString(strings.TrimPrefix(line, strings.Repeat(" ", indent)))
			buf.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", page, err)
	}
	if in {
		return nil, fmt.Errorf("%s: fence opened on line %d is never closed", page, start)
	}
	return out, nil
}

// TestRegistryDocsReceiversAreValid loads every receiver example of
// docs/registries/ the way `bridge serve` does (file, environment,
// validation, receivers, handlers.New), so a page cannot show a config the
// bridge refuses, and checks that the pages cover every format.
func TestRegistryDocsReceiversAreValid(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join(registryDocsDir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatalf("no pages under %s", registryDocsDir)
	}
	// The deployment's own hss section is not on the pages; the
	// environment supplies the region and project every receiver defaults to.
	environ := func() []string {
		return []string{"BRIDGE_HSS__REGION=cn-north-4", "BRIDGE_HSS__PROJECT_ID=0123456789abcdef0123456789abcdef"}
	}
	documented := map[string]bool{}
	for _, page := range pages {
		md, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		snippets, err := receiverSnippets(filepath.Base(page), md)
		if err != nil {
			t.Fatal(err)
		}
		if len(snippets) == 0 && filepath.Base(page) != "README.md" {
			t.Errorf("%s has no ```yaml receivers example", filepath.Base(page))
		}
		for _, s := range snippets {
			t.Run(fmt.Sprintf("%s line %d", s.page, s.line), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "bridge.yaml")
				if err := os.WriteFile(path, []byte(s.text), 0o600); err != nil {
					t.Fatal(err)
				}
				cfg, err := config.Load(path, environ)
				if err != nil {
					t.Fatalf("load:\n%s\n%v", s.text, err)
				}
				for _, r := range cfg.Receivers {
					documented[r.Format] = true
				}
				if err := cfg.Validate(); err != nil {
					t.Fatalf("validate:\n%s\n%v", s.text, err)
				}
				recvs, err := cfg.FilledReceivers()
				if err != nil {
					t.Fatalf("receivers:\n%s\n%v", s.text, err)
				}
				if _, err := handlers.New(handlers.Config{MaxBodyBytes: cfg.HTTP.MaxBodyBytes, PublishTimeout: cfg.HTTP.PublishTimeout, Receivers: recvs, Routes: cfg.Routes},
					handlers.Options{}); err != nil {
					t.Fatalf("handlers.New:\n%s\n%v", s.text, err)
				}
			})
		}
	}
	for _, name := range formats.Names() {
		if !documented[name] {
			t.Errorf("format %s has no receiver example under docs/registries", name)
		}
	}
}

// TestE2EMovingTagsAreRescanned holds the job id to what identifies a push
// (docs/registries/README.md, "What identifies a push"; issue 12, moving
// tags): with the published payloads, a redelivery of the same event is one
// job, and a second push of the same tag is a new job, told apart by the
// digest where the payload has one, else by the sender's push time, else by
// its event id. A payload with none of them (Quay's) stays one job within
// the duplicate window, as documented.
func TestE2EMovingTagsAreRescanned(t *testing.T) {
	type post struct {
		what   string
		edit   func(testing.TB, []byte) []byte // nil: the fixture as published
		header http.Header
		newJob bool // false: answered as a duplicate of the first post
	}
	nexusHook := func(delivery string) http.Header {
		return hdr("X-Nexus-Webhook-Id", "rm:repository:component", "X-Nexus-Webhook-Delivery", delivery)
	}
	cases := []struct {
		format string
		cred   sender
		file   string
		header http.Header
		ns     string
		posts  []post
	}{
		{format: "dockerhub", cred: pathToken{secretFor("dockerhub")}, file: "push.json", posts: []post{
			{what: "the same call again", newJob: false},
			{what: "latest pushed again (new pushed_at, still no digest)", newJob: true,
				edit: replaceOnce(`"pushed_at": 1417566161`, `"pushed_at": 1417566222`)},
		}},
		{format: "nexus", cred: bodyHMAC{"X-Nexus-Webhook-Signature", "", "sha1", secretFor("nexus")}, file: "component-created-docker.json",
			header: nexusHook("d-1"), ns: "nexus", posts: []post{
				{what: "the same event under a new delivery id", header: nexusHook("d-2"), newJob: false},
				{what: "the tag pushed again (new timestamp, no digest)", header: nexusHook("d-3"), newJob: true,
					edit: replaceOnce(`"timestamp" : "2024-03-07T10:21:44.305+0000"`, `"timestamp" : "2024-03-07T10:29:01.000+0000"`)},
			}},
		{format: "quay", cred: pathToken{secretFor("quay")}, file: "repo_push-list.json", posts: []post{
			{what: "the same notification again", newJob: false},
		}},
		{format: "distribution", cred: tokenIn("Authorization", "Bearer ", "distribution"), file: "oci-image-push-tagged.json", posts: []post{
			{what: "the same event at another time (digest unchanged) is one job", newJob: false,
				edit: replaceOnce(`"timestamp": "2025-05-14T09:21:07.123456789Z"`, `"timestamp": "2025-05-14T09:25:00Z"`)},
			{what: "the tag pushed again with new content (new digest)", newJob: true,
				edit: replaceOnce(`"digest": "sha256:c8b76bb7d941476d7c595c0c25480a9103b74426e827a57931b85781b1aff585"`,
					`"digest": "sha256:d8b76bb7d941476d7c595c0c25480a9103b74426e827a57931b85781b1aff585"`)},
		}},
		{format: "huawei-eventgrid", cred: pathToken{secretFor("huawei-eventgrid")}, file: "cts-consoleaction-uploadimage.json", posts: []post{
			{what: "the same event redelivered by EG", newJob: false},
			{what: "the tag pushed again (new event id and time, no digest)", newJob: true,
				edit: func(tb testing.TB, b []byte) []byte {
					b = replaceOnce(`"8c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"`, `"8c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e60"`)(tb, b)
					return replaceOnce(`"2026-01-02T08:00:00Z"`, `"2026-01-02T08:05:00Z"`)(tb, b)
				}},
		}},
	}
	receivers := make([]handlers.ReceiverConfig, len(cases))
	for i, tc := range cases {
		receivers[i] = handlers.ReceiverConfig{Name: tc.format, Format: tc.format, Auth: tc.cred.auth(),
			DefaultNamespace: tc.ns, Target: scanjob.Target{ProjectID: projectFor(i)}}
	}
	e := newE2E(t, func(c *config.Config) { c.Receivers = receivers })
	for _, tc := range cases {
		t.Run(tc.format, func(t *testing.T) {
			first := readFormatFixture(t, tc.format, fixturePost{file: tc.file})
			jobOf := func(what string, body []byte, h http.Header) handlers.Answer {
				t.Helper()
				code, raw := e.postFormat(t, tc.format, body, h, tc.cred.sign)
				ans := decodeAnswer(t, raw)
				if code != http.StatusAccepted || len(ans.Jobs) != 1 {
					t.Fatalf("%s: status %d %s, want 202 with one job", what, code, raw)
				}
				return ans
			}
			orig := jobOf("the first delivery", first, tc.header)
			if orig.Jobs[0].Duplicate {
				t.Fatalf("the first delivery is a duplicate: %+v", orig.Jobs[0])
			}
			for _, p := range tc.posts {
				body := first
				if p.edit != nil {
					body = p.edit(t, slices.Clone(first))
				}
				h := tc.header
				if p.header != nil {
					h = p.header
				}
				got := jobOf(p.what, body, h).Jobs[0]
				tag, _, _ := strings.Cut(got.Image, "@")
				if want, _, _ := strings.Cut(orig.Jobs[0].Image, "@"); tag != want {
					t.Fatalf("%s: job %s, want the same tag %s", p.what, got.Image, want)
				}
				if newJob := got.ID != orig.Jobs[0].ID && !got.Duplicate; newJob != p.newJob {
					t.Errorf("%s: new job = %v (id %s, first %s, duplicate %v), want %v", p.what, newJob, got.ID, orig.Jobs[0].ID, got.Duplicate, p.newJob)
				}
			}
		})
	}
}
