package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/schema"
)

// Sentinel errors; writeError maps them, and the engine's, to statuses.
var (
	ErrBadRequest    = errors.New("server: bad request")
	ErrUnsupported   = errors.New("server: unsupported request option")
	ErrBaseModel     = errors.New("server: the base model is not servable; name a program")
	ErrNoProgram     = errors.New("server: no such program")
	ErrLocalPath     = errors.New("server: local paths are servable only when preloaded (--program)")
	ErrInputTooLarge = errors.New("server: input too large")
	ErrQueueFull     = errors.New("server: queue full")
	ErrBuilding      = errors.New("server: program is still loading")
	ErrNoCompiler    = errors.New("server: no local compiler applies")
	ErrNoRoute       = errors.New("server: no such route")
	ErrMethod        = errors.New("server: method not allowed")
	ErrClosed        = errors.New("server: shutting down")
)

// statusFor maps an error to its HTTP status and machine-readable code.
func statusFor(err error) (int, string) {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, "body_too_large"
	case errors.Is(err, ErrInputTooLarge):
		return http.StatusRequestEntityTooLarge, "input_too_large"
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests, "rate_limited"
	case errors.Is(err, ErrQueueFull):
		return http.StatusTooManyRequests, "queue_full"
	case errors.Is(err, ErrBuilding):
		return http.StatusAccepted, "building"
	case errors.Is(err, ErrNoCompiler):
		return http.StatusNotImplemented, "not_implemented"
	case errors.Is(err, ErrNoRoute):
		return http.StatusNotFound, "no_route"
	case errors.Is(err, ErrMethod):
		return http.StatusMethodNotAllowed, "method_not_allowed"
	case errors.Is(err, ErrBaseModel):
		return http.StatusBadRequest, "base_model"
	case errors.Is(err, ErrLocalPath), errors.Is(err, ErrNoProgram), errors.Is(err, ErrNoJob), errors.Is(err, paw.ErrNotFound),
		errors.Is(err, paw.ErrNotCached), errors.Is(err, hub.ErrBadRef):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, schema.ErrInvalidSchema), errors.Is(err, schema.ErrUnsupportedSchema),
		errors.Is(err, schema.ErrUnsatisfiable), errors.Is(err, schema.ErrRegex), errors.Is(err, schema.ErrLabel),
		errors.Is(err, schema.ErrEmptyLabels):
		return http.StatusBadRequest, "invalid_schema"
	case errors.Is(err, ErrUnsupported):
		return http.StatusBadRequest, "unsupported"
	case errors.Is(err, ErrBadRequest), errors.Is(err, paw.ErrOptions), errors.As(err, &syntax), errors.As(err, &typ):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(err, paw.ErrInputTooLong):
		return http.StatusBadRequest, "context_length_exceeded"
	case errors.Is(err, paw.ErrNoValidOutput):
		return http.StatusUnprocessableEntity, "no_valid_output"
	case errors.Is(err, ErrUpstream):
		// Before the deadline: an upstream that timed out is the upstream's failure.
		return http.StatusBadGateway, "upstream_error"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timeout"
	case errors.Is(err, context.Canceled):
		return 499, "client_closed" // nginx's code: the client left; nobody reads this
	case errors.Is(err, ErrClosed), errors.Is(err, paw.ErrClosed):
		return http.StatusServiceUnavailable, "unavailable"
	case errors.Is(err, paw.ErrBaseMismatch), errors.Is(err, hub.ErrInvalidBundle), errors.Is(err, program.ErrFormat),
		errors.Is(err, program.ErrMissingMember), errors.Is(err, program.ErrMeta), errors.Is(err, program.ErrAdapter),
		errors.Is(err, program.ErrTemplate), errors.Is(err, program.ErrPlaceholder), errors.Is(err, program.ErrUnsafeMember),
		errors.Is(err, program.ErrTooLarge), errors.Is(err, program.ErrBaseMismatch), errors.Is(err, program.ErrInterpreter):
		// A broken bundle in the cache: the server's fault, that program's only.
		return http.StatusInternalServerError, "program_error"
	}
	return http.StatusInternalServerError, "internal"
}

// pawError is the PAW REST error body: the official {error, message,
// details, request_id}, plus FastAPI's detail (the message again), which
// the official SDK reads on a 404 download to tell "not found" from "not
// ready yet".
type pawError struct {
	api.Error
	Detail string `json:"detail"`
}

// writeError writes err as the error body of the request's API: OpenAI's
// shape under /v1, the PAW shape elsewhere. A 429 or 202 carries
// Retry-After.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := statusFor(err)
	msg := err.Error()
	if status == http.StatusNotFound && !strings.Contains(strings.ToLower(msg), "not found") {
		// The official SDK tells a missing program from one still being
		// built by "not found" in a 404 download's detail.
		msg = "not found: " + msg
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	if status == http.StatusInternalServerError {
		s.log.Error("request failed", "path", r.URL.Path, "err", err)
	}
	if (status == http.StatusTooManyRequests || status == http.StatusAccepted) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(s.cfg.RetryAfter.Seconds()))))
	}
	if rw, ok := w.(*recorder); ok {
		rw.code = code
	}
	writeJSON(w, status, errorBody(r, status, code, msg))
}

// errorBody is the error body of the request's API.
func errorBody(r *http.Request, status int, code, msg string) any {
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		typ := "invalid_request_error"
		if status >= 500 || status == http.StatusTooManyRequests {
			typ = "server_error"
		}
		return api.OpenAIError{Error: api.OpenAIErrorDetail{Message: msg, Type: typ, Code: code}}
	}
	return pawError{Error: api.Error{Code: code, Message: msg, RequestID: requestID(r)}, Detail: msg}
}

// streamError ends a stream that err cut after it started: the status is
// sent, so the error body goes as the last event.
func (s *Server) streamError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := statusFor(err)
	if rw, ok := w.(*recorder); ok {
		rw.code = code
	}
	if status == http.StatusInternalServerError {
		s.log.Error("stream failed", "path", r.URL.Path, "err", err)
	}
	sse(w, errorBody(r, status, code, err.Error())) // the client may be gone
}

// writeJSON writes v as the response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do then
}

// decode reads the JSON request body into v.
func decode(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return fmt.Errorf("%w: request body: %w", ErrBadRequest, err)
	}
	return nil
}
