package api

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestChatRequestDecode(t *testing.T) {
	tests := []struct {
		name, body string
		want       ChatRequest
		wantErr    bool
	}{
		{"string content, stop string", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":"x"}`,
			ChatRequest{Model: "m", Messages: []ChatMessage{{Role: "user", Content: "hi"}}, Stop: StringList{"x"}}, false},
		{"text parts, stop list", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"stop":["x","y"]}`,
			ChatRequest{Model: "m", Messages: []ChatMessage{{Role: "user", Content: "ab"}}, Stop: StringList{"x", "y"}}, false},
		{"null content", `{"model":"m","messages":[{"role":"assistant","content":null}]}`,
			ChatRequest{Model: "m", Messages: []ChatMessage{{Role: "assistant"}}}, false},
		{"image part", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, ChatRequest{}, true},
		{"content number", `{"messages":[{"role":"user","content":3}]}`, ChatRequest{}, true},
		{"stop number", `{"stop":3}`, ChatRequest{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got ChatRequest
			err := json.Unmarshal([]byte(tt.body), &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestChatRequestEncode: a request marshals to exactly the keys set, in the
// order upstream's answer cache hashes.
func TestChatRequestEncode(t *testing.T) {
	zero := 0.0
	b, err := json.Marshal(ChatRequest{Model: "m", Messages: []ChatMessage{{Role: "user", Content: "hi"}}, Temperature: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}
