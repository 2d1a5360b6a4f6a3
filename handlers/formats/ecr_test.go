package formats

import "testing"

func TestECR(t *testing.T) {
	const digest = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"
	runDecoder(t, "ecr", []decodeCase{
		{
			name: "a successful push is a push on the account's registry host",
			file: "push.json",
			want: Result{Pushes: []Push{{
				Host: "123456789012.dkr.ecr.us-west-2.amazonaws.com", Repository: "my-repository-name", Tag: "latest",
				Digest: digest, PushedAt: mustTime(t, "2019-11-16T01:54:34Z"), EventID: "13cde686-328b-6117-af20-0e5566167482",
			}}},
		},
		{
			name: "a delete is skipped",
			file: "delete.json",
			want: Result{Skipped: []Skip{{
				Ref:    "my-repository-name:latest@sha256:fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12347f5b2640",
				Reason: "delete event, not a push",
			}}},
		},
		{
			name: "a scan result is skipped",
			file: "scan-complete.json",
			want: Result{Skipped: []Skip{{Ref: "my-repository-name@" + digest, Reason: `ecr "ECR Image Scan" event, not an image push`}}},
		},
		{
			name: "a failed push is skipped",
			body: `{"id":"1","detail-type":"ECR Image Action","source":"aws.ecr","detail":{"result":"FAILURE","action-type":"PUSH","repository-name":"r","image-tag":"t"}}`,
			want: Result{Skipped: []Skip{{Ref: "r:t", Reason: "failed push"}}},
		},
		{
			name: "a push without a tag is a push by digest",
			body: `{"id":"1","detail-type":"ECR Image Action","source":"aws.ecr","detail":{"result":"SUCCESS","action-type":"PUSH","repository-name":"team/app","image-digest":"` + digest + `"}}`,
			want: Result{Skipped: []Skip{{Ref: "team/app@" + digest, Reason: "push by digest without a tag"}}},
		},
		{
			name: "a helm chart is skipped by its artifact media type",
			body: `{"id":"1","detail-type":"ECR Image Action","source":"aws.ecr","account":"123456789012","region":"cn-north-1",
				"detail":{"result":"SUCCESS","action-type":"PUSH","repository-name":"charts/web","image-tag":"0.1.0",
				"manifest-media-type":"application/vnd.oci.image.manifest.v1+json","artifact-media-type":"application/vnd.cncf.helm.config.v1+json"}}`,
			want: Result{Skipped: []Skip{{Ref: "charts/web:0.1.0", Reason: "helm chart, not a container image"}}},
		},
		{
			name: "an image with its media types in a china region is a push on the .cn host",
			body: `{"id":"e","detail-type":"ECR Image Action","source":"aws.ecr","account":"123456789012","region":"cn-north-1",
				"detail":{"result":"SUCCESS","action-type":"PUSH","repository-name":"team/app","image-tag":"1",
				"manifest-media-type":"application/vnd.oci.image.manifest.v1+json","artifact-media-type":"application/vnd.oci.image.config.v1+json"}}`,
			want: Result{Pushes: []Push{{
				Host: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", Repository: "team/app", Tag: "1",
				MediaType: "application/vnd.oci.image.manifest.v1+json", EventID: "e",
			}}},
		},
		{
			name: "an array of events yields one push per pushed tag",
			body: `[{"id":"a","detail-type":"ECR Image Action","source":"aws.ecr","detail":{"result":"SUCCESS","action-type":"PUSH","repository-name":"r","image-tag":"1"}},
				{"id":"b","detail-type":"ECR Image Action","source":"aws.ecr","detail":{"result":"SUCCESS","action-type":"PUSH","repository-name":"r","image-tag":"2"}}]`,
			want: Result{Pushes: []Push{{Repository: "r", Tag: "1", EventID: "a"}, {Repository: "r", Tag: "2", EventID: "b"}}},
		},
		{
			name: "an event from another service is skipped",
			body: `{"id":"1","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"state":"running"}}`,
			want: Result{Skipped: []Skip{{Reason: "event from aws.ec2, not ECR"}}},
		},
		{name: "a body that is not JSON is an error", body: `x`, wantErr: errIs(ErrMalformed)},
		{name: "an object without detail-type is an error", body: `{"detail":{}}`, wantErr: errIs(ErrMalformed)},
		{name: "an empty array is an error", body: `[]`, wantErr: errIs(ErrMalformed)},
		{name: "an array with a non-event is an error", body: `[{"id":"1"}]`, wantErr: errIs(ErrMalformed)},
	})
}

func FuzzECR(f *testing.F) { fuzzDecoder(f, "ecr", fuzzSeeds{}) }

func BenchmarkECR(b *testing.B) { benchDecoder(b, "ecr", "push.json", nil) }
