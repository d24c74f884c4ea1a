package program

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// zipEntry is one member of a crafted archive.
type zipEntry struct {
	name string
	data []byte
	mode fs.FileMode // 0 means 0644 regular
}

// validEntries returns the members of a valid bundle.
func validEntries(t testing.TB) []zipEntry {
	p := testProgram(t, "qwen3-tiny")
	ms, err := p.members()
	if err != nil {
		t.Fatal(err)
	}
	var es []zipEntry
	for _, m := range ms {
		es = append(es, zipEntry{name: m.name, data: m.data})
	}
	return es
}

// buildZip writes entries with archive/zip, whatever their names.
func buildZip(t testing.TB, es []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		fh := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		fh.SetMode(mode)
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lyingZip returns a one-member archive whose headers declare `declared`
// uncompressed bytes while the deflated data expands to `actual` zeros.
func lyingZip(t testing.TB, name string, declared uint64, actual int) []byte {
	t.Helper()
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	fw.Write(make([]byte, actual))
	fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	fh := &zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(make([]byte, actual)),
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: declared}
	fh.SetMode(0o644)
	w, err := zw.CreateRaw(fh)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	zw.Close()
	return buf.Bytes()
}

func replaceEntry(es []zipEntry, name string, e zipEntry) []zipEntry {
	out := []zipEntry{}
	for _, x := range es {
		if x.name == name {
			out = append(out, e)
		} else {
			out = append(out, x)
		}
	}
	return out
}

func without(es []zipEntry, name string) []zipEntry {
	var out []zipEntry
	for _, x := range es {
		if x.name != name {
			out = append(out, x)
		}
	}
	return out
}

