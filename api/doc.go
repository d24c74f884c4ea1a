// Package api holds the wire types of the HTTP surfaces paw talks to: the
// hosted Program-as-Weights REST API (program resolution and download,
// runtime manifests, compilation) and its error bodies. It imports only the
// standard library and builds with CGO_ENABLED=0.
package api
