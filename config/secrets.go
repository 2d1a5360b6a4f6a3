package config

import (
	"net/url"
	"strings"
)

// secretSettings are the settings whose value is a secret: bridge config
// print shows them as redacted, and no error quotes them. Settings that
// name a file holding a secret (*_file, secret_files) are paths and are
// shown. TestSecretSettings checks that each entry is a setting and that
// every setting whose name says secret, token or password is here or is
// a file path, so a new secret field cannot be printed by mistake.
var secretSettings = map[string]bool{
	"receivers[].auth.secrets": true,
	"hss.secret_key":           true,
	"hss.security_token":       true,
	"hss.token":                true,
	"hss.iam.password":         true,
	"admin.token":              true,
	// A result webhook's URL is shown redacted too: a chat service's
	// incoming-webhook URL is its credential.
	"notify.webhooks[].secret":     true,
	"notify.webhooks[].url":        true,
	"sources[].auth.password":      true,
	"sources[].auth.token":         true,
	"sources[].swr.secret_key":     true,
	"sources[].swr.security_token": true,
}

// redacted replaces a secret's value.
const redacted = "[redacted]"

func (n *node) secret() bool { return secretSettings[n.path] }

// urlSettings hold URLs that may carry a password (nats://user:pw@host),
// comma-separated: shown with the password redacted.
var urlSettings = map[string]bool{"nats.url": true}

// redactURLs hides the password of each URL of a comma-separated list.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				parts[i] = u.Redacted()
			}
		}
	}
	return strings.Join(parts, ",")
}