func TestNewReaderRejects(t *testing.T) {
	valid := validEntries(t)
	meta := func(es []zipEntry) []byte {
		for _, e := range es {
			if e.name == memberMeta {
				return e.data
			}
		}
		return nil
	}(valid)
	many := append([]zipEntry{}, valid...)
	for i := range DefaultMaxMembers {
		many = append(many, zipEntry{name: fmt.Sprintf("x%d", i)})
	}
	small := Limits{MaxExpanded: 1 << 20}
	tests := []struct {
		name   string
		data   []byte
		limits Limits
		want   error
	}{
		{"zip slip", buildZip(t, append(valid, zipEntry{name: "../x", data: []byte("x")})), Limits{}, ErrUnsafeMember},
		{"zip slip inside", buildZip(t, append(valid, zipEntry{name: "a/../../x"})), Limits{}, ErrUnsafeMember},
		{"absolute", buildZip(t, append(valid, zipEntry{name: "/etc/passwd"})), Limits{}, ErrUnsafeMember},
		{"drive letter", buildZip(t, append(valid, zipEntry{name: "C:/x"})), Limits{}, ErrUnsafeMember},
		{"backslash", buildZip(t, append(valid, zipEntry{name: `..\x`})), Limits{}, ErrUnsafeMember},
		{"dot segment", buildZip(t, append(valid, zipEntry{name: "./x"})), Limits{}, ErrUnsafeMember},
		{"duplicate", buildZip(t, append(valid, zipEntry{name: memberMeta, data: meta})), Limits{}, ErrUnsafeMember},
		{"case duplicate", buildZip(t, append(valid, zipEntry{name: "Meta.json", data: meta})), Limits{}, ErrUnsafeMember},
		{"symlink", buildZip(t, append(valid, zipEntry{name: "link", data: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777})), Limits{}, ErrUnsafeMember},
		{"symlinked meta", buildZip(t, replaceEntry(valid, memberMeta, zipEntry{name: memberMeta, data: []byte("/x"), mode: fs.ModeSymlink | 0o777})), Limits{}, ErrUnsafeMember},
		{"device", buildZip(t, append(valid, zipEntry{name: "dev", mode: fs.ModeDevice | 0o644})), Limits{}, ErrUnsafeMember},
		{"nested known member", buildZip(t, append(without(valid, memberMeta), zipEntry{name: "prog/meta.json", data: meta})), Limits{}, ErrUnsafeMember},
		{"too many members", buildZip(t, many), Limits{}, ErrTooLarge},
		{"archive too large", buildZip(t, valid), Limits{MaxArchive: 1000}, ErrTooLarge},
		{"expanded too large", buildZip(t, append(valid, zipEntry{name: "big", data: make([]byte, 2<<20)})), small, ErrTooLarge},
		{"meta too large", buildZip(t, replaceEntry(valid, memberMeta, zipEntry{name: memberMeta, data: append(meta, make([]byte, 2000)...)})), Limits{MaxText: 1000}, ErrTooLarge},
		{"bomb understating its size", lyingZip(t, "bomb", 100, 4<<20), small, ErrTooLarge},
		{"bomb overstating its size", lyingZip(t, "bomb", 1<<40, 100), Limits{}, ErrTooLarge},
		{"no meta", buildZip(t, without(valid, memberMeta)), Limits{}, ErrMissingMember},
		{"no template", buildZip(t, without(valid, memberTemplate)), Limits{}, ErrMissingMember},
		{"no adapter", buildZip(t, without(valid, memberAdapter)), Limits{}, ErrMissingMember},
		{"two placeholders", buildZip(t, replaceEntry(valid, memberTemplate, zipEntry{name: memberTemplate, data: []byte(Placeholder + Placeholder)})), Limits{}, ErrPlaceholder},
		{"no placeholder", buildZip(t, replaceEntry(valid, memberTemplate, zipEntry{name: memberTemplate, data: []byte("x")})), Limits{}, ErrPlaceholder},
		{"meta not JSON", buildZip(t, replaceEntry(valid, memberMeta, zipEntry{name: memberMeta, data: []byte("{")})), Limits{}, ErrMeta},
		{"meta bad id", buildZip(t, replaceEntry(valid, memberMeta, zipEntry{name: memberMeta, data: []byte(`{"program_id":"ABCDEF0123456789","interpreter":"gpt2"}`)})), Limits{}, ErrMeta},
		{"adapter not GGUF", buildZip(t, replaceEntry(valid, memberAdapter, zipEntry{name: memberAdapter, data: []byte("nope")})), Limits{}, ErrAdapter},
		{"not a zip", []byte("PK not really"), Limits{}, ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.limits.NewReader(bytes.NewReader(tt.data), int64(len(tt.data)))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, %v; want %v", p, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "program: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	// The valid entries themselves are accepted, and a junk directory is skipped.
	ok := buildZip(t, append(valid, zipEntry{name: "__MACOSX/", mode: fs.ModeDir | 0o755}, zipEntry{name: "__MACOSX/._x"}, zipEntry{name: ".DS_Store"}))
	p, err := NewReader(bytes.NewReader(ok), int64(len(ok)))
	if err != nil {
		t.Fatalf("valid bundle: %v", err)
	}
	if _, ok := p.Extra[".DS_Store"]; ok || len(p.Extra) != 3 {
		t.Errorf("extra members %v, want the 3 written ones", slices.Sorted(maps.Keys(p.Extra)))
	}
}

func TestOpenDirRejects(t *testing.T) {
	p := testProgram(t, "qwen3-tiny")
	tests := []struct {
		name   string
		modify func(dir string) error
		want   error
	}{
		{"symlinked adapter", func(dir string) error {
			a := filepath.Join(dir, memberAdapter)
			if err := os.Rename(a, a+".real"); err != nil {
				return err
			}
			return os.Symlink(a+".real", a)
		}, ErrUnsafeMember},
		{"symlinked extra", func(dir string) error { return os.Symlink("/etc/passwd", filepath.Join(dir, "x")) }, ErrUnsafeMember},
		{"missing template", func(dir string) error { return os.Remove(filepath.Join(dir, memberTemplate)) }, ErrMissingMember},
		{"too large", func(dir string) error { return os.WriteFile(filepath.Join(dir, "big"), make([]byte, 2<<20), 0o644) }, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "p")
			if err := p.WriteDir(dir); err != nil {
				t.Fatal(err)
			}
			if err := tt.modify(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := (Limits{MaxExpanded: 1 << 20}).Open(dir); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}
