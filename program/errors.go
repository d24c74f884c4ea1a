package program

import "errors"

// Sentinel errors. Errors returned by this package wrap one of them (and the
// name of the member at fault), so match them with errors.Is.
var (
	// ErrUnsafeMember means a member's name or type could escape or confuse
	// an unpacked bundle: "..", an absolute or backslash path, a symlink or
	// other non-regular file, a duplicate name, or a known member nested in
	// a directory.
	ErrUnsafeMember = errors.New("program: unsafe bundle member")
	// ErrTooLarge means the bundle exceeds a size or count limit.
	ErrTooLarge = errors.New("program: bundle too large")
	// ErrFormat means the bundle is not a readable ZIP archive or a member
	// is corrupt.
	ErrFormat = errors.New("program: malformed bundle")
	// ErrMissingMember means a required member is absent.
	ErrMissingMember = errors.New("program: missing bundle member")
	// ErrPlaceholder means a prompt template does not contain exactly one
	// {INPUT_PLACEHOLDER}.
	ErrPlaceholder = errors.New("program: prompt template must contain exactly one " + Placeholder)
	// ErrTemplate means a prompt template is otherwise invalid (not UTF-8).
	ErrTemplate = errors.New("program: invalid prompt template")
	// ErrMeta means meta.json is not a JSON object of the expected shape or
	// lacks a valid program_id.
	ErrMeta = errors.New("program: invalid meta.json")
	// ErrAdapter means adapter.gguf is not a llama.cpp LoRA adapter.
	ErrAdapter = errors.New("program: invalid adapter")
	// ErrBaseMismatch means the adapter does not fit a base model or
	// interpreter: another architecture or other tensor shapes.
	ErrBaseMismatch = errors.New("program: adapter does not fit the base model")
	// ErrInterpreter means an interpreter name is not known.
	ErrInterpreter = errors.New("program: unknown interpreter")
	// ErrRef means a program reference cannot be parsed.
	ErrRef = errors.New("program: invalid program reference")
	// ErrSafetensors means a safetensors file is malformed.
	ErrSafetensors = errors.New("program: invalid safetensors file")
	// ErrPEFT means a PEFT adapter cannot be converted.
	ErrPEFT = errors.New("program: unsupported PEFT adapter")
	// ErrPack means the options given to Pack are incomplete or conflict.
	ErrPack = errors.New("program: invalid pack options")
)
