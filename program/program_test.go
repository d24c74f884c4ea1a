package program

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
)

// adapterBytes writes a fixture adapter for preset and returns its bytes.
func adapterBytes(t testing.TB, preset string, a fixture.Adapter) []byte {
	t.Helper()
	cfg, err := fixture.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "adapter.gguf")
	if err := fixture.WriteAdapter(path, cfg, a); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// baseModel writes the fixture model cfg and opens it.
func baseModel(t testing.TB, cfg fixture.Config) *gguf.Reader {
	t.Helper()
	path := filepath.Join(t.TempDir(), "base.gguf")
	if err := fixture.WriteModel(path, cfg); err != nil {
		t.Fatal(err)
	}
	r, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &r.Reader
}

// testProgram returns a packed program for preset ("qwen3-tiny" or
// "gpt2-tiny") with an official-layout adapter, unknown meta fields and
// extra members.
func testProgram(t testing.TB, preset string) *Program {
	t.Helper()
	interp := InterpreterQwen3
	if strings.HasPrefix(preset, "gpt2") {
		interp = InterpreterGPT2
	}
	p, err := Pack(PackOptions{
		Spec: "Classify sentiment", PseudoProgram: "Say positive or negative.", Interpreter: interp,
		Adapter: adapterBytes(t, preset, fixture.OfficialAdapter(7)),
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Meta.Extra = map[string]json.RawMessage{
		"tags":     json.RawMessage(`["a","b"]`),
		"examples": json.RawMessage(`[{"input":"x","output":"y"}]`),
		"runtime":  json.RawMessage(`{"runtime_id":"qwen3-0.6b-q6_k","local_sdk":{"n_ctx":2048}}`),
	}
	p.Extra = map[string][]byte{
		"adapter_config.json": []byte(`{"r":64}`),
		"prefix_cache.bin":    {0, 1, 2, 3, 255},
		"prefix_tokens.json":  []byte(`[1,2,3]`),
	}
	return p
}

// cmpProgram compares programs, Meta.Extra as compact JSON.
var cmpProgram = cmp.Options{
	cmp.Transformer("json", func(m json.RawMessage) string {
		var buf bytes.Buffer
		if err := json.Compact(&buf, m); err != nil {
			return "invalid:" + string(m)
		}
		return buf.String()
	}),
	cmpopts.EquateEmpty(),
}

func TestRoundTrip(t *testing.T) {
	for _, preset := range []string{"qwen3-tiny", "gpt2-tiny"} {
		t.Run(preset, func(t *testing.T) {
			p := testProgram(t, preset)
			if p.LoRA.Rank != 64 || p.LoRA.Alpha != 16 || p.Meta.LoRARank != 64 || p.Meta.LoRAAlpha != 16 {
				t.Errorf("LoRA %+v, meta rank %d alpha %v; want rank 64 alpha 16", p.LoRA, p.Meta.LoRARank, p.Meta.LoRAAlpha)
			}
			var buf bytes.Buffer
			if err := p.Write(&buf); err != nil {
				t.Fatal(err)
			}
			got, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(p, got, cmpProgram); diff != "" {
				t.Errorf("Write -> NewReader (-want +got):\n%s", diff)
			}
			var again bytes.Buffer
			if err := got.Write(&again); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), again.Bytes()) {
				t.Error("rewriting the read bundle changed its bytes; Write is not deterministic")
			}

			dir := filepath.Join(t.TempDir(), "prog")
			for range 2 { // the second WriteDir replaces the first
				if err := p.WriteDir(dir); err != nil {
					t.Fatal(err)
				}
			}
			got, err = Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(p, got, cmpProgram); diff != "" {
				t.Errorf("WriteDir -> Open (-want +got):\n%s", diff)
			}
			file := filepath.Join(t.TempDir(), "p.paw")
			if err := p.WriteFile(file); err != nil {
				t.Fatal(err)
			}
			got, err = Open(file)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(p, got, cmpProgram); diff != "" {
				t.Errorf("WriteFile -> Open (-want +got):\n%s", diff)
			}
			entries, _ := os.ReadDir(filepath.Dir(file))
			if len(entries) != 1 {
				t.Errorf("WriteFile left %d entries, want only the bundle", len(entries))
			}
		})
	}
}

