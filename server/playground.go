package server

import (
	"embed"
	"net/http"
)

// playgroundFS holds the playground page and its script and style sheet,
// embedded so that the binary serves them with no CDN or file around.
//
//go:embed playground
var playgroundFS embed.FS

// playgroundCSP allows the page only this server: its own script, style
// sheet and API.
const playgroundCSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// handlePlayground serves the page (GET /{$}).
func (s *Server) handlePlayground(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", playgroundCSP)
	http.ServeFileFS(w, r, playgroundFS, "playground/index.html")
}

// handleStatic serves the page's script and style sheet (GET
// /static/{file}); a {file} is one path segment, so it stays in the
// embedded directory.
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", playgroundCSP)
	http.ServeFileFS(w, r, playgroundFS, "playground/"+r.PathValue("file"))
}
