package program

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paw-dev/paw/internal/fixture"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the generated seeds in testdata/fuzz")

// smallBundle returns a small valid bundle: a rank-1 F32 adapter on one
// target, so that the fuzzer's inputs stay short.
func smallBundle(t testing.TB, preset string) []byte {
	interp := map[string]string{"qwen3-tiny": "qwen3", "gpt2-tiny": "gpt2"}[preset]
	p, err := Pack(PackOptions{
		Spec: "s", PseudoProgram: "P", Interpreter: interp, Now: time.Unix(0, 0),
		Adapter: adapterBytes(t, preset, fixture.Adapter{Rank: 1, Alpha: 1, Seed: 1, Targets: []string{"attn_output"}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Extra = map[string][]byte{"prefix_tokens.json": []byte("[1]")}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// seeds returns the generated seed corpora by fuzz target and file name.
func seeds(t testing.TB) map[string]map[string][]byte {
	valid := validEntries(t)[:0]
	st := rawSafetensors(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},"c":{"dtype":"BF16","shape":[1,2],"data_offsets":[20,24]}}`,
		make([]byte, 24))
	return map[string]map[string][]byte{
		"FuzzNewReader": {
			"seed-qwen3": smallBundle(t, "qwen3-tiny"),
			"seed-gpt2":  smallBundle(t, "gpt2-tiny"),
			"seed-slip":  buildZip(t, append(valid, zipEntry{name: "../x", data: []byte("x")}, zipEntry{name: "meta.json", data: []byte("{}")})),
		},
		"FuzzParseTemplate": {
			"seed-qwen3": []byte(mustTemplate(t, "qwen3").String()),
			"seed-gpt2":  []byte(mustTemplate(t, "gpt2").String()),
			"seed-two":   []byte(Placeholder + "x" + Placeholder),
		},
		"FuzzSafetensors": {
			"seed-three": st,
			"seed-empty": rawSafetensors(`{}`, nil),
		},
	}
}

func mustTemplate(t testing.TB, interp string) Template {
	tmpl, err := RenderTemplate(interp, "Count the words.")
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func TestFuzzSeeds(t *testing.T) {
	for target, files := range seeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		for name, data := range files {
			path := filepath.Join(dir, name)
			want := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
			if target == "FuzzParseTemplate" {
				want = "go test fuzz v1\nstring(" + strconv.Quote(string(data)) + ")\n"
			}
			if *updateSeeds {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != want {
				t.Errorf("%s is stale or missing (%v); run go test -run TestFuzzSeeds -update-seeds ./program/", path, err)
			}
		}
	}
}

func FuzzNewReader(f *testing.F) {
	limits := Limits{MaxArchive: 1 << 20, MaxExpanded: 4 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := limits.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := p.Write(&buf); err != nil {
			t.Fatalf("an opened bundle does not write: %v", err)
		}
		again, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("a written bundle does not read: %v", err)
		}
		if diff := cmp.Diff(p, again, cmpProgram); diff != "" {
			t.Fatalf("round trip changed the program (-first +second):\n%s", diff)
		}
	})
}

func FuzzParseTemplate(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		tmpl, err := ParseTemplate(s)
		if err != nil {
			return
		}
		if tmpl.String() != s {
			t.Fatalf("String() = %q, want %q", tmpl.String(), s)
		}
		if got := tmpl.Render(Placeholder); got != s {
			t.Fatalf("Render(placeholder) = %q, want %q", got, s)
		}
	})
}

func FuzzSafetensors(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseSafetensors(data)
		if err != nil {
			return
		}
		for _, tn := range st.Tensors {
			if _, err := tn.Float32(); err != nil {
				t.Fatalf("tensor %q parsed but does not convert: %v", tn.Name, err)
			}
		}
		enc, err := EncodeSafetensors(st.Tensors, st.Metadata)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := ParseSafetensors(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if diff := cmp.Diff(st, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
