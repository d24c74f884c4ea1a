package hub_test

import (
	"context"
	"fmt"

	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/program"
)

func ExampleClient_PullProgram() {
	c := &hub.Client{Dir: "/tmp/paw-cache", Trace: func(e hub.Event) {
		if e.Kind == hub.EventProgress {
			fmt.Printf("\r%s: %d/%d bytes", e.Item, e.Completed, e.Total)
		}
	}}
	dir, err := c.PullProgram(context.Background(), "programasweights/email-triage@v1")
	if err != nil {
		fmt.Println(err)
		return
	}
	base, err := c.PullRuntime(context.Background(), program.DefaultRuntimeQwen3)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(dir, base)
}
