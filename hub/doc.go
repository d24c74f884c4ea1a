// Package hub fetches Program-as-Weights programs and interpreter base models
// into a local cache, and finds them there.
//
// The cache is a directory (Client.Dir) laid out as
//
//	programs/<program_id>/      an unpacked program (adapter.gguf, meta.json, prompt_template.txt)
//	models/<runtime_id>/<file>  a runtime's GGUF base model (+ manifest.json when the service has one)
//	slugs.json                  slug → program id, as last resolved
//	locks/                      one lock file per item (never deleted)
//
// Every install downloads to a temporary file in the destination directory,
// verifies it (size and sha256 for base models, program.NewReader's checks
// for program bundles) and only then renames it into place, under a
// cross-process lock, so no reader ever sees half a file and two processes
// never download the same item twice. Interrupted downloads resume with HTTP
// Range requests. Progress is reported through Client.Trace; the package
// never prints.
package hub
