package hub

import (
	"testing"

	"github.com/paw-dev/paw/program"
)

func FuzzManifest(f *testing.F) {
	f.Add([]byte(`{"runtime_id":"qwen3-0.6b-q6_k","n_ctx":2048,"local_sdk":{"base_model":{"url":"https://h/x.gguf","size_bytes":622733120,"sha256":"9a16ed5cacba959e63b62e2b6840c3eca2b51c3c3e51d31367ef8e4aafeae33c"}}}`))
	f.Add([]byte(`{"local_sdk":{"base_model":{"url":"/files/../../x","size_bytes":-1}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		for _, pin := range []Runtime{{}, officialRuntimes[program.DefaultRuntimeQwen3]} {
			rt, err := mergeManifest(pin, m, "http://127.0.0.1/api/v1")
			if err != nil {
				continue
			}
			if !reFileName.MatchString(rt.File) || rt.Size <= 0 || !reSHA256.MatchString(rt.SHA256) {
				t.Fatalf("accepted runtime %+v", rt)
			}
			if pin.File != "" && rt != pin {
				t.Fatalf("pin lost: %+v", rt)
			}
		}
	})
}

func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 5-9/*", "bytes 9-5/10", "bytes -1-2/3", "items 0-1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, size, ok := parseContentRange(s)
		if ok && (start < 0 || (size != -1 && size <= start)) {
			t.Fatalf("%q → %d, %d", s, start, size)
		}
	})
}
