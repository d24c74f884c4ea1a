package registry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/paw-dev/paw/registry"
)

// A function is registered, gets a tested version, and that version is
// promoted and resolved.
func Example() {
	dir, err := os.MkdirTemp("", "registry-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	r, err := registry.Open(ctx, filepath.Join(dir, "registry.db")) // or a postgres:// DSN
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	if err := r.AddFunction(ctx, registry.Function{Name: "triage", Owner: "alice"}, "alice"); err != nil {
		log.Fatal(err)
	}
	v, err := r.AddVersion(ctx, registry.Version{Function: "triage", ProgramID: "3f2a", CreatedBy: "ci"})
	if err != nil {
		log.Fatal(err)
	}
	if err := r.RecordTest(ctx, "triage", v.Number, json.RawMessage(`{"accuracy":0.94}`), true, "ci"); err != nil {
		log.Fatal(err)
	}
	if err := r.Promote(ctx, "triage", v.Number, registry.PromoteOptions{Actor: "alice"}); err != nil {
		log.Fatal(err)
	}
	live, err := r.Resolve(ctx, "triage")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(live.Ref(), live.ProgramID)
	// Output: triage@v1 3f2a
}
