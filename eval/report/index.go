package report

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/internal/fsutil"
)

// Index is a page linking the reports of a library's functions, each with
// its headline figures: the benchmarks beside the functions.
type Index struct {
	Title     string // default "paw test: functions"
	Generated time.Time
	Rows      []IndexRow
}

// IndexRow is one function of an Index.
type IndexRow struct {
	Name string
	// Href links the function's page, relative to the index; "" for none.
	Href      string
	ProgramID string
	Owner     string
	Expires   time.Time // zero: never
	Expired   bool
	// Report is the function's last run; nil when it has not been tested.
	Report      *eval.Report
	FailedGates []string
}

//go:embed index.html.tmpl
var indexSource string

var indexTemplate = template.Must(template.New("index").Funcs(template.FuncMap{
	"pct": pct, "ms": ms,
	"date": func(t time.Time) string { return t.Format(time.DateOnly) },
}).Parse(indexSource))

// WriteIndex renders x as HTML to w, in full before the first byte.
func WriteIndex(w io.Writer, x Index) error {
	x.Title = cmp.Or(x.Title, "paw test: functions")
	when := ""
	if !x.Generated.IsZero() {
		when = x.Generated.UTC().Format("2006-01-02 15:04 UTC")
	}
	var buf bytes.Buffer
	if err := indexTemplate.Execute(&buf, struct {
		Index
		When string
	}{x, when}); err != nil {
		return fmt.Errorf("report: render index: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteIndexFile writes x's page to path atomically.
func WriteIndexFile(path string, x Index) error {
	if err := fsutil.WriteAtomic(path, 0o644, func(w io.Writer) error { return WriteIndex(w, x) }); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	return nil
}
