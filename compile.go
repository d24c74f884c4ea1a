package paw

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/compile/hosted"
	"github.com/paw-dev/paw/internal/fsutil"
)

// CompiledFile, under the cache directory, maps each compiled spec's hash to
// its program id, so that Compile asks the service once per spec.
const CompiledFile = "compiled.json"

// CompileOption tunes Engine.Compile. The zero CompileOption changes nothing.
type CompileOption struct {
	apply func(*compile.Request)
}

// WithCompiler names the hosted compiler (default: the service's). It is
// part of the cache key: another compiler compiles the spec again.
func WithCompiler(name string) CompileOption {
	return CompileOption{func(r *compile.Request) { r.Compiler = name }}
}

// Compile turns a spec (what the function should do, in words) into a
// function: the program is compiled by the hosted PAW service that
// Options.Hub talks to (its URL, API key and HTTP client), fetched into the
// cache and loaded. The program id is remembered by the spec's hash in
// CacheDir/compiled.json, so compiling the same spec again, in this process
// or a later one, makes no compile request. Offline, only a remembered spec
// compiles; another fails matching ErrOffline.
//
//	fn, err := eng.Compile(ctx, "Return true only when this log line suggests user-facing impact")
func (e *Engine) Compile(ctx context.Context, spec string, opts ...CompileOption) (*Function, error) {
	req := compile.Request{Spec: spec}
	for _, o := range opts {
		if o.apply != nil {
			o.apply(&req)
		}
	}
	id, err := e.compiledProgram(ctx, req)
	if err != nil {
		return nil, err
	}
	return e.Function(ctx, id)
}

// compiledProgram returns the program id of req: remembered, or compiled
// now and remembered.
func (e *Engine) compiledProgram(ctx context.Context, req compile.Request) (string, error) {
	// The service is part of the key: another service may not serve the id.
	service := cmp.Or(e.hub.BaseURL, hosted.DefaultBaseURL)
	sum := sha256.Sum256([]byte(service + "\x00" + req.Compiler + "\x00" + req.Spec))
	key := hex.EncodeToString(sum[:])
	path := filepath.Join(e.dir, CompiledFile)
	// One compile at a time per engine keeps the read-modify-write of the
	// file whole within a process; another process's lost write only costs
	// a compile.
	e.compileMu.Lock()
	defer e.compileMu.Unlock()
	known, err := readCompiled(path)
	if err != nil {
		return "", err
	}
	if id, ok := known[key]; ok {
		return id, nil
	}
	if e.hub.Offline {
		return "", fmt.Errorf("%w: compiling a new spec needs the PAW service", ErrOffline)
	}
	c := &hosted.Compiler{BaseURL: service, APIKey: e.hub.APIKey, HTTPClient: e.hub.HTTPClient}
	res, err := c.Compile(ctx, req)
	if err != nil {
		return "", err
	}
	known[key] = res.ProgramID
	b, err := json.MarshalIndent(known, "", "  ")
	if err != nil {
		return "", err
	}
	if err := fsutil.WriteFileAtomic(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("remember compiled spec: %w", err)
	}
	return res.ProgramID, nil
}

// readCompiled reads the spec-hash → program-id map; a missing file is empty.
func readCompiled(path string) (map[string]string, error) {
	known := map[string]string{}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return known, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &known); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return known, nil
}
