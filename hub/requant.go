package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Quantizer writes the model src with its weights as typ ("q8_0") to dst,
// whole or not at all (llama.QuantizeModel; hub itself has no engine).
type Quantizer func(ctx context.Context, src, dst, typ string) error

// RequantNone passed to RequantRuntime drops a runtime's requantized copy.
const RequantNone = "none"

// requantFile records, next to a runtime's base model, the requantized copy
// that runs use instead of it.
const requantFile = "requant.json"

type requantRecord struct {
	Type string `json:"type"` // as given to the Quantizer, lower case
	File string `json:"file"` // in the runtime's directory
	// SourceSHA256 is the base model the copy was made from: when the pin or
	// manifest names another, the copy is stale and not used.
	SourceSHA256 string `json:"source_sha256"`
}

// RequantRuntime pulls the base model of runtime ref (an id, or runtime:ID) if needed, then writes its
// weights as typ (with c.Quantize) to a file next to it that every later run
// of the runtime loads instead; typ RequantNone removes that file, so runs go
// back to the base model as published. It returns the path runs now load.
func (c *Client) RequantRuntime(ctx context.Context, ref, typ string) (string, error) {
	root, err := c.dir()
	if err != nil {
		return "", err
	}
	id, ok := c.runtimeRef(root, ref)
	if !ok {
		return "", fmt.Errorf("%w: %s is not a runtime (requantizing applies to base models)", ErrBadRef, ref)
	}
	typ = strings.ToLower(typ)
	if typ != RequantNone && !reRuntimeID.MatchString(typ) {
		return "", fmt.Errorf("%w: requant type %q", ErrBadRef, typ)
	}
	if typ != RequantNone && c.Quantize == nil {
		return "", fmt.Errorf("requant runtime %s: %w", id, ErrNoQuantizer)
	}
	src, err := c.pullRuntimeSource(ctx, id)
	if err != nil {
		return "", err
	}
	unlock, err := c.lock(ctx, root, "runtime-"+id, "runtime "+id)
	if err != nil {
		return "", fmt.Errorf("requant runtime %s: %w", id, err)
	}
	defer unlock()
	dir := filepath.Dir(src)
	old, _ := readRequant(dir)
	if typ == RequantNone {
		if err := os.Remove(filepath.Join(dir, requantFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("requant runtime %s: %w", id, err)
		}
		if old != nil && old.File != filepath.Base(src) {
			_ = os.Remove(filepath.Join(dir, old.File)) // unused once the record is gone
		}
		return src, nil
	}
	return c.requant(ctx, id, src, typ, old)
}

// requant writes src as typ next to it unless an up-to-date copy is there,
// then records it; the caller holds the runtime's lock.
func (c *Client) requant(ctx context.Context, id, src, typ string, old *requantRecord) (string, error) {
	sum, err := c.sourceSHA256(id)
	if err != nil {
		return "", fmt.Errorf("requant runtime %s: %w", id, err)
	}
	dir := filepath.Dir(src)
	rec := requantRecord{Type: typ, File: requantName(src, typ), SourceSHA256: sum}
	dst := filepath.Join(dir, rec.File)
	if old != nil && *old == rec && fileExists(dst) {
		return dst, nil
	}
	c.trace(Event{Kind: EventStart, Item: "requant " + id + " " + typ, Ref: id, ID: id, Total: -1})
	if err := c.Quantize(ctx, src, dst, typ); err != nil {
		return "", fmt.Errorf("requant runtime %s to %s: %w", id, typ, err)
	}
	// The record is written after the file, so a run never loads a partial copy.
	if err := writeJSONAtomic(filepath.Join(dir, requantFile), rec); err != nil {
		return "", fmt.Errorf("requant runtime %s: %w", id, err)
	}
	if old != nil && old.File != rec.File {
		_ = os.Remove(filepath.Join(dir, old.File))
	}
	c.trace(Event{Kind: EventDone, Item: "requant " + id + " " + typ, Ref: id, ID: id, Path: dst})
	return dst, nil
}

// requantName is the cache file name of src's weights as typ.
func requantName(src, typ string) string {
	return strings.TrimSuffix(filepath.Base(src), ".gguf") + ".requant-" + typ + ".gguf"
}

// requantCopy returns the requantized copy of runtime id recorded next to
// its base model src when it is up to date, else src and the stale record
// (nil when there is none).
func (c *Client) requantCopy(id, src string) (string, *requantRecord) {
	dir := filepath.Dir(src)
	rec, err := readRequant(dir)
	if err != nil || rec == nil {
		return src, nil // an unreadable record is no choice: run the base model
	}
	if sum, err := c.sourceSHA256(id); err == nil && rec.SourceSHA256 == sum && fileExists(filepath.Join(dir, rec.File)) {
		return filepath.Join(dir, rec.File), nil
	}
	return src, rec
}

// withRequant is requantCopy remaking a stale copy when c has a Quantizer.
func (c *Client) withRequant(ctx context.Context, id, src string) (string, error) {
	p, stale := c.requantCopy(id, src)
	if stale == nil || c.Quantize == nil {
		return p, nil
	}
	root, _, err := c.runtimeLayout(id)
	if err != nil {
		return "", err
	}
	unlock, err := c.lock(ctx, root, "runtime-"+id, "runtime "+id)
	if err != nil {
		return "", fmt.Errorf("requant runtime %s: %w", id, err)
	}
	defer unlock()
	if p, stale = c.requantCopy(id, src); stale == nil { // another process remade it while we waited
		return p, nil
	}
	return c.requant(ctx, id, src, stale.Type, stale)
}

// sourceSHA256 is the sha256 the pin or the cached manifest gives for runtime
// id's base model (pulls verify the file against it).
func (c *Client) sourceSHA256(id string) (string, error) {
	if pin, ok := c.runtimes()[id]; ok && pin.SHA256 != "" {
		return pin.SHA256, nil
	}
	m, err := c.RuntimeManifest(id)
	if err != nil {
		return "", err
	}
	if sum := strings.ToLower(m.LocalSDK.BaseModel.SHA256); reSHA256.MatchString(sum) {
		return sum, nil
	}
	return "", fmt.Errorf("%w: runtime %s has no sha256 for its base model", ErrBadResponse, id)
}

// readRequant reads dir's requant record; (nil, nil) when there is none.
func readRequant(dir string) (*requantRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, requantFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec requantRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", requantFile, err)
	}
	if !reFileName.MatchString(rec.File) || strings.Contains(rec.File, "..") {
		return nil, fmt.Errorf("%s: bad file name %q", requantFile, rec.File)
	}
	return &rec, nil
}
