package program

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultOwner is the owner of a slug given as a bare name.
const DefaultOwner = "programasweights"

// A Ref names a program: a local bundle (Path), an immutable program id
// (ID), or a hub slug owner/name, optionally pinned to a version.
type Ref struct {
	Path        string // a .paw file or bundle directory
	ID          string // 16 to 64 lowercase hex digits
	Owner, Name string // slug
	Version     int    // slug version (@vN); 0 means the latest
}

// ParseRef parses a program reference:
//
//	./prog.paw, /abs/dir, x.paw, ~/p   a path: starts with /, ./, ../ or ~, ends in .paw, or has 2+ slashes
//	0123456789abcdef...                 an id: 16 to 64 lowercase hex digits
//	owner/name, owner/name@v3, name     a slug; a bare name means programasweights/name
//
// Slug parts are 1 to 100 letters, digits, '-', '_' or '.', starting with a
// letter or digit. Write relative bundle directories as ./dir.
func ParseRef(s string) (Ref, error) {
	switch {
	case s == "":
		return Ref{}, fmt.Errorf("%w: empty", ErrRef)
	case isPathRef(s):
		return Ref{Path: s}, nil
	case ValidID(s):
		return Ref{ID: s}, nil
	}
	slug, ver, hasVer := strings.Cut(s, "@")
	r := Ref{Owner: DefaultOwner, Name: slug}
	if owner, name, ok := strings.Cut(slug, "/"); ok {
		r.Owner, r.Name = owner, name
	}
	if !validSlugPart(r.Owner) || !validSlugPart(r.Name) {
		return Ref{}, fmt.Errorf("%w: %q is not a path, an id or owner/name[@vN]", ErrRef, s)
	}
	if hasVer {
		n, ok := strings.CutPrefix(ver, "v")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v < 1 || n[0] == '0' || n[0] == '+' {
			return Ref{}, fmt.Errorf("%w: %q: version %q, want vN with N >= 1", ErrRef, s, ver)
		}
		r.Version = v
	}
	return r, nil
}

func isPathRef(s string) bool {
	return strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") ||
		strings.HasPrefix(s, "~") || s == "." || s == ".." || strings.HasSuffix(s, ".paw") ||
		strings.Count(s, "/") >= 2 || strings.Contains(s, `\`)
}

func validSlugPart(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_' && c != '.') {
			return false
		}
	}
	return true
}

// IsSlug reports whether r is a hub slug.
func (r Ref) IsSlug() bool { return r.Name != "" }

// Slug returns owner/name without the version, or "" if r is not a slug.
func (r Ref) Slug() string {
	if !r.IsSlug() {
		return ""
	}
	return r.Owner + "/" + r.Name
}

// String returns the reference in the form ParseRef reads; slugs always
// carry their owner.
func (r Ref) String() string {
	switch {
	case r.Path != "":
		return r.Path
	case r.ID != "":
		return r.ID
	case r.Version > 0:
		return r.Slug() + "@v" + strconv.Itoa(r.Version)
	}
	return r.Slug()
}
