package formats

import (
	"encoding/json"
	"testing"
	"time"
)

func TestEventTime(t *testing.T) {
	tests := []struct {
		name string
		json string
		want time.Time
	}{
		{"Unix seconds", `1586922308`, time.Unix(1586922308, 0)},
		{"Unix milliseconds", `1748503200123`, time.UnixMilli(1748503200123)},
		{"seconds as a string", `"1586922308"`, time.Unix(1586922308, 0)},
		{"milliseconds as a string", `"1748503200123"`, time.UnixMilli(1748503200123)},
		{"seconds in exponent form", `1.586922308e9`, time.Unix(1586922308, 0)},
		{"seconds in exponent form as a string, as old Docker Hub payloads have it", `"1.417566161e+09"`, time.Unix(1417566161, 0)},
		{"a fraction of a second is kept", `1586922308.5`, time.Unix(1586922308, 500_000_000)},
		{"RFC 3339 with an offset", `"2016-03-09T14:44:26.402973972-08:00"`, time.Date(2016, 3, 9, 22, 44, 26, 402973972, time.UTC)},
		{"an offset without a colon, as Nexus writes it", `"2016-11-14T19:32:13.515+0000"`, time.Date(2016, 11, 14, 19, 32, 13, 515_000_000, time.UTC)},
		{"no zone is read as UTC", `"2024-01-02T03:04:05"`, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"year one means unset, as GitHub writes it", `"0001-01-01T00:00:00Z"`, time.Time{}},
		{"zero is unset", `0`, time.Time{}},
		{"negative is unset", `-5`, time.Time{}},
		{"text is unset", `"yesterday"`, time.Time{}},
		{"an object is unset", `{"t":1}`, time.Time{}},
		{"null is unset", `null`, time.Time{}},
		{"absurdly large is unset", `1e300`, time.Time{}},
		{"NaN as a string is unset", `"NaN"`, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v struct {
				T eventTime `json:"t"`
			}
			if err := json.Unmarshal([]byte(`{"t":`+tt.json+`}`), &v); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !v.T.Equal(tt.want) {
				t.Fatalf("got %v, want %v", v.T.Time, tt.want)
			}
		})
	}
}
