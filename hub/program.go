package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/program"
)

// programFiles are the members of an unpacked program on the file host.
var programFiles = []string{"adapter.gguf", "meta.json", "prompt_template.txt"}

const slugsFile = "slugs.json"

// slugKey is the canonical "owner/name[@vN]" of a slug reference.
func slugKey(r program.Ref) string {
	if r.Owner == "" {
		r.Owner = program.DefaultOwner
	}
	return r.String()
}

func parseRef(ref string) (program.Ref, error) {
	r, err := program.ParseRef(ref)
	if err != nil {
		return r, fmt.Errorf("%w: %w", ErrBadRef, err)
	}
	return r, nil
}

// ResolveSlug returns the program id ref names. A program id is returned as
// is; a slug ("user/name", "name" = programasweights/name, optional "@vN")
// is asked of the service (a versioned slug is immutable, so a cached
// answer is used), and the answer is remembered for offline use.
func (c *Client) ResolveSlug(ctx context.Context, ref string) (string, error) {
	id, r, err := programRef(ref)
	if err != nil || id != "" {
		return id, err
	}
	root, err := c.dir()
	if err != nil {
		return "", err
	}
	key := slugKey(r)
	if c.Offline || r.Version > 0 {
		slugs, err := c.readSlugs(root)
		if err != nil {
			return "", err
		}
		if id, ok := slugs[key]; ok {
			return id, nil
		}
		if c.Offline {
			return "", &MissingError{Kind: "slug", Ref: ref, Offline: true}
		}
	}
	owner, name, _ := strings.Cut(key, "/") // name keeps its @vN
	b, err := c.get(ctx, c.apiURL("/programs/resolve/"+url.PathEscape(owner)+"/"+url.PathEscape(name)), true)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", key, err)
	}
	var rr api.ResolveResponse
	if err := json.Unmarshal(b, &rr); err != nil {
		return "", fmt.Errorf("resolve %s: %w: %w", key, ErrBadResponse, err)
	}
	id = strings.ToLower(rr.ProgramID)
	if !program.ValidID(id) {
		return "", fmt.Errorf("resolve %s: %w: program id %q", key, ErrBadResponse, rr.ProgramID)
	}
	if _, err := c.updateSlugs(ctx, root, func(m map[string]string) { m[key] = id }); err != nil {
		return "", fmt.Errorf("resolve %s: %w", key, err)
	}
	c.trace(Event{Kind: EventResolve, Item: "program " + id, Ref: ref, ID: id})
	return id, nil
}

// ProgramPath returns the cached program directory ref names (a program id,
// or a slug as last resolved), without network access; a local path is
// returned as is. A program not in the cache is a *MissingError.
func (c *Client) ProgramPath(ref string) (string, error) {
	r, err := parseRef(ref)
	if err != nil {
		return "", err
	}
	if r.Path != "" && !r.IsSlug() && r.ID == "" {
		return r.Path, nil
	}
	root, err := c.dir()
	if err != nil {
		return "", err
	}
	id, err := c.cachedID(root, ref)
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "programs", id)
	if !fileExists(p) {
		return "", &MissingError{Kind: KindProgram, Ref: ref, Offline: c.Offline}
	}
	return p, nil
}

// programRef parses ref as a program reference: a program id (returned,
// lower-cased) or a slug (returned parsed, with id ""); a local path is an
// error.
func programRef(ref string) (id string, r program.Ref, err error) {
	if r, err = parseRef(ref); err != nil {
		return "", r, err
	}
	if r.ID != "" {
		return strings.ToLower(r.ID), r, nil
	}
	if !r.IsSlug() {
		return "", r, fmt.Errorf("%w: %q is a local path, not a program id or slug", ErrBadRef, ref)
	}
	return "", r, nil
}

// cachedID maps a program id or slug to an id using only the cache.
func (c *Client) cachedID(root, ref string) (string, error) {
	id, r, err := programRef(ref)
	if err != nil || id != "" {
		return id, err
	}
	slugs, err := c.readSlugs(root)
	if err != nil {
		return "", err
	}
	if id, ok := slugs[slugKey(r)]; ok {
		return id, nil
	}
	return "", &MissingError{Kind: KindProgram, Ref: ref, Offline: c.Offline}
}