func TestPackMeta(t *testing.T) {
	p := testProgram(t, "gpt2-tiny")
	m := p.Meta
	if !ValidID(m.ProgramID) || len(m.ProgramID) != 32 || m.ProgramID != NewID(p) {
		t.Errorf("program_id %q, want NewID %q", m.ProgramID, NewID(p))
	}
	if m.Interpreter != InterpreterGPT2 || m.RuntimeID != DefaultRuntimeGPT2 || m.CompilerSnapshot != DefaultCompilerSnapshot ||
		m.Spec != "Classify sentiment" || !strings.HasSuffix(m.CreatedAt, "Z") {
		t.Errorf("meta %+v", m)
	}
	if want := "Say positive or negative.\n\n[INPUT]\n{INPUT_PLACEHOLDER}\n[END_INPUT]"; p.Template.String() != want {
		t.Errorf("template %q, want %q", p.Template.String(), want)
	}
	if len(p.AdapterSHA256) != 64 {
		t.Errorf("AdapterSHA256 %q", p.AdapterSHA256)
	}
	// A qwen3 adapter cannot be packed for gpt2.
	_, err := Pack(PackOptions{Interpreter: "gpt2", Adapter: adapterBytes(t, "qwen3-tiny", fixture.OfficialAdapter(1))})
	if !errors.Is(err, ErrBaseMismatch) {
		t.Errorf("qwen3 adapter for gpt2: %v, want ErrBaseMismatch", err)
	}
}

func TestMetaJSON(t *testing.T) {
	in := `{"program_id":"0123456789abcdef","spec":"s","interpreter":"gpt2","lora_rank":64,"lora_alpha":16.5,
		"runtime_id":"gpt2-q8_0","created_at":"2025-01-01T00:00:00Z","compiler_snapshot":"c",
		"unknown":{"nested":[1,2,{"x":null}]},"n":1e4,"z":null}`
	var m Meta
	if err := json.Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	want := Meta{ProgramID: "0123456789abcdef", Spec: "s", Interpreter: "gpt2", RuntimeID: "gpt2-q8_0",
		CompilerSnapshot: "c", CreatedAt: "2025-01-01T00:00:00Z", LoRARank: 64, LoRAAlpha: 16.5,
		Extra: map[string]json.RawMessage{"unknown": json.RawMessage(`{"nested":[1,2,{"x":null}]}`), "n": json.RawMessage(`1e4`), "z": json.RawMessage(`null`)}}
	if diff := cmp.Diff(want, m, cmpProgram); diff != "" {
		t.Errorf("decode (-want +got):\n%s", diff)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Meta
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, back, cmpProgram); diff != "" {
		t.Errorf("re-encode (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`[]`, `null`, `{"program_id":1}`, `{"lora_rank":1.5}`, `{"lora_rank":-1}`, `{"lora_alpha":"x"}`, `{`} {
		if err := json.Unmarshal([]byte(bad), new(Meta)); err == nil {
			t.Errorf("%s: decoded without error", bad)
		}
	}
}

// TestMetaContract: the stored contract comes back raw from meta.json, and
// a meta without one has none.
func TestMetaContract(t *testing.T) {
	var m Meta
	if err := json.Unmarshal([]byte(`{"spec":"s","paw_contract":{"kind":"labels","labels":["a","b"]}}`), &m); err != nil {
		t.Fatal(err)
	}
	if got, want := string(m.Contract()), `{"kind":"labels","labels":["a","b"]}`; got != want {
		t.Errorf("Contract() = %s, want %s", got, want)
	}
	if c := (Meta{Spec: "s"}).Contract(); c != nil {
		t.Errorf("no stored contract: Contract() = %s, want nil", c)
	}
}

func TestTemplate(t *testing.T) {
	tests := []struct {
		name, interp, pseudo, want string
	}{
		{"qwen3", "qwen3", "Count the words.",
			"<|im_start|>user\nCount the words.\n\n[INPUT]\n{INPUT_PLACEHOLDER}\n[END_INPUT]<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"},
		{"qwen3 full name", InterpreterQwen3, "P",
			"<|im_start|>user\nP\n\n[INPUT]\n{INPUT_PLACEHOLDER}\n[END_INPUT]<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"},
		{"gpt2", "gpt2", "Count the words.", "Count the words.\n\n[INPUT]\n{INPUT_PLACEHOLDER}\n[END_INPUT]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := RenderTemplate(tt.interp, tt.pseudo)
			if err != nil {
				t.Fatal(err)
			}
			if tmpl.String() != tt.want {
				t.Errorf("got %q\nwant %q", tmpl.String(), tt.want)
			}
			parsed, err := ParseTemplate(tt.want)
			if err != nil || parsed != tmpl {
				t.Errorf("ParseTemplate = %+v, %v; want %+v", parsed, err, tmpl)
			}
			if got, want := tmpl.Render("hi {INPUT_PLACEHOLDER}"), strings.Replace(tt.want, Placeholder, "hi {INPUT_PLACEHOLDER}", 1); got != want {
				t.Errorf("Render = %q, want %q", got, want)
			}
		})
	}
	for _, s := range []string{"", "no placeholder", Placeholder + Placeholder, "a{INPUT_PLACEHOLDER}b{INPUT_PLACEHOLDER}"} {
		if _, err := ParseTemplate(s); !errors.Is(err, ErrPlaceholder) {
			t.Errorf("ParseTemplate(%q) = %v, want ErrPlaceholder", s, err)
		}
	}
	if _, err := ParseTemplate("\xff" + Placeholder); !errors.Is(err, ErrTemplate) {
		t.Errorf("invalid UTF-8: %v, want ErrTemplate", err)
	}
	if _, err := RenderTemplate("gpt2", "x "+Placeholder); !errors.Is(err, ErrPlaceholder) {
		t.Errorf("placeholder in pseudo-program: %v", err)
	}
	if _, err := RenderTemplate("llama", "x"); !errors.Is(err, ErrInterpreter) {
		t.Errorf("unknown interpreter: %v", err)
	}
}

