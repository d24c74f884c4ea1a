package program

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paw-dev/paw/gguf"
)

// DefaultCompilerSnapshot is the compiler_snapshot of bundles made by Pack.
const DefaultCompilerSnapshot = "paw-pack"

// PackOptions describes a bundle to assemble from a pseudo-program and an
// adapter trained elsewhere. Give exactly one of AdapterPath, PEFTDir and
// Adapter, and at most one of Spec and SpecFile, of PseudoProgram and
// PseudoProgramFile.
type PackOptions struct {
	Spec              string // meta.json spec
	SpecFile          string // or a file holding it (trimmed of surrounding space)
	PseudoProgram     string // the interpreter's instructions; may be empty
	PseudoProgramFile string // or a file holding them (trimmed of surrounding space)

	Interpreter string // "qwen3", "gpt2" or a full name; required
	RuntimeID   string // default: DefaultRuntimeID(interpreter)

	AdapterPath string // a llama.cpp LoRA GGUF file
	PEFTDir     string // or a PEFT adapter directory, converted with ConvertPEFT
	Adapter     []byte // or the GGUF adapter's bytes
	AdapterType string // tensor type of a converted PEFT adapter: "f32", "f16" or "q4_0" (default, as official)

	BasePath         string    // optional base model GGUF to check the adapter against (CheckBase)
	CompilerSnapshot string    // default DefaultCompilerSnapshot
	Now              time.Time // created_at; zero means time.Now()

	Out string // if set, Pack also writes the bundle there (WriteFile)
}

// Pack assembles and validates a bundle: it loads or converts the adapter,
// renders the official template for the interpreter around the
// pseudo-program, fills meta.json (program_id = NewID, created_at in RFC
// 3339 UTC, lora_rank and lora_alpha from the adapter, runtime_id,
// compiler_snapshot) and, if o.Out is set, writes it atomically. A PEFT
// adapter's adapter_config.json is kept as a member.
func Pack(o PackOptions) (*Program, error) {
	p, err := pack(o)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	return p, nil
}

func pack(o PackOptions) (*Program, error) {
	interp, err := ParseInterpreter(o.Interpreter)
	if err != nil {
		return nil, err
	}
	spec, err := textOption("spec", o.Spec, o.SpecFile)
	if err != nil {
		return nil, err
	}
	pseudo, err := textOption("pseudo-program", o.PseudoProgram, o.PseudoProgramFile)
	if err != nil {
		return nil, err
	}
	tmpl, err := RenderTemplate(interp, pseudo)
	if err != nil {
		return nil, err
	}
	p := &Program{Template: tmpl, PseudoProgram: pseudo}
	if p.Adapter, p.Extra, err = packAdapter(o, interp); err != nil {
		return nil, err
	}
	// Errors name the file the user gave, not the bundle member.
	if p.LoRA, err = checkAdapter(p.Adapter, cmp.Or(o.AdapterPath, o.PEFTDir, memberAdapter), interp); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(p.Adapter)
	p.AdapterSHA256 = hex.EncodeToString(sum[:])
	if o.BasePath != "" {
		base, err := gguf.Open(o.BasePath)
		if err != nil {
			return nil, err
		}
		defer base.Close()
		if err := p.CheckBase(&base.Reader); err != nil {
			return nil, fmt.Errorf("%s: %w", o.BasePath, err)
		}
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	p.Meta = Meta{
		Spec:             spec,
		Interpreter:      interp,
		RuntimeID:        cmp.Or(o.RuntimeID, DefaultRuntimeID(interp)),
		CompilerSnapshot: cmp.Or(o.CompilerSnapshot, DefaultCompilerSnapshot),
		CreatedAt:        now.UTC().Format(time.RFC3339),
		LoRARank:         p.LoRA.Rank,
		LoRAAlpha:        p.LoRA.Alpha,
	}
	p.Meta.ProgramID = NewID(p)
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if o.Out != "" {
		if err := p.WriteFile(o.Out); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// packAdapter returns the adapter bytes and, for PEFT, the extra members.
func packAdapter(o PackOptions, interp string) ([]byte, map[string][]byte, error) {
	n := 0
	for _, set := range []bool{o.AdapterPath != "", o.PEFTDir != "", o.Adapter != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, nil, fmt.Errorf("%w: give exactly one of an adapter GGUF, a PEFT directory or adapter bytes", ErrPack)
	}
	if o.AdapterType != "" && o.PEFTDir == "" {
		return nil, nil, fmt.Errorf("%w: an adapter type applies to PEFT conversion only", ErrPack)
	}
	switch {
	case o.Adapter != nil:
		return o.Adapter, nil, nil
	case o.AdapterPath != "":
		b, err := readFileLimited(o.AdapterPath, filepath.Base(o.AdapterPath), DefaultMaxExpanded)
		return b, nil, err
	}
	typ, err := ParseAdapterType(o.AdapterType)
	if err != nil {
		return nil, nil, err
	}
	b, err := ConvertPEFTDir(o.PEFTDir, interp, typ)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := os.ReadFile(filepath.Join(o.PEFTDir, PEFTConfigFile)) // read (bounded) by ConvertPEFTDir
	if err != nil {
		return nil, nil, err
	}
	return b, map[string][]byte{PEFTConfigFile: cfg}, nil
}

// textOption returns text, or the trimmed contents of file.
func textOption(what, text, file string) (string, error) {
	if file == "" {
		return text, nil
	}
	if text != "" {
		return "", fmt.Errorf("%w: give the %s as text or as a file, not both", ErrPack, what)
	}
	b, err := readFileLimited(file, filepath.Base(file), DefaultMaxText)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", what, err)
	}
	return strings.TrimSpace(string(b)), nil
}
