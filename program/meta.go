package program

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// Meta is meta.json. The fields paw uses are typed; every other field is
// kept, verbatim, in Extra, so that rewriting a bundle preserves it.
type Meta struct {
	ProgramID        string  // program_id: 16 to 64 lowercase hex digits
	Spec             string  // spec: what the program does, in words
	Interpreter      string  // interpreter: InterpreterQwen3 or InterpreterGPT2
	RuntimeID        string  // runtime_id, e.g. "qwen3-0.6b-q6_k"
	CompilerSnapshot string  // compiler_snapshot
	CreatedAt        string  // created_at (RFC 3339 in official programs)
	LoRARank         int     // lora_rank
	LoRAAlpha        float64 // lora_alpha

	// Extra holds every other top-level field by name, as raw JSON.
	Extra map[string]json.RawMessage
}

// meta.json keys of the typed fields.
const (
	keyProgramID        = "program_id"
	keySpec             = "spec"
	keyInterpreter      = "interpreter"
	keyRuntimeID        = "runtime_id"
	keyCompilerSnapshot = "compiler_snapshot"
	keyCreatedAt        = "created_at"
	keyLoRARank         = "lora_rank"
	keyLoRAAlpha        = "lora_alpha"
)

// ContractKey is the meta.json field holding a program's output contract (a
// schema.Contract as JSON), a paw extension that other readers ignore. It
// stays raw in Extra: decoding it is the engine's job (interp), and readers
// that only show a bundle (paw info) need not link the engine.
const ContractKey = "paw_contract"

// Contract returns the raw JSON of the stored output contract, or nil if the
// program has none.
func (m Meta) Contract() json.RawMessage { return m.Extra[ContractKey] }

// UnmarshalJSON decodes a meta.json object. Typed fields must have their
// JSON type (a null counts as absent); lora_rank must be an integer.
func (m *Meta) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		return fmt.Errorf("meta.json is null, want an object")
	}
	var out Meta
	strs := []struct {
		key string
		dst *string
	}{
		{keyProgramID, &out.ProgramID}, {keySpec, &out.Spec}, {keyInterpreter, &out.Interpreter},
		{keyRuntimeID, &out.RuntimeID}, {keyCompilerSnapshot, &out.CompilerSnapshot}, {keyCreatedAt, &out.CreatedAt},
	}
	for _, s := range strs {
		v, ok := raw[s.key]
		if !ok {
			continue
		}
		delete(raw, s.key)
		if isNull(v) {
			continue
		}
		if err := json.Unmarshal(v, s.dst); err != nil {
			return fmt.Errorf("%s: want a string, got %s", s.key, abbrev(v))
		}
	}
	if v, ok := raw[keyLoRARank]; ok {
		delete(raw, keyLoRARank)
		if !isNull(v) {
			var f float64
			if err := json.Unmarshal(v, &f); err != nil || f != math.Trunc(f) || f < 0 || f > math.MaxInt32 {
				return fmt.Errorf("%s: want a non-negative integer, got %s", keyLoRARank, abbrev(v))
			}
			out.LoRARank = int(f)
		}
	}
	if v, ok := raw[keyLoRAAlpha]; ok {
		delete(raw, keyLoRAAlpha)
		if !isNull(v) {
			if err := json.Unmarshal(v, &out.LoRAAlpha); err != nil {
				return fmt.Errorf("%s: want a number, got %s", keyLoRAAlpha, abbrev(v))
			}
		}
	}
	if len(raw) > 0 {
		out.Extra = raw
	}
	*m = out
	return nil
}

// MarshalJSON encodes the typed fields that are set and every Extra field,
// with keys sorted. A typed field wins over an Extra entry of the same key.
func (m Meta) MarshalJSON() ([]byte, error) {
	obj := make(map[string]json.RawMessage, len(m.Extra)+8)
	for k, v := range m.Extra {
		if !json.Valid(v) {
			return nil, fmt.Errorf("meta field %q is not valid JSON", k)
		}
		obj[k] = v
	}
	put := func(key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("meta field %q: %w", key, err)
		}
		obj[key] = b
		return nil
	}
	for _, f := range []struct {
		key string
		v   string
	}{
		{keyProgramID, m.ProgramID}, {keySpec, m.Spec}, {keyInterpreter, m.Interpreter},
		{keyRuntimeID, m.RuntimeID}, {keyCompilerSnapshot, m.CompilerSnapshot}, {keyCreatedAt, m.CreatedAt},
	} {
		if f.v != "" {
			_ = put(f.key, f.v)
		}
	}
	if m.LoRARank != 0 {
		_ = put(keyLoRARank, m.LoRARank)
	}
	if m.LoRAAlpha != 0 {
		if err := put(keyLoRAAlpha, m.LoRAAlpha); err != nil {
			return nil, err
		}
	}
	return json.Marshal(obj)
}

// parseMeta decodes and checks meta.json.
func parseMeta(b []byte) (Meta, error) {
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return Meta{}, fmt.Errorf("%w: %s: %w", ErrMeta, memberMeta, err)
	}
	if err := m.check(); err != nil {
		return Meta{}, err
	}
	return m, nil
}

// check reports whether m has what every bundle needs.
func (m Meta) check() error {
	if !ValidID(m.ProgramID) {
		return fmt.Errorf("%w: %s: program_id %q is not 16 to 64 lowercase hex digits", ErrMeta, memberMeta, m.ProgramID)
	}
	if m.Interpreter == "" {
		return fmt.Errorf("%w: %s: interpreter is missing", ErrMeta, memberMeta)
	}
	if math.IsNaN(m.LoRAAlpha) || math.IsInf(m.LoRAAlpha, 0) {
		return fmt.Errorf("%w: %s: lora_alpha is %v", ErrMeta, memberMeta, m.LoRAAlpha)
	}
	return nil
}

// encodeMeta returns meta.json as written: indented, keys sorted.
func encodeMeta(m Meta) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMeta, err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMeta, err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// abbrev shortens raw JSON for an error message.
func abbrev(v json.RawMessage) string {
	const max = 40
	if len(v) > max {
		return string(v[:max]) + "..."
	}
	return string(v)
}
