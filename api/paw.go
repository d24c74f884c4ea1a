package api

import (
	"encoding/json"
)

// APIPrefix is the path prefix of the hosted PAW REST API.
const APIPrefix = "/api/v1"

// KeyHeader is the request header that carries the API key.
const KeyHeader = "X-API-Key"

// ResolveResponse is GET /programs/resolve/{slug}.
type ResolveResponse struct {
	ProgramID string `json:"program_id"`
	Slug      string `json:"slug,omitempty"`
	Version   int    `json:"version,omitempty"`
}

// RuntimeManifest is GET /models/runtimes/{runtime_id} (manifest v1): the
// base model an interpreter runtime runs on and its prompt contract. The
// fields the official SDK checks (interpreter, adapter_format,
// local_sdk.supported, base_model.file) are kept, so that a manifest paw
// serves from its cache passes the SDK's checks; the sections paw does not
// read are kept verbatim.
type RuntimeManifest struct {
	ManifestVersion int      `json:"manifest_version,omitempty"`
	RuntimeID       string   `json:"runtime_id"`
	DisplayName     string   `json:"display_name,omitempty"`
	Interpreter     string   `json:"interpreter,omitempty"`
	AdapterFormat   string   `json:"adapter_format,omitempty"` // AdapterFormatGGUFLoRA
	NCtx            int      `json:"n_ctx,omitempty"`
	LocalSDK        LocalSDK `json:"local_sdk"`
	// PromptTemplate is the prompt template contract, kept verbatim.
	PromptTemplate json.RawMessage `json:"prompt_template,omitempty"`
	ProgramAssets  json.RawMessage `json:"program_assets,omitempty"`
	BaseInference  json.RawMessage `json:"base_inference,omitempty"`
	JSSDK          json.RawMessage `json:"js_sdk,omitempty"`
}

// AdapterFormatGGUFLoRA is the adapter format of every official runtime.
const AdapterFormatGGUFLoRA = "gguf_lora"

// LocalSDK is a runtime manifest's local_sdk: whether a local SDK can run
// the runtime, and on which base model.
type LocalSDK struct {
	Supported *bool     `json:"supported,omitempty"`
	BaseModel BaseModel `json:"base_model"`
	NCtx      int       `json:"n_ctx,omitempty"`
}

// BaseModel is where a runtime's GGUF base model is downloaded from. The
// official manifest names the file in File; Filename is an older spelling.
type BaseModel struct {
	Name      string `json:"name,omitempty"`
	Provider  string `json:"provider,omitempty"`
	Repo      string `json:"repo,omitempty"`
	File      string `json:"file,omitempty"`
	Filename  string `json:"filename,omitempty"`
	URL       string `json:"url"`
	SizeBytes int64  `json:"size_bytes"`
	SHA256    string `json:"sha256"`
}

// CompileRequest is POST /compile, /compile/async and /compile/precheck.
type CompileRequest struct {
	Spec      string   `json:"spec"`
	Public    bool     `json:"public"`
	Compiler  string   `json:"compiler,omitempty"`
	Slug      string   `json:"slug,omitempty"`
	Name      string   `json:"name,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Ephemeral bool     `json:"ephemeral,omitempty"`
	// Examples (paw's extension) are what a local compiler trains on;
	// without them it takes the spec's Input:/Output: examples.
	Examples []CompileExample `json:"examples,omitempty"`
}

// CompileExample is one input and its expected output.
type CompileExample struct {
	Input  string `json:"input"`
	Output string `json:"output"`
}

// CompileResponse is the result of POST /compile, and of a finished async job.
type CompileResponse struct {
	ProgramID        string             `json:"program_id"`
	Status           string             `json:"status"`
	Slug             string             `json:"slug,omitempty"`
	CompilerSnapshot string             `json:"compiler_snapshot,omitempty"`
	CompilerKind     string             `json:"compiler_kind,omitempty"`
	RuntimeID        string             `json:"runtime_id,omitempty"`
	Timings          map[string]float64 `json:"timings,omitempty"`
	Error            string             `json:"error,omitempty"`
	Version          int                `json:"version,omitempty"`
	VersionAction    string             `json:"version_action,omitempty"`
}

// Job states of the async compile API.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobCompleted = "completed"
	JobFailed    = "failed"
	JobCancelled = "cancelled"
)

// CompileJob is POST /compile/async and GET|DELETE /compile/{job_id}.
type CompileJob struct {
	JobID    string  `json:"job_id"`
	Status   string  `json:"status"`
	Progress float64 `json:"progress,omitempty"`
	Message  string  `json:"message,omitempty"`
	Error    string  `json:"error,omitempty"`
	// Result is set once the job has completed. Some service versions put
	// the result fields at the top level instead; ProgramID catches those.
	Result    *CompileResponse `json:"result,omitempty"`
	ProgramID string           `json:"program_id,omitempty"`
	Compiler  string           `json:"compiler,omitempty"`
	CreatedAt string           `json:"created_at,omitempty"`
	UpdatedAt string           `json:"updated_at,omitempty"`
}

// Done reports whether the job reached a terminal state.
func (j *CompileJob) Done() bool {
	switch j.Status {
	case JobCompleted, JobFailed, JobCancelled, "succeeded", "success", "done", "error", "canceled":
		return true
	}
	return false
}

// Succeeded reports whether the job finished with a program.
func (j *CompileJob) Succeeded() bool {
	switch j.Status {
	case JobCompleted, "succeeded", "success", "done":
		return true
	}
	return false
}

// PrecheckResponse is POST /compile/precheck: whether a spec would compile.
type PrecheckResponse struct {
	OK       bool     `json:"ok"`
	Message  string   `json:"message,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Errors   []string `json:"errors,omitempty"`
	// EstimatedSeconds is the expected compile time, when the service says.
	EstimatedSeconds float64 `json:"estimated_seconds,omitempty"`
	Compiler         string  `json:"compiler,omitempty"`
}

// CompilerInfo is one entry of GET /models/compilers.
type CompilerInfo struct {
	Name        string `json:"name"`
	Kind        string `json:"kind,omitempty"`
	Description string `json:"description,omitempty"`
	RuntimeID   string `json:"runtime_id,omitempty"`
	Default     bool   `json:"default,omitempty"`
	Async       bool   `json:"async,omitempty"`
}

// CompilersResponse is GET /models/compilers. The service answers either
// {"compilers": [...]} or a bare list; UnmarshalJSON accepts both.
type CompilersResponse struct {
	Compilers []CompilerInfo `json:"compilers"`
	Default   string         `json:"default,omitempty"`
}

// UnmarshalJSON accepts an object with "compilers" or a bare list; list
// entries may be objects or plain names.
func (r *CompilersResponse) UnmarshalJSON(b []byte) error {
	var list []json.RawMessage
	if err := json.Unmarshal(b, &list); err == nil {
		return r.setList(list)
	}
	var obj struct {
		Compilers []json.RawMessage `json:"compilers"`
		Default   string            `json:"default"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	r.Default = obj.Default
	return r.setList(obj.Compilers)
}

func (r *CompilersResponse) setList(list []json.RawMessage) error {
	r.Compilers = make([]CompilerInfo, 0, len(list))
	for _, m := range list {
		var c CompilerInfo
		var name string
		if err := json.Unmarshal(m, &name); err == nil {
			c.Name = name
		} else if err := json.Unmarshal(m, &c); err != nil {
			return err
		}
		if c.Name == r.Default && c.Name != "" {
			c.Default = true
		}
		r.Compilers = append(r.Compilers, c)
	}
	return nil
}
