package hsstest

import (
	"net/http"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/aksk"
)

// authFailure is a 401 answer.
type authFailure struct{ code, msg string }

func authFailed(msg string) *authFailure {
	f := aksk.Failed(msg)
	return &authFailure{code: f.Code, msg: f.Msg}
}

// verifyAKSK checks the Authorization header of r with internal/aksk (the
// verifier both fakes share) and returns the access key that signed it.
func (f *Fake) verifyAKSK(r *http.Request, body []byte, now time.Time) (string, *authFailure) {
	ak, fail := aksk.Verify(r, body, now, f.opts.AccessKeys, f.opts.MaxSkew)
	if fail != nil {
		return "", &authFailure{code: fail.Code, msg: fail.Msg}
	}
	return ak, nil
}
