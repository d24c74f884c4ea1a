package paw_test

import (
	"context"
	"fmt"
	"log"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/registry"
)

// Compile is the compileFuzzyFunction of a script: the hosted service
// compiles the spec once, and later runs load the remembered program.
func ExampleEngine_Compile() {
	ctx := context.Background()
	eng, err := paw.Open(ctx, paw.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	fn, err := eng.Compile(ctx, "Answer page only when this log line suggests user-facing impact, else ignore")
	if err != nil {
		log.Fatal(err)
	}
	pagerWorthy, err := paw.Labels(fn, "page", "ignore")
	if err != nil {
		log.Fatal(err)
	}
	action, probs, err := pagerWorthy.Call(ctx, "GET /checkout 502 Bad Gateway")
	fmt.Println(action, probs, err)
}

// With a registry, a function's name runs its live version: a promote or a
// rollback changes what the next Function loads, without a deploy.
func ExampleOptions_registry() {
	ctx := context.Background()
	reg, err := registry.Open(ctx, "/var/lib/paw/registry.db")
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close()
	eng, err := paw.Open(ctx, paw.Options{Registry: reg})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	fn, err := eng.Function(ctx, "log_triage") // or "log_triage@v3"
	if err != nil {
		log.Fatal(err) // a retired function's error names its owner
	}
	res, err := fn.Call(ctx, "GET /checkout 502 Bad Gateway")
	fmt.Println(res.Output, err)
}
