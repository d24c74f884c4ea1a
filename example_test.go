package paw_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/paw-dev/paw"
)

// The three-line API: open an engine, load a function, call it. The program
// and its base model are downloaded into the cache on first use.
func Example() {
	ctx := context.Background()
	eng, err := paw.Open(ctx, paw.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	fn, err := eng.Function(ctx, "email-triage")
	if err != nil {
		log.Fatal(err)
	}
	res, err := fn.Call(ctx, "Server down since 3am, customers cannot log in", paw.WithMaxTokens(16))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Output, res.Tokens, res.Latency)
}

// Stream passes each token to a callback as the engine accepts it, here
// printed as it comes; the texts add up to the result's output. Returning
// an error stops the call.
func ExampleFunction_Stream() {
	ctx := context.Background()
	eng, _ := paw.Open(ctx, paw.Options{Offline: true})
	defer eng.Close()
	fn, err := eng.Function(ctx, "./summarize.paw")
	if err != nil {
		log.Fatal(err)
	}
	res, err := fn.Stream(ctx, "The meeting moved to Thursday at 3pm, room 4B.", func(t paw.Token) error {
		fmt.Print(t.Text)
		return nil
	}, paw.WithMaxTokens(64), paw.WithLogprobs(0))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("\n%d tokens, the first with logprob %.2f\n", res.Tokens, res.Logprobs[0].Logprob)
}

type Urgency string

// Labels holds a function to a fixed label set and returns every label's
// probability, scored exactly.
func ExampleLabels() {
	ctx := context.Background()
	eng, _ := paw.Open(ctx, paw.Options{Offline: true})
	defer eng.Close()
	fn, err := eng.Function(ctx, "./email-triage.paw")
	if err != nil {
		log.Fatal(err)
	}
	cls, err := paw.Labels[Urgency](fn, "urgent", "normal", "low")
	if err != nil {
		log.Fatal(err)
	}
	u, probs, err := cls.Call(ctx, "The office coffee machine is out of beans")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (p=%.2f)\n", u, probs[u])
}

type Ticket struct {
	Team     string `json:"team" jsonschema:"enum=billing,enum=technical,enum=account"`
	Priority int    `json:"priority" jsonschema:"minimum=1,maximum=5"`
}

// JSON holds a function to JSON for a Go type; the result is validated
// against the schema derived from the struct before it is unmarshalled.
func ExampleJSON() {
	ctx := context.Background()
	eng, _ := paw.Open(ctx, paw.Options{})
	defer eng.Close()
	fn, err := eng.Function(ctx, "me/ticket-router@v2")
	if err != nil {
		log.Fatal(err)
	}
	j, err := paw.JSON[Ticket](fn)
	if err != nil {
		log.Fatal(err)
	}
	t, err := j.Call(ctx, "I was charged twice this month", paw.WithMaxTokens(64))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.Team, t.Priority)
}

// Errors match the root package's own values with errors.Is and errors.As:
// a caller needs no other package.
func ExampleFunction_Call_errors() {
	ctx := context.Background()
	eng, err := paw.Open(ctx, paw.Options{Offline: true})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	fn, err := eng.Function(ctx, "email-triage")
	var missing *paw.MissingError
	if errors.As(err, &missing) {
		fmt.Printf("%s %s is not cached yet\n", missing.Kind, missing.Ref)
		return
	} else if err != nil {
		log.Fatal(err)
	}
	res, err := fn.Call(ctx, "Server down since 3am", paw.WithMaxTokens(16))
	switch {
	case errors.Is(err, paw.ErrInputTooLong):
		fmt.Println("input too long for the model's context")
	case errors.Is(err, paw.ErrClosed):
		fmt.Println("function closed")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println(res.Output, res.FinishReason == paw.FinishStop)
	}
}
