package formats

import (
	"errors"
	"net/http"
	"strings"
)

// Docker Hub repository webhooks
// (https://docs.docker.com/docker-hub/repos/manage/webhooks/).
//
// Docker Hub sends one POST per pushed tag with push_data.tag and the
// repository. The payload carries no event type (a push is the only
// trigger) and no digest. It carries no signature, no secret and no way to
// add a header either (docker/hub-feedback#1161, docker/roadmap#51): a
// receiver can only be protected by an unguessable URL. callback_url is a
// legacy field the docs call unsupported; it is ignored here.
//
// A multi-arch build may send several calls for one tag, some with an
// empty images list (docker/hub-feedback#2148); they are the same
// repository:tag, which the job id collapses downstream.

func init() { register("dockerhub", decodeDockerHub) }

type dockerHubPayload struct {
	CallbackURL string `json:"callback_url"`
	PushData    *struct {
		PushedAt eventTime `json:"pushed_at"`
		Pusher   string    `json:"pusher"`
		Tag      string    `json:"tag"`
	} `json:"push_data"`
	Repository *struct {
		RepoName  string `json:"repo_name"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"repository"`
}

func decodeDockerHub(body []byte, _ http.Header) (Result, error) {
	var p dockerHubPayload
	if err := decodeObject(body, &p); err != nil {
		return Result{}, err
	}
	if p.PushData == nil || p.Repository == nil {
		return Result{}, errors.New("body has no push_data and repository")
	}
	repo := dockerHubRepository(p.Repository.RepoName, p.Repository.Namespace, p.Repository.Name)
	if repo == "" {
		return Result{}, errors.New("repository has no repo_name, namespace or name")
	}
	var b resultBuilder
	b.add(candidate{Push: Push{
		Host:       "docker.io", // the only host Docker Hub webhooks can be about
		Repository: repo,
		Tag:        p.PushData.Tag,
		PushedAt:   p.PushData.PushedAt.Time,
	}})
	return b.result(), nil
}

// dockerHubRepository builds namespace/name. repo_name is that already for
// user repositories; official images live in the "library" namespace,
// which Docker Hub may leave out of repo_name.
func dockerHubRepository(repoName, namespace, name string) string {
	repoName = strings.Trim(strings.TrimSpace(repoName), "/")
	namespace = strings.Trim(strings.TrimSpace(namespace), "/")
	name = strings.Trim(strings.TrimSpace(name), "/")
	switch {
	case strings.Contains(repoName, "/"):
		return repoName
	case repoName != "" && namespace != "":
		return namespace + "/" + repoName
	case repoName != "":
		return "library/" + repoName
	case namespace != "" && name != "":
		return namespace + "/" + name
	case name != "":
		return "library/" + name
	}
	return ""
}
