package api

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRuntimeManifestRoundTrip: a manifest in the official shape survives
// decoding and encoding with every field the official SDK checks, so a
// cached manifest served back still passes them.
func TestRuntimeManifestRoundTrip(t *testing.T) {
	in := `{"manifest_version":1,"runtime_id":"gpt2-q8_0","display_name":"GPT-2","interpreter":"gpt2","adapter_format":"gguf_lora",` +
		`"local_sdk":{"supported":true,"base_model":{"provider":"huggingface","repo":"o/r","file":"gpt2-q8_0.gguf","url":"https://h/gpt2-q8_0.gguf","size_bytes":10,"sha256":"ab"},"n_ctx":2048},` +
		`"prompt_template":{"format":"rendered_text","placeholder":"{INPUT}"},"program_assets":{"adapter_filename":"adapter.gguf"},` +
		`"base_inference":{"format":"rendered_text"},"js_sdk":{"supported":false}}`
	var m RuntimeManifest
	if err := json.Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	json.Unmarshal([]byte(in), &want)
	json.Unmarshal(out, &got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}
