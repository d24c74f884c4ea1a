package api

import "encoding/json"

// InferRequest is POST /infer: run a program on one input on the server.
type InferRequest struct {
	// ProgramID is a program id or a slug (user/name[@vN]).
	ProgramID   string   `json:"program_id"`
	Input       string   `json:"input"`
	MaxTokens   int      `json:"max_tokens,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
}

// Paths of InferResponse.Path: which side answered. The server also sends
// the path in the HeaderPath header, on every route (OpenAI ones included).
const (
	PathLocal    = "local"    // the compiled program, on this server's base model
	PathFallback = "fallback" // the upstream model, after the local answer was invalid or not confident
	PathUpstream = "upstream" // the upstream model (shadow routing: the program ran beside it)
)

// HeaderPath is the response header naming the path that answered.
const HeaderPath = "X-Paw-Path"

// InferResponse is the answer of POST /infer. Output, TokensGenerated and
// LatencyMS are the official service's fields; the rest are paw's extras.
type InferResponse struct {
	Output          string  `json:"output"`
	TokensGenerated int     `json:"tokens_generated"`
	LatencyMS       float64 `json:"latency_ms"`

	ProgramID    string `json:"program_id,omitempty"`
	FinishReason string `json:"finish_reason,omitempty"`
	// Probs is each label's probability, for programs with a labels contract.
	Probs map[string]float64 `json:"probs,omitempty"`
	// LogprobMin and LogprobMean summarise the output tokens' log-probabilities.
	LogprobMin  float64 `json:"logprob_min"`
	LogprobMean float64 `json:"logprob_mean"`
	Path        string  `json:"path"` // PathLocal, PathFallback or PathUpstream
}

// InferBatchRequest is POST /infer/batch (a paw extension): one program on
// several inputs, decoded together.
type InferBatchRequest struct {
	ProgramID   string   `json:"program_id"`
	Inputs      []string `json:"inputs"`
	MaxTokens   int      `json:"max_tokens,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
}

// InferBatchResponse holds one result per input, in input order.
type InferBatchResponse struct {
	Results []InferResponse `json:"results"`
}

// ProgramInfo is GET /programs/{id_or_slug}: the fields of the official
// program detail that a local server knows, plus Loaded.
type ProgramInfo struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Spec             string   `json:"spec"`
	Interpreter      string   `json:"interpreter,omitempty"`
	RuntimeID        string   `json:"runtime_id,omitempty"`
	CompilerSnapshot string   `json:"compiler_snapshot,omitempty"`
	Aliases          []string `json:"aliases"`
	CreatedAt        string   `json:"created_at,omitempty"`
	// Contract is the program's output contract (paw's extension), if any.
	Contract json.RawMessage `json:"contract,omitempty"`
	Loaded   bool            `json:"loaded"`
	// Registry is what the server's registry says of the function this
	// program is a version of (paw's extension), when it is registered.
	Registry *RegistryInfo `json:"registry,omitempty"`
}

// RegistryInfo is a registered function's governance, as ProgramInfo
// carries it: its owner and scope, the version this program is, the live
// one, and this version's last recorded test.
type RegistryInfo struct {
	Function    string `json:"function"`
	Owner       string `json:"owner"`
	Scope       string `json:"scope,omitempty"`
	Version     int    `json:"version"`
	LiveVersion int    `json:"live_version"` // 0: none is live
	Retired     bool   `json:"retired,omitempty"`
	Expired     bool   `json:"expired,omitempty"`
	// LastTest is nil when the version was never tested.
	LastTest *RegistryTest `json:"last_test,omitempty"`
}

// RegistryTest is a version's last recorded test: the gates' verdict, when,
// and the report's accuracy and case count when it has them.
type RegistryTest struct {
	Passed   bool     `json:"passed"`
	At       string   `json:"at"` // RFC 3339
	Accuracy *float64 `json:"accuracy,omitempty"`
	N        int      `json:"n,omitempty"`
}

// Health is GET /health and GET /ready.
type Health struct {
	Status string `json:"status"` // "ok", or "loading" while preloads run
	// Loaded is how many functions are loaded; Queue how many requests are
	// admitted (running or waiting for the engine).
	Loaded int `json:"loaded"`
	Queue  int `json:"queue"`
}
