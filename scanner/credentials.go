package scanner

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/scan-bridge/scan-bridge/hssclient"
)

// errNoCredentials names every way to give credentials, so the operator
// sees what to set rather than a stack of field names.
var errNoCredentials = errors.New("no HSS credentials: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK " +
	"(or hss.access_key with hss.secret_key_file), or hss.auth=token with hss.token_file, " +
	"or hss.auth=password with hss.iam.domain_name, hss.iam.user_name and hss.iam.password_file; " +
	"or run with --dry-run to use the built-in HSS simulator")

// authenticator builds HSS authentication from the config and environment.
func (c Config) authenticator(log *slog.Logger) (hssclient.Authenticator, error) {
	switch c.Auth {
	case "token":
		tok, err := readSecret(c.Token, c.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("hss.token_file: %w", err)
		}
		if tok == "" {
			return nil, errNoCredentials
		}
		return hssclient.StaticToken(hssclient.NewSecret(tok))
	case "password":
		pw, err := readSecret(c.IAM.Password, c.IAM.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("hss.iam.password_file: %w", err)
		}
		if c.IAM.DomainName == "" || c.IAM.UserName == "" || pw == "" {
			return nil, errNoCredentials
		}
		return hssclient.NewPasswordAuth(hssclient.PasswordConfig{
			DomainName: c.IAM.DomainName, UserName: c.IAM.UserName, Password: hssclient.NewSecret(pw),
			IAMEndpoint: c.IAM.Endpoint, Logger: log,
		})
	}
	creds, err := c.credentials()
	if err != nil {
		return nil, err
	}
	return hssclient.NewSigner(creds)
}

// credentials takes AK/SK from the config when set there, else from the
// SDK's environment variables.
func (c Config) credentials() (hssclient.Credentials, error) {
	if c.AccessKey != "" {
		sk, err := readSecret(c.SecretKey, c.SecretKeyFile)
		if err != nil {
			return hssclient.Credentials{}, fmt.Errorf("hss.secret_key_file: %w", err)
		}
		st, err := readSecret(c.SecurityToken, c.SecurityTokenFile)
		if err != nil {
			return hssclient.Credentials{}, fmt.Errorf("hss.security_token_file: %w", err)
		}
		if sk == "" {
			return hssclient.Credentials{}, errNoCredentials
		}
		return hssclient.Credentials{AccessKey: c.AccessKey, SecretKey: hssclient.NewSecret(sk), SecurityToken: hssclient.NewSecret(st)}, nil
	}
	creds, err := hssclient.CredentialsFromEnv()
	if errors.Is(err, hssclient.ErrNoCredentials) {
		return creds, errNoCredentials
	}
	return creds, err
}

// readSecret returns value, or the trimmed content of file when value is
// empty, so every secret can come from a mounted file. Unlike
// hssclient.ReadSecretFile it lets an empty file through, so that the
// caller reports the missing credential as errNoCredentials.
func readSecret(value, file string) (string, error) {
	if value != "" || file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
