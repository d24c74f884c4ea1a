package hub

import (
	"cmp"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// CompilerRepo is a Hugging Face repository paw pulls whole: a PAW fast
// compiler (the encoder checkpoint compiler/, lora_mapper.pt, meta.json) or
// the model that writes its pseudo-programs.
type CompilerRepo struct {
	Name string // e.g. "paw-4b-qwen3-0.6b"
	Repo string // Hugging Face model repository
	// Revision is the commit the files are fetched at; "" means main.
	Revision string
}

// OfficialCompilers are the published PAW fast compilers.
var OfficialCompilers = map[string]CompilerRepo{
	"paw-4b-qwen3-0.6b": {Name: "paw-4b-qwen3-0.6b", Repo: "programasweights/paw-4b-qwen3-0.6b"},
	"paw-4b-gpt2":       {Name: "paw-4b-gpt2", Repo: "programasweights/paw-4b-gpt2"},
}

// PseudoWriter is the instruct model that writes the official compilers'
// pseudo-programs: its Hugging Face checkpoint (sharded BF16 safetensors,
// config.json, tokenizer.json), pinned to the commit of its 2025 release.
var PseudoWriter = CompilerRepo{Name: "qwen3-4b-instruct-2507", Repo: "Qwen/Qwen3-4B-Instruct-2507",
	Revision: "cdbee75f17c01a7cc42f958dc650907174af0554"}

// CompilerRecord is what a pulled compiler's directory records
// (compiler.json): the repository and every file with its verified hash.
type CompilerRecord struct {
	Name     string     `json:"name"`
	Repo     string     `json:"repo"`
	Revision string     `json:"revision,omitempty"`
	Files    []RepoFile `json:"files"`
}

// RepoFile is one file of a Hugging Face repository, as its tree API lists it.
type RepoFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`  // LFS files: the sha256 Hugging Face publishes
	GitOID string `json:"git_oid,omitempty"` // other files: the git blob id (sha1)
}

const compilerRecord = "compiler.json"

var reRepoPath = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$`)

// hfHub is the Hugging Face host: the scheme and host of HFBaseURL.
func (c *Client) hfHub() string {
	u, err := url.Parse(c.hfURL("x", "y"))
	if err != nil {
		return "https://huggingface.co"
	}
	return u.Scheme + "://" + u.Host
}

// CompilerDir returns the directory of a pulled compiler, without network
// access, or a *MissingError.
func (c *Client) CompilerDir(name string) (string, error) {
	cr, ok := OfficialCompilers[name]
	if !ok {
		return "", &MissingError{Kind: "compiler", Ref: name, Offline: c.Offline}
	}
	return c.repoDir("compilers", "compiler", cr)
}

// WriterDir returns the directory of the pulled pseudo-program writer
// (PseudoWriter), without network access, or a *MissingError.
func (c *Client) WriterDir() (string, error) {
	return c.repoDir("writers", "pseudo-program writer", PseudoWriter)
}

// repoDir is where a repository pulled whole lives: PAW_CACHE_DIR/kind/NAME,
// complete once its record is written.
func (c *Client) repoDir(kind, what string, cr CompilerRepo) (string, error) {
	root, err := c.dir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, kind, cr.Name)
	if !fileExists(filepath.Join(dir, compilerRecord)) {
		return "", &MissingError{Kind: what, Ref: cr.Name, Offline: c.Offline}
	}
	return dir, nil
}

// PullCompiler downloads a published compiler's files into the cache
// (PAW_CACHE_DIR/compilers/NAME) and returns the directory (see pullRepo).
func (c *Client) PullCompiler(ctx context.Context, name string) (string, error) {
	cr, ok := OfficialCompilers[name]
	if !ok {
		return "", fmt.Errorf("%w: unknown compiler %q", ErrBadRef, name)
	}
	return c.pullRepo(ctx, "compilers", "compiler", cr)
}

// PullWriter downloads the pseudo-program writer's checkpoint (PseudoWriter,
// about 8 GB) into PAW_CACHE_DIR/writers/NAME and returns the directory
// (see pullRepo); paw compile --local converts it to GGUF on first use.
func (c *Client) PullWriter(ctx context.Context) (string, error) {
	return c.pullRepo(ctx, "writers", "pseudo-program writer", PseudoWriter)
}

