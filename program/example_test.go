package program_test

import (
	"fmt"

	"github.com/paw-dev/paw/program"
)

func ExampleRenderTemplate() {
	t, err := program.RenderTemplate("gpt2", "Answer yes or no.")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", t.Render("Is the sky blue?"))
	// Output: "Answer yes or no.\n\n[INPUT]\nIs the sky blue?\n[END_INPUT]"
}

func ExampleParseRef() {
	for _, s := range []string{"./sentiment.paw", "email-triage", "alice/sentiment@v2", "0123456789abcdef0123456789abcdef"} {
		r, err := program.ParseRef(s)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-34s slug=%-5v %s\n", s, r.IsSlug(), r)
	}
	// Output:
	// ./sentiment.paw                    slug=false ./sentiment.paw
	// email-triage                       slug=true  programasweights/email-triage
	// alice/sentiment@v2                 slug=true  alice/sentiment@v2
	// 0123456789abcdef0123456789abcdef   slug=false 0123456789abcdef0123456789abcdef
}
