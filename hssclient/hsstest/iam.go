package hsstest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// The IAM side: POST /v3/auth/tokens with the password method
// (https://support.huaweicloud.com/intl/en-us/api-iam/iam_30_0001.html).
// The token comes back in X-Subject-Token with status 201, its expiry in
// token.expires_at. Tokens are bound to the project they were scoped to.

type issuedToken struct {
	user    string // domain/name
	project string
	expires time.Time
	revoked bool
}

// tokenBody is the part of the request body the fake reads; unknown
// fields are refused so a misspelt key fails here.
type tokenBody struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password struct {
				User struct {
					Domain struct {
						Name string `json:"name"`
					} `json:"domain"`
					Name     string `json:"name"`
					Password string `json:"password"`
				} `json:"user"`
			} `json:"password"`
		} `json:"identity"`
		Scope struct {
			Project *struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"project"`
		} `json:"scope"`
	} `json:"auth"`
}

// iamError answers in IAM's Keystone shape, {"error":{"code":401,...}}:
// numeric code, nested object.
func iamError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": status, "message": msg, "title": http.StatusText(status),
	}})
}

func (f *Fake) serveToken(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		f.recordIAMRefusal(r, http.StatusBadRequest, "content type is not application/json")
		iamError(w, http.StatusBadRequest, "The request body is invalid.")
		return
	}
	var body tokenBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		f.recordIAMRefusal(r, http.StatusBadRequest, "body: "+err.Error())
		iamError(w, http.StatusBadRequest, "The request body is invalid.")
		return
	}
	id := body.Auth.Identity
	if len(id.Methods) != 1 || id.Methods[0] != "password" {
		f.recordIAMRefusal(r, http.StatusBadRequest, "methods is not [password]")
		iamError(w, http.StatusBadRequest, "The request body is invalid.")
		return
	}
	u := id.Password.User
	known := false
	for _, cand := range f.opts.Users {
		if cand.Domain == u.Domain.Name && cand.Name == u.Name && cand.Password == u.Password {
			known = true
		}
	}
	if !known {
		f.recordIAMRefusal(r, http.StatusUnauthorized, "unknown user or wrong password for "+u.Domain.Name+"/"+u.Name)
		iamError(w, http.StatusUnauthorized, "The username or password is wrong.")
		return
	}
	scope := body.Auth.Scope.Project
	if scope == nil || (scope.ID == "") == (scope.Name == "") {
		f.recordIAMRefusal(r, http.StatusBadRequest, "scope is not one project by id or name")
		iamError(w, http.StatusBadRequest, "The request body is invalid.")
		return
	}
	project := scope.ID
	if project == "" {
		project = scope.Name
	}

	var raw [24]byte
	_, _ = rand.Read(raw[:])
	token := "hsstest-token-" + hex.EncodeToString(raw[:])
	now := f.opts.Now()
	expires := now.Add(f.opts.TokenLifetime)
	f.mu.Lock()
	f.issued[token] = issuedToken{user: u.Domain.Name + "/" + u.Name, project: project, expires: expires}
	f.mu.Unlock()
	f.log.Info("iam token issued", "user", u.Domain.Name+"/"+u.Name, "project_id", project, "expires_at", expires)

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Subject-Token", token)
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"token": map[string]any{
		"methods":    []string{"password"},
		"expires_at": expires.UTC().Format("2006-01-02T15:04:05.000000Z"),
		"issued_at":  now.UTC().Format("2006-01-02T15:04:05.000000Z"),
		"project":    map[string]any{"id": project, "name": project},
		"user":       map[string]any{"name": u.Name, "domain": map[string]any{"name": u.Domain.Name}},
	}})
}

func (f *Fake) recordIAMRefusal(r *http.Request, status int, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refusals = append(f.refusals, Refusal{Time: f.opts.Now(), Path: r.URL.Path, Status: status, ErrorCode: strconv.Itoa(status), Reason: reason})
}

// verifyToken checks an X-Auth-Token: static tokens are valid for any
// project; issued ones until they expire and for their project only. An
// expired token gets APIG.0307 "The token must be updated.", as documented.
func (f *Fake) verifyToken(token, project string, now time.Time) (string, *authFailure) {
	if len(token) > 32768 {
		return "", authFailed("token longer than 32768 characters")
	}
	for i, t := range f.opts.Tokens {
		if t == token {
			return "token:" + strconv.Itoa(i), nil
		}
	}
	f.mu.Lock()
	it, ok := f.issued[token]
	f.mu.Unlock()
	switch {
	case !ok || it.revoked:
		return "", authFailed("token is not valid")
	case !now.Before(it.expires):
		return "", &authFailure{code: "APIG.0307", msg: "The token must be updated."}
	case it.project != project:
		return "", authFailed("token is not valid for project " + project)
	}
	return "user:" + it.user, nil
}

// TokensIssued is the number of tokens issued so far.
func (f *Fake) TokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.issued)
}

// RevokeTokens invalidates every issued token, as IAM does when a
// password or permission changes: the next call with one gets 401.
func (f *Fake) RevokeTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tok, it := range f.issued {
		it.revoked = true
		f.issued[tok] = it
	}
}