// pullRepo downloads every file of a Hugging Face repository at its
// revision into PAW_CACHE_DIR/kind/NAME and returns the directory. Each
// file is resumable and verified: LFS files against the sha256 Hugging Face
// publishes in its tree API, others against their git blob id; the hashes
// are recorded in compiler.json. Files already there with a recorded hash
// are kept.
func (c *Client) pullRepo(ctx context.Context, kind, what string, cr CompilerRepo) (string, error) {
	name := cr.Name
	if dir, err := c.repoDir(kind, what, cr); err == nil || c.Offline {
		return dir, err
	}
	root, err := c.dir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, kind, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("pull %s %s: %w", what, name, err)
	}
	unlock, err := c.lock(ctx, root, strings.TrimSuffix(kind, "s")+"-"+name, what+" "+name)
	if err != nil {
		return "", fmt.Errorf("pull %s %s: %w", what, name, err)
	}
	defer unlock()
	rev := cmp.Or(cr.Revision, "main")
	files, err := c.repoFiles(ctx, cr.Repo, rev)
	if err != nil {
		return "", fmt.Errorf("pull %s %s: %w", what, name, err)
	}
	for _, f := range files {
		dst := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", fmt.Errorf("pull %s %s: %w", what, name, err)
		}
		if verified(dst, f) == nil { // complete from an earlier, interrupted pull
			continue
		}
		d := download{url: c.hfHub() + "/" + cr.Repo + "/resolve/" + rev + "/" + f.Path, dst: dst, size: f.Size, sha256: f.SHA256,
			item: name + "/" + f.Path, ref: name, id: name}
		if err := c.download(ctx, &d); err != nil {
			return "", fmt.Errorf("pull %s %s: %w", what, name, err)
		}
		if f.GitOID != "" {
			if err := verified(dst, f); err != nil {
				os.Remove(dst)
				return "", fmt.Errorf("pull %s %s: %w", what, name, err)
			}
		}
	}
	if err := writeJSONAtomic(filepath.Join(dir, compilerRecord), CompilerRecord{Name: name, Repo: cr.Repo, Revision: cr.Revision, Files: files}); err != nil {
		return "", fmt.Errorf("pull %s %s: %w", what, name, err)
	}
	c.trace(Event{Kind: EventDone, Item: what + " " + name, Ref: name, ID: name, Path: dir})
	return dir, nil
}

// repoFiles lists a repository's files at a revision with Hugging Face's
// tree API (GET /api/models/{repo}/tree/{rev}?recursive=true), leaving out
// .gitattributes.
func (c *Client) repoFiles(ctx context.Context, repo, rev string) ([]RepoFile, error) {
	b, err := c.get(ctx, c.hfHub()+"/api/models/"+repo+"/tree/"+rev+"?recursive=true", true)
	if err != nil {
		return nil, err
	}
	return ParseRepoTree(b)
}

// ParseRepoTree decodes and checks a Hugging Face tree listing.
func ParseRepoTree(b []byte) ([]RepoFile, error) {
	var entries []struct {
		Type string `json:"type"`
		Path string `json:"path"`
		Size int64  `json:"size"`
		OID  string `json:"oid"`
		LFS  *struct {
			OID  string `json:"oid"`
			Size int64  `json:"size"`
		} `json:"lfs"`
	}
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("%w: repository tree: %w", ErrBadResponse, err)
	}
	var files []RepoFile
	for _, e := range entries {
		if e.Type != "file" || e.Path == ".gitattributes" {
			continue
		}
		if !reRepoPath.MatchString(e.Path) || slices.Contains(strings.Split(e.Path, "/"), "..") || path.Base(e.Path) == compilerRecord {
			return nil, fmt.Errorf("%w: repository file name %q", ErrBadResponse, e.Path)
		}
		f := RepoFile{Path: e.Path, Size: e.Size}
		if e.LFS != nil {
			f.SHA256, f.Size = strings.ToLower(e.LFS.OID), e.LFS.Size
			if !reSHA256.MatchString(f.SHA256) {
				return nil, fmt.Errorf("%w: %s: LFS oid %q is not a sha256", ErrBadResponse, e.Path, e.LFS.OID)
			}
		} else {
			f.GitOID = strings.ToLower(e.OID)
			if len(f.GitOID) != 40 {
				return nil, fmt.Errorf("%w: %s: oid %q is not a git blob id", ErrBadResponse, e.Path, e.OID)
			}
		}
		if f.Size < 0 {
			return nil, fmt.Errorf("%w: %s: size %d", ErrBadResponse, e.Path, f.Size)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: repository tree lists no files", ErrBadResponse)
	}
	return files, nil
}

// verified checks a file against its size and hash: sha256 for LFS files,
// else the git blob id, sha1("blob <size>\x00" + content).
func verified(p string, f RepoFile) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.Size() != f.Size {
		return fmt.Errorf("%w: %s: %d bytes, want %d", ErrChecksum, p, st.Size(), f.Size)
	}
	fh, err := os.Open(p)
	if err != nil {
		return err
	}
	defer fh.Close()
	h, want := sha256.New(), f.SHA256
	if f.GitOID != "" {
		h, want = sha1.New(), f.GitOID
		fmt.Fprintf(h, "blob %d\x00", f.Size)
	}
	if _, err := io.Copy(h, fh); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%w: %s: hash %s, want %s", ErrChecksum, p, got, want)
	}
	return nil
}
