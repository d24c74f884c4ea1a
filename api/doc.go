// Package api holds the wire types of the HTTP surfaces paw talks to and
// serves: the hosted Program-as-Weights REST API (program resolution and
// download, runtime manifests, compilation, inference) and its error
// bodies, and the OpenAI-compatible Chat Completions, Completions and
// Models APIs (paw serve answers them; package upstream sends them). It
// imports only the standard library and builds with CGO_ENABLED=0.
package api
