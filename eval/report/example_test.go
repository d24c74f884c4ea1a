package report_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/eval/report"
)

func ExampleWriteFile() {
	cases := []eval.Case{
		{Input: "Find the latest report", Expected: "search", HasExpected: true},
		{Input: "Remove old backups", Expected: "delete", HasExpected: true},
	}
	// A stand-in for a compiled program.
	runner := eval.RunnerFunc(func(_ context.Context, input string) (eval.Answer, error) {
		return eval.Answer{Output: "search", Valid: true, Confidence: 0.9, HasConfidence: true}, nil
	})
	r, err := eval.Run(context.Background(), runner, cases, eval.Options{TargetAccuracy: 0.95})
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "report")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "report.html")
	if err := report.WriteFile(path, report.Page{Title: "intent router", Report: r}); err != nil {
		panic(err)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.Contains(string(page), "<title>intent router</title>"))
	// Output: true
}
