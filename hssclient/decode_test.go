package hssclient

import (
	"errors"
	"testing"
)

// The decoders of answers take bytes from the network: whatever they get,
// they return a value or an error, never panic, and never a page that
// claims fewer rows in total than a negative count.

func FuzzDecodeImagePage(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"total_num":1,"data_list":[{"id":7,"namespace":"n","scan_status":"success","scannable":true}]}`,
		`{"total_num":-1}`, `{"data_list":null}`, `{"data_list":[null]}`, `[]`, `{"total_num":1e3}`, `{"total_num":99999999999}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodeImagePage(data)
		if err != nil {
			if p.Total != 0 || p.Images != nil {
				t.Fatalf("an error with a page: %+v", p)
			}
			return
		}
		if p.Total < 0 {
			t.Fatalf("negative total %d", p.Total)
		}
	})
}

func FuzzDecodeSyncAnswer(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"error_code":0,"error_description":"success"}`, `{"error_code":5,"error_description":"x"}`,
		`{"error_code":"0"}`, `{"error_code":1.5}`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := decodeSyncAnswer(data)
		var re *ResultError
		if errors.As(err, &re) && (re.Code == 0 || len(re.Description) > maxErrorMsg+3) {
			t.Fatalf("result error %+v", re)
		}
	})
}

func FuzzDecodeTaskPage(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"total_num":1,"data_list":[{"task_id":"t","task_status":100,"failed_images":[{"id":1}]}]}`,
		`{"total_num":-1}`, `{"data_list":[{"task_status":"x"}]}`, `{"data_list":[null]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodeTaskPage(data)
		if err != nil {
			if p.Total != 0 || p.Tasks != nil {
				t.Fatalf("an error with a page: %+v", p)
			}
			return
		}
		if p.Total < 0 {
			t.Fatalf("negative total %d", p.Total)
		}
	})
}
