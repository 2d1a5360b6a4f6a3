package scanjob

import (
	"encoding/json"
	"time"
)

// AppendJSON appends the job as json.Marshal encodes it, byte for byte,
// to b. The queue encodes every job it stores, and json.Marshal's
// reflection and its fresh buffer were most of the intake's cost of
// storing one; this writes into a buffer the caller reuses. A job whose
// strings are all plain (printable ASCII that JSON and json.Marshal's
// HTML escaping leave alone, as every valid name is) is written here;
// any other goes through json.Marshal, so the two never differ
// (FuzzAppendJSON). The error is json.Marshal's, for a time outside
// years 0-9999.
func (j *Job) AppendJSON(b []byte) ([]byte, error) {
	t := &j.Target
	for _, s := range [...]string{j.Receiver, j.Registry, j.RegistryHost, j.Namespace, j.Image, j.Tag, j.Digest,
		j.InstanceID, j.InstanceURL, t.Region, t.ProjectID, t.EnterpriseProjectID, string(t.ImageType), j.EventID, j.RequestID,
		string(j.Lane)} {
		if !plainJSON(s) {
			enc, err := json.Marshal(j)
			return append(b, enc...), err
		}
	}
	start := len(b)
	b = append(b, `{"receiver":"`...)
	b = append(b, j.Receiver...)
	b = append(b, `","registry":"`...)
	b = append(b, j.Registry...)
	b = append(b, '"')
	b = appendOmitEmpty(b, `,"registry_host":"`, j.RegistryHost)
	b = append(b, `,"namespace":"`...)
	b = append(b, j.Namespace...)
	b = append(b, `","image_name":"`...)
	b = append(b, j.Image...)
	b = append(b, `","image_version":"`...)
	b = append(b, j.Tag...)
	b = append(b, '"')
	b = appendOmitEmpty(b, `,"digest":"`, j.Digest)
	b = appendOmitEmpty(b, `,"instance_id":"`, j.InstanceID)
	b = appendOmitEmpty(b, `,"instance_url":"`, j.InstanceURL)
	b = append(b, `,"target":{"region":"`...)
	b = append(b, t.Region...)
	b = append(b, `","project_id":"`...)
	b = append(b, t.ProjectID...)
	b = append(b, '"')
	b = appendOmitEmpty(b, `,"enterprise_project_id":"`, t.EnterpriseProjectID)
	b = append(b, `,"image_type":"`...)
	b = append(b, t.ImageType...)
	b = append(b, `"}`...)
	b = appendOmitEmpty(b, `,"event_id":"`, j.EventID)
	b = appendOmitEmpty(b, `,"request_id":"`, j.RequestID)
	var err error
	if b, err = appendOmitZero(b, `,"pushed_at":"`, j.PushedAt); err != nil {
		return b[:start], err
	}
	if b, err = appendOmitZero(b, `,"accepted_at":"`, j.AcceptedAt); err != nil {
		return b[:start], err
	}
	b = appendOmitEmpty(b, `,"lane":"`, string(j.Lane))
	return append(b, '}'), nil
}

// appendOmitEmpty writes a string member whose tag says omitempty;
// member is its key up to and with the opening quote of the value.
func appendOmitEmpty(b []byte, member, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, member...)
	b = append(b, s...)
	return append(b, '"')
}

// appendOmitZero writes a time member whose tag says omitzero, as
// time.Time.MarshalJSON writes it (RFC 3339 with nanoseconds).
func appendOmitZero(b []byte, member string, t time.Time) ([]byte, error) {
	if t.IsZero() {
		return b, nil
	}
	out, err := t.AppendText(append(b, member...))
	if err != nil {
		// json.Marshal's words for it.
		_, err = json.Marshal(t)
		return b, err
	}
	return append(out, '"'), nil
}

// plainJSON reports whether json.Marshal writes s as it is between
// quotes: printable ASCII without the characters it escapes (", \ and,
// for HTML, <, > and &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < ' ' || c > '~', c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
