package eval_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/paw-dev/paw/eval"
)

func ExampleRun() {
	spec := `Classify intent. Return ONLY one of: search, create, delete.

Input: Find the latest report
Output: search

Input: Make a new folder
Output: create

Input: Remove old backups
Output: delete
`
	cases, err := eval.FromSpec(spec, "spec.txt")
	if err != nil {
		panic(err)
	}
	// A stand-in for a compiled program: it knows only "find".
	runner := eval.RunnerFunc(func(_ context.Context, input string) (eval.Answer, error) {
		if strings.HasPrefix(input, "Find") {
			return eval.Answer{Output: "search", Valid: true}, nil
		}
		return eval.Answer{Output: "create", Valid: true}, nil
	})
	report, err := eval.Run(context.Background(), runner, cases, eval.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Printf("accuracy %.2f over %d cases\n", report.Accuracy, report.N)
	fmt.Println("labels", report.Labels)
	fmt.Println("confusion", report.Confusion)
	for _, f := range report.Failing {
		fmt.Printf("%s: %q answered %q, expected %q\n", f.Source, f.Input, f.Output, f.Expected)
	}
	// Output:
	// accuracy 0.67 over 3 cases
	// labels [create delete search]
	// confusion [[1 0 0] [1 0 0] [0 0 1]]
	// spec.txt:9: "Remove old backups" answered "create", expected "delete"
}
