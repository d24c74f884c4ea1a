package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// MaxLineBytes caps one JSONL line.
const MaxLineBytes = 16 << 20

// Case is one test case.
type Case struct {
	Input string
	// Expected is the answer to compare with, when HasExpected. When
	// ExpectedJSON is set it is the compact JSON text of a non-string value
	// and outputs are compared with it canonically, as JSON.
	Expected     string
	HasExpected  bool
	ExpectedJSON bool
	Tags         []string
	// Spec is the task's spec, for sets that mix tasks (FuzzyBench rows).
	Spec string
	// Source says where the case came from ("cases.jsonl:3"), for messages.
	Source string
}

// Columns names the fields (JSONL) or columns (Parquet) cases are read
// from. An empty name means the default (DefaultInput, …), which may be
// absent except for the input; a name that is set must exist.
type Columns struct {
	Input, Expected, Spec, Tags string
}

// Default column names.
const (
	DefaultInput    = "input"
	DefaultExpected = "expected"
	DefaultSpec     = "spec"
	DefaultTags     = "tags"
)

// column is one resolved column name and whether it must be present.
type column struct {
	name     string
	required bool
}

func (c Columns) resolve() (input, expected, spec, tags column) {
	pick := func(name, def string) column {
		if name == "" {
			return column{name: def}
		}
		return column{name: name, required: true}
	}
	input = pick(c.Input, DefaultInput)
	input.required = true
	return input, pick(c.Expected, DefaultExpected), pick(c.Spec, DefaultSpec), pick(c.Tags, DefaultTags)
}

// CaseError is a bad case, located by file and line (or Parquet row).
type CaseError struct {
	File string
	Line int // 1-based JSONL line or Parquet row
	Err  error
}

func (e *CaseError) Error() string {
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *CaseError) Unwrap() error { return e.Err }

// OpenCases reads cases from path: Parquet when it ends in .parquet,
// JSONL otherwise.
func OpenCases(path string, cols Columns) ([]Case, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open cases: %w", err)
	}
	defer f.Close()
	if strings.EqualFold(filepath.Ext(path), ".parquet") {
		st, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("open cases: %w", err)
		}
		return ReadParquet(f, st.Size(), path, cols)
	}
	return ReadCases(f, path, cols)
}

// ReadCases reads JSONL cases, one object per line, such as
// {"input": "…", "expected": "…", "tags": ["…"]}. Blank lines are skipped,
// unknown fields ignored, and a null is an absent field; a field of the wrong type, a missing input or
// malformed JSON is a *CaseError naming name and the line.
func ReadCases(r io.Reader, name string, cols Columns) ([]Case, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	var cases []Case
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		c, err := decodeCase(b, cols)
		if err != nil {
			return nil, &CaseError{File: name, Line: line, Err: err}
		}
		c.Source = fmt.Sprintf("%s:%d", name, line)
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		return nil, &CaseError{File: name, Line: line + 1, Err: err}
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("%s: %w", name, ErrNoCases)
	}
	return cases, nil
}

// decodeCase decodes one JSON object into a Case.
func decodeCase(b []byte, cols Columns) (Case, error) {
	var row map[string]json.RawMessage
	if err := json.Unmarshal(b, &row); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Case{}, fmt.Errorf("%w: a case must be a JSON object", ErrBadType)
		}
		return Case{}, fmt.Errorf("malformed JSON: %w", err)
	}
	in, exp, spec, tags := cols.resolve()
	var c Case
	fields := func() string { return strings.Join(slices.Sorted(maps.Keys(row)), ", ") }
	present := func(col column) (json.RawMessage, bool, error) {
		v, ok := row[col.name]
		if !ok && col.required {
			return nil, false, fmt.Errorf("%w %q (fields: %s)", ErrNoColumn, col.name, fields())
		}
		return v, ok && string(v) != "null", nil
	}
	v, ok := row[in.name]
	if !ok || string(v) == "null" {
		return Case{}, fmt.Errorf("%w: field %q is missing or null (fields: %s)", ErrNoInput, in.name, fields())
	}
	var err error
	if err = decodeString(in.name, v, &c.Input); err != nil {
		return Case{}, err
	}
	if v, ok, err = present(exp); err != nil {
		return Case{}, err
	} else if ok {
		c.setExpected(v)
	}
	if v, ok, err = present(spec); err != nil {
		return Case{}, err
	} else if ok {
		if err := decodeString(spec.name, v, &c.Spec); err != nil {
			return Case{}, err
		}
	}
	if v, ok, err = present(tags); err != nil {
		return Case{}, err
	} else if ok {
		if err := json.Unmarshal(v, &c.Tags); err != nil {
			return Case{}, fmt.Errorf("%w: %q must be a list of strings", ErrBadType, tags.name)
		}
		if len(c.Tags) == 0 {
			c.Tags = nil // [] and no tags are the same
		}
	}
	return c, nil
}

func decodeString(field string, v json.RawMessage, dst *string) error {
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("%w: %q must be a string", ErrBadType, field)
	}
	return nil
}

// setExpected stores a JSON value as the expected answer: a string as its
// text, anything else as canonical JSON.
func (c *Case) setExpected(v json.RawMessage) {
	c.HasExpected = true
	if json.Unmarshal(v, &c.Expected) == nil {
		return
	}
	c.Expected, _ = canonicalJSON(string(v))
	c.ExpectedJSON = true
}

// caseJSON is a Case on the wire (in a saved report).
type caseJSON struct {
	Input    string          `json:"input"`
	Expected json.RawMessage `json:"expected,omitempty"`
	Tags     []string        `json:"tags,omitempty"`
	Spec     string          `json:"spec,omitempty"`
	Source   string          `json:"source,omitempty"`
}

// MarshalJSON writes the case as a cases-file object (plus its source).
func (c Case) MarshalJSON() ([]byte, error) {
	w := caseJSON{Input: c.Input, Tags: c.Tags, Spec: c.Spec, Source: c.Source}
	switch {
	case c.ExpectedJSON:
		w.Expected = json.RawMessage(c.Expected)
	case c.HasExpected:
		w.Expected, _ = json.Marshal(c.Expected)
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON wrote, or a cases-file object.
func (c *Case) UnmarshalJSON(b []byte) error {
	d, err := decodeCase(b, Columns{})
	if err != nil {
		return err
	}
	var src struct {
		Source string `json:"source"`
	}
	_ = json.Unmarshal(b, &src) // decodeCase accepted b, so it is an object
	d.Source = src.Source
	*c = d
	return nil
}

// BySpec splits cases by their Spec, in order of first appearance, for sets
// that mix tasks: each group runs on its own program, and Score over the
// groups' results together gives the whole set's report.
func BySpec(cases []Case) [][]Case {
	var groups [][]Case
	index := map[string]int{}
	for _, c := range cases {
		i, ok := index[c.Spec]
		if !ok {
			i = len(groups)
			index[c.Spec] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], c)
	}
	return groups
}