func TestParseRef(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	tests := []struct {
		in, str string
		want    Ref
		err     bool
	}{
		{in: "./x.paw", want: Ref{Path: "./x.paw"}},
		{in: "x.paw", want: Ref{Path: "x.paw"}},
		{in: "/abs/dir", want: Ref{Path: "/abs/dir"}},
		{in: "../d", want: Ref{Path: "../d"}},
		{in: "~/p", want: Ref{Path: "~/p"}},
		{in: "a/b/c", want: Ref{Path: "a/b/c"}},
		{in: id, want: Ref{ID: id}},
		{in: "0123456789abcdef", want: Ref{ID: "0123456789abcdef"}},
		{in: "email-triage", str: "programasweights/email-triage", want: Ref{Owner: DefaultOwner, Name: "email-triage"}},
		{in: "alice/sentiment", want: Ref{Owner: "alice", Name: "sentiment"}},
		{in: "alice/sentiment@v3", want: Ref{Owner: "alice", Name: "sentiment", Version: 3}},
		{in: "name@v12", str: "programasweights/name@v12", want: Ref{Owner: DefaultOwner, Name: "name", Version: 12}},
		{in: "0123456789ABCDEF", str: "programasweights/0123456789ABCDEF", want: Ref{Owner: DefaultOwner, Name: "0123456789ABCDEF"}},
		{in: "", err: true},
		{in: "alice/", err: true},
		{in: "/", want: Ref{Path: "/"}},
		{in: "alice/x@3", err: true},
		{in: "alice/x@v0", err: true},
		{in: "alice/x@v01", err: true},
		{in: "alice/x@v", err: true},
		{in: "alice/x@v1@v2", err: true},
		{in: "-x", err: true},
		{in: "a b", err: true},
		{in: "a/b c", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRef(tt.in)
			if tt.err {
				if !errors.Is(err, ErrRef) {
					t.Fatalf("ParseRef(%q) = %+v, %v; want ErrRef", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			str := tt.str
			if str == "" {
				str = tt.in
			}
			if got.String() != str {
				t.Errorf("String() = %q, want %q", got.String(), str)
			}
			if got.IsSlug() != (tt.want.Name != "") {
				t.Errorf("IsSlug() = %v", got.IsSlug())
			}
			if again, err := ParseRef(got.String()); err != nil || again != got {
				t.Errorf("ParseRef(String()) = %+v, %v", again, err)
			}
		})
	}
}

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{
		"0123456789abcdef": true, strings.Repeat("a", 64): true, strings.Repeat("a", 65): false,
		"0123456789abcde": false, "0123456789ABCDEF": false, "0123456789abcdeg": false, "": false,
	} {
		if ValidID(s) != want {
			t.Errorf("ValidID(%q) = %v", s, !want)
		}
	}
}

func TestCheckBase(t *testing.T) {
	qwen, _ := fixture.Preset("qwen3-tiny")
	gpt2, _ := fixture.Preset("gpt2-tiny")
	otherFFN := qwen
	otherFFN.FFN = 96
	qp := testProgram(t, "qwen3-tiny")
	gp := testProgram(t, "gpt2-tiny")
	tests := []struct {
		name    string
		p       *Program
		base    fixture.Config
		wantErr string
	}{
		{"qwen3 ok", qp, qwen, ""},
		{"gpt2 ok", gp, gpt2, ""},
		{"gpt2 adapter on qwen3", gp, qwen, `adapter is for "gpt2", base model is "qwen3"`},
		{"qwen3 adapter, other FFN", qp, otherFFN, "blk.0.ffn_gate.weight: base shape [64 96]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.CheckBase(baseModel(t, tt.base))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrBaseMismatch) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want ErrBaseMismatch containing %q", err, tt.wantErr)
			}
		})
	}
	t.Run("an adapter as the base model", func(t *testing.T) {
		r, err := gguf.NewReader(bytes.NewReader(qp.Adapter), int64(len(qp.Adapter)))
		if err != nil {
			t.Fatal(err)
		}
		if err := qp.CheckBase(r); !errors.Is(err, ErrBaseMismatch) || !strings.Contains(err.Error(), "is a LoRA adapter") {
			t.Fatalf("got %v, want ErrBaseMismatch saying the base is an adapter", err)
		}
	})
}

