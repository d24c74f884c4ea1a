package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// ReadParquet reads cases from a Parquet file (FuzzyBench-style data: one
// row per case) of the given size; name is used in messages. The columns
// are top-level fields named by cols; one that is set but absent is an
// error listing the columns that exist.
func ReadParquet(r io.ReaderAt, size int64, name string, cols Columns) ([]Case, error) {
	f, err := parquet.OpenFile(r, size)
	if err != nil {
		return nil, fmt.Errorf("%s: read parquet: %w", name, err)
	}
	var have []string
	for _, fl := range f.Schema().Fields() {
		have = append(have, fl.Name())
	}
	in, exp, spec, tags := cols.resolve()
	use := map[string]string{} // role → column, for the columns present
	for i, col := range []column{in, exp, spec, tags} {
		role := []string{"input", "expected", "spec", "tags"}[i]
		switch {
		case slices.Contains(have, col.name):
			use[role] = col.name
		case col.required:
			return nil, fmt.Errorf("%s: %w %q (columns: %s)", name, ErrNoColumn, col.name, strings.Join(have, ", "))
		}
	}
	rd := parquet.NewGenericReader[any](f)
	defer rd.Close()
	var cases []Case
	buf := make([]any, 256)
	for row := 1; ; {
		n, err := rd.Read(buf)
		for _, v := range buf[:n] {
			c, cerr := parquetCase(v, use)
			if cerr != nil {
				return nil, &CaseError{File: name, Line: row, Err: cerr}
			}
			c.Source = fmt.Sprintf("%s:%d", name, row)
			cases = append(cases, c)
			row++
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &CaseError{File: name, Line: row, Err: err}
		}
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("%s: %w", name, ErrNoCases)
	}
	return cases, nil
}

// parquetCase converts one row (a map of column values) into a Case by
// way of its JSON form, so the type rules are those of the JSONL reader.
func parquetCase(v any, use map[string]string) (Case, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Case{}, fmt.Errorf("%w: row is %T, not a record", ErrBadType, v)
	}
	obj := map[string]any{}
	for role, col := range use {
		x := m[col]
		if b, ok := x.([]byte); ok {
			x = string(b)
		}
		obj[role] = x
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return Case{}, fmt.Errorf("%w: %w", ErrBadType, err)
	}
	c, err := decodeCase(b, Columns{})
	if err != nil {
		return Case{}, fmt.Errorf("%w (columns %v)", err, use)
	}
	return c, nil
}
