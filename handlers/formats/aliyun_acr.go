package formats

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

// Alibaba Cloud Container Registry (ACR) triggers.
// https://www.alibabacloud.com/help/en/acr/user-guide/manage-webhooks
// (formerly https://www.alibabacloud.com/help/doc-detail/60949.htm)
//
// A trigger posts {"push_data":{"digest","pushed_at","tag"},
// "repository":{"namespace","name","repo_full_name","region",…}} when a
// tag is pushed (pushes are the only trigger event). pushed_at is a local
// wall-clock time without a zone ("2016-11-29 12:25:46"); it is read as
// China Standard Time (UTC+8), the zone of the console that shows it.
//
// The host is not in the payload and differs between the personal edition
// (registry.<region>.aliyuncs.com) and enterprise instances (their own
// domains), so Push.Host is left empty. ACR signs nothing and adds no
// headers; the trigger URL is the only secret.

func init() { register("aliyun-acr", decodeAliyunACR) }

type aliyunPayload struct {
	PushData *struct {
		Digest   string `json:"digest"`
		PushedAt string `json:"pushed_at"`
		Tag      string `json:"tag"`
	} `json:"push_data"`
	Repository *struct {
		Namespace    string `json:"namespace"`
		Name         string `json:"name"`
		RepoFullName string `json:"repo_full_name"`
		Region       string `json:"region"`
	} `json:"repository"`
}

// chinaStandardTime is UTC+8 without daylight saving.
var chinaStandardTime = time.FixedZone("CST", 8*60*60)

func decodeAliyunACR(body []byte, _ http.Header) (Result, error) {
	var p aliyunPayload
	if err := decodeObject(body, &p); err != nil {
		return Result{}, err
	}
	if p.PushData == nil || p.Repository == nil {
		return Result{}, errors.New("body has no push_data and repository")
	}
	r := p.Repository
	repo := repoPath(r.RepoFullName, r.Namespace, r.Name)
	if repo == "" {
		return Result{}, errors.New("repository has no repo_full_name or namespace and name")
	}
	var b resultBuilder
	b.add(candidate{Push: Push{
		Repository: repo, Tag: p.PushData.Tag, Digest: withDigestAlgorithm(p.PushData.Digest),
		PushedAt: aliyunTime(p.PushData.PushedAt),
	}})
	return b.result(), nil
}

func aliyunTime(s string) time.Time {
	if t, err := time.ParseInLocation("2006-01-02 15:04:05", strings.TrimSpace(s), chinaStandardTime); err == nil {
		return t.UTC()
	}
	return parseTime(s)
}