// PullProgram makes sure the program ref names is cached and returns its
// directory. ref is a program id, a slug (resolved online; see ResolveSlug)
// or a local path (returned as is). The bundle comes from the service
// (following redirects, polling while it is built) or, failing that, from
// the file host at HFBaseURL; it is validated before it is installed.
func (c *Client) PullProgram(ctx context.Context, ref string) (string, error) {
	if c.Offline {
		return c.ProgramPath(ref)
	}
	r, err := parseRef(ref)
	if err != nil {
		return "", err
	}
	if r.Path != "" && !r.IsSlug() && r.ID == "" {
		return r.Path, nil
	}
	id, err := c.ResolveSlug(ctx, ref)
	if err != nil {
		return "", err
	}
	root, err := c.dir()
	if err != nil {
		return "", err
	}
	item := "program " + id
	dir := filepath.Join(root, "programs", id)
	if fileExists(dir) {
		c.trace(Event{Kind: EventDone, Item: item, Ref: ref, ID: id, Path: dir, Cached: true})
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	unlock, err := c.lock(ctx, root, "program-"+id, item)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	defer unlock()
	if fileExists(dir) {
		c.trace(Event{Kind: EventDone, Item: item, Ref: ref, ID: id, Path: dir, Cached: true})
		return dir, nil
	}
	if err := c.fetchProgram(ctx, ref, id, dir); err != nil {
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	c.trace(Event{Kind: EventDone, Item: item, Ref: ref, ID: id, Path: dir})
	return dir, nil
}

// fetchProgram downloads, validates and installs program id at dir.
func (c *Client) fetchProgram(ctx context.Context, ref, id, dir string) error {
	parent := filepath.Dir(dir)
	cleanTemps(parent, id, true) // what a killed process left, except a resumable .paw.partial
	zipPath := filepath.Join(parent, "."+id+".paw")
	if ok, err := c.programFromStore(ctx, id, zipPath, parent, dir); ok || err != nil {
		return err
	}
	d := download{url: c.apiURL("/programs/" + id + "/download"), dst: zipPath, building: true,
		max: orDefault(c.MaxProgramSize, DefaultMaxProgramSize), item: "program " + id, ref: ref, id: id}
	err := c.download(ctx, &d)
	if err == nil {
		defer os.Remove(zipPath)
		var p *program.Program
		if p, err = openFetched(zipPath, id); err == nil {
			return c.installPulled(ctx, p, parent, dir, id)
		}
	}
	if c.NoFallback || ctx.Err() != nil {
		return err
	}
	p, hfErr := c.fetchFromFileHost(ctx, ref, id, parent)
	if hfErr != nil {
		return fmt.Errorf("%w (file host: %w)", err, hfErr)
	}
	return c.installPulled(ctx, p, parent, dir, id)
}

// fetchFromFileHost downloads the unpacked files of a published program.
func (c *Client) fetchFromFileHost(ctx context.Context, ref, id, parent string) (*program.Program, error) {
	tmp, err := os.MkdirTemp(parent, "."+id+".hf-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, name := range programFiles {
		d := download{url: c.hfURL(id, name), dst: filepath.Join(tmp, name),
			max: orDefault(c.MaxProgramSize, DefaultMaxProgramSize), item: "program " + id, ref: ref, id: id}
		if err := c.download(ctx, &d); err != nil {
			return nil, err
		}
	}
	return openFetched(tmp, id)
}

// openFetched validates a downloaded program: a .paw ZIP, or a directory of
// its files.
func openFetched(path, id string) (*program.Program, error) {
	p, err := program.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidBundle, err)
	}
	return p, checkID(p, id)
}

func checkID(p *program.Program, id string) error {
	if got := strings.ToLower(p.Meta.ProgramID); got != "" && got != id {
		return fmt.Errorf("%w: bundle says program %s, want %s", ErrInvalidBundle, p.Meta.ProgramID, id)
	}
	return nil
}

// install writes p unpacked next to dir and renames it into place.
func install(p *program.Program, parent, dir, id string) error {
	tmp, err := os.MkdirTemp(parent, "."+id+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	staged := filepath.Join(tmp, id)
	if err := p.WriteDir(staged); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if err := os.Rename(staged, dir); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	syncDir(parent)
	return nil
}

// readSlugs returns the slug → id map (empty when there is none).
func (c *Client) readSlugs(root string) (map[string]string, error) {
	m := map[string]string{}
	b, err := os.ReadFile(filepath.Join(root, slugsFile))
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	var f struct {
		Slugs map[string]string `json:"slugs"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("hub: %s: %w", filepath.Join(root, slugsFile), err)
	}
	for k, v := range f.Slugs {
		if program.ValidID(v) {
			m[k] = v
		}
	}
	return m, nil
}

// updateSlugs edits the slug map under its lock and reports how many
// entries the edit removed.
func (c *Client) updateSlugs(ctx context.Context, root string, edit func(map[string]string)) (int, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return 0, err
	}
	unlock, err := c.lock(ctx, root, "slugs", slugsFile)
	if err != nil {
		return 0, err
	}
	defer unlock()
	m, err := c.readSlugs(root)
	if err != nil {
		m = map[string]string{} // a corrupt map is only a cache: start over
	}
	before := len(m)
	edit(m)
	return max(before-len(m), 0), writeJSONAtomic(filepath.Join(root, slugsFile), map[string]any{"slugs": m})
}