func TestValidateOnWrite(t *testing.T) {
	tests := []struct {
		name   string
		modify func(p *Program)
		want   error
	}{
		{"bad id", func(p *Program) { p.Meta.ProgramID = "xyz" }, ErrMeta},
		{"no interpreter", func(p *Program) { p.Meta.Interpreter = "" }, ErrMeta},
		{"placeholder in prefix", func(p *Program) { p.Template.Prefix += Placeholder }, ErrPlaceholder},
		{"not an adapter", func(p *Program) { p.Adapter = []byte("GGUF") }, ErrAdapter},
		{"extra shadows meta", func(p *Program) { p.Extra["meta.json"] = nil }, ErrUnsafeMember},
		{"extra in a dir", func(p *Program) { p.Extra["d/x"] = nil }, ErrUnsafeMember},
		{"extra escapes", func(p *Program) { p.Extra["../x"] = nil }, ErrUnsafeMember},
		{"extra case dup", func(p *Program) { p.Extra["META.json"] = nil }, ErrUnsafeMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testProgram(t, "qwen3-tiny")
			tt.modify(p)
			if err := p.Write(new(bytes.Buffer)); !errors.Is(err, tt.want) {
				t.Errorf("Write: %v, want %v", err, tt.want)
			}
			dir := filepath.Join(t.TempDir(), "d")
			if err := p.WriteDir(dir); !errors.Is(err, tt.want) {
				t.Errorf("WriteDir: %v, want %v", err, tt.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("failed WriteDir left %s", dir)
			}
		})
	}
}
