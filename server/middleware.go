package server

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"net/http"
	"strconv"
	"time"
)

// recorder is the ResponseWriter every handler gets: it keeps the status,
// size, error code and function for the access log and the metrics.
type recorder struct {
	http.ResponseWriter
	status   int
	bytes    int64
	code     string // machine-readable error code, when the request failed
	function string // the program that answered, when one did
	path     string // which path answered (api.PathLocal...)
	key      string // the API key's name, when keys are checked
	tokensIn int
	tokens   int
}

func (rw *recorder) WriteHeader(status int) {
	if rw.status == 0 {
		rw.status = status
	}
	rw.ResponseWriter.WriteHeader(status)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += int64(n)
	return n, err
}

// Flush lets SSE responses reach the client chunk by chunk.
func (rw *recorder) Flush() {
	if f, ok := rw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap serves http.ResponseController.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

type ctxKey struct{}

// requestID returns the request's id (set by wrap).
func requestID(r *http.Request) string {
	id, _ := r.Context().Value(ctxKey{}).(string)
	return id
}

// newRequestID is 16 random hex digits.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// authorize checks the request's API key and its rate limit, when the
// server has keys; a rate-limited request gets Retry-After for its key.
func (s *Server) authorize(rw *recorder, r *http.Request, route string) error {
	if s.keys == nil || keyless(route) {
		return nil
	}
	name, wait, err := s.keys.check(r)
	rw.key = name
	if wait > 0 {
		rw.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	}
	return err
}

// wrap gives a handler a request id (the client's X-Request-ID, or a new
// one), a bounded body, an access log record and its metrics.
func (s *Server) wrap(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if id == "" || len(id) > 64 {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		r = r.WithContext(withRequestID(r.Context(), id))
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		rw := &recorder{ResponseWriter: w}
		if err := s.authorize(rw, r, route); err != nil {
			s.writeError(rw, r, err)
		} else {
			h.ServeHTTP(rw, r)
		}
		if rw.status == 0 {
			rw.status = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.observe(route, rw, d)
		s.log.LogAttrs(r.Context(), levelFor(rw.status), "request",
			slogAttrs(r, rw, id, d)...)
	})
}
