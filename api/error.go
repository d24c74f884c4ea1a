package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinels that an *Error unwraps to, by HTTP status class, so callers can
// write errors.Is(err, api.ErrRateLimited) and errors.As for the fields.
var (
	ErrBadRequest   = errors.New("api: bad request")         // 400, 422
	ErrUnauthorized = errors.New("api: unauthorized")        // 401, 403
	ErrNotFound     = errors.New("api: not found")           // 404, 410
	ErrRateLimited  = errors.New("api: rate limited")        // 429
	ErrServer       = errors.New("api: server error")        // 5xx
	ErrUnexpected   = errors.New("api: unexpected response") // anything else
)

// MaxErrorBody is how much of an error response body is read.
const MaxErrorBody = 64 << 10

// Error is a non-success HTTP response from a PAW service. The service sends
// either {"error": code, "message": text, "request_id": id} or FastAPI's
// {"detail": text-or-list}; both are decoded here.
type Error struct {
	Status    int    `json:"-"`                    // HTTP status code
	Code      string `json:"error,omitempty"`      // machine-readable code, when the service sends one
	Message   string `json:"message,omitempty"`    // human-readable message (or the detail)
	RequestID string `json:"request_id,omitempty"` // the service's request id, for support
	// Details is structured detail (the offending field, say), when sent.
	Details json.RawMessage `json:"details,omitempty"`
	// RetryAfter is the wait the response asked for (Retry-After), or 0.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "api: HTTP %d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request_id %s)", e.RequestID)
	}
	return b.String()
}

// Unwrap returns the sentinel for the status class.
func (e *Error) Unwrap() error {
	switch {
	case e.Status == 400 || e.Status == 422:
		return ErrBadRequest
	case e.Status == 401 || e.Status == 403:
		return ErrUnauthorized
	case e.Status == 404 || e.Status == 410:
		return ErrNotFound
	case e.Status == 429:
		return ErrRateLimited
	case e.Status >= 500:
		return ErrServer
	}
	return ErrUnexpected
}

// Temporary reports whether retrying the same request may succeed (429 and 5xx
// other than 501).
func (e *Error) Temporary() bool {
	return e.Status == 429 || (e.Status >= 500 && e.Status != 501)
}

// errorBody is the union of the error shapes the service sends.
type errorBody struct {
	Error     json.RawMessage `json:"error"`
	Message   string          `json:"message"`
	RequestID string          `json:"request_id"`
	Details   json.RawMessage `json:"details"`
	Detail    json.RawMessage `json:"detail"`
}

// ParseError decodes an error response. It never fails: a body that is not
// JSON becomes the message (truncated), and a missing request id is taken
// from the X-Request-ID header.
func ParseError(status int, h http.Header, body []byte) *Error {
	e := &Error{Status: status, RetryAfter: RetryAfter(h, time.Now())}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		e.Code, e.Message, e.RequestID = rawText(eb.Error), eb.Message, eb.RequestID
		if len(eb.Details) > 0 && string(eb.Details) != "null" {
			e.Details = eb.Details
		}
		if e.Message == "" {
			e.Message = detailText(eb.Detail)
		}
		if e.Message == "" && e.Code != "" && strings.ContainsRune(e.Code, ' ') {
			e.Code, e.Message = "", e.Code // {"error": "some sentence"}
		}
	} else if s := strings.TrimSpace(string(body)); s != "" {
		e.Message = truncate(s, 200)
	}
	if e.RequestID == "" && h != nil {
		e.RequestID = h.Get("X-Request-ID")
	}
	return e
}

// ReadError reads (a bounded prefix of) resp.Body and parses it with
// ParseError. It does not close the body.
func ReadError(resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBody))
	return ParseError(resp.StatusCode, resp.Header, body)
}

// rawText returns a JSON string's value, or the raw text of any other value.
func rawText(m json.RawMessage) string {
	if len(m) == 0 || string(m) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(m, &s) == nil {
		return s
	}
	return truncate(string(m), 200)
}

// detailText flattens FastAPI's detail: a string, or a list of {loc, msg}.
func detailText(m json.RawMessage) string {
	if len(m) == 0 || string(m) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(m, &s) == nil {
		return s
	}
	var list []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(m, &list) == nil {
		var parts []string
		for _, d := range list {
			if len(d.Loc) > 0 {
				parts = append(parts, fmt.Sprintf("%v: %s", d.Loc[len(d.Loc)-1], d.Msg))
			} else if d.Msg != "" {
				parts = append(parts, d.Msg)
			}
		}
		if len(parts) > 0 {
			return strings.Join(parts, "; ")
		}
	}
	var obj struct {
		Message string `json:"message"`
		Msg     string `json:"msg"`
	}
	if json.Unmarshal(m, &obj) == nil && obj.Message+obj.Msg != "" {
		return obj.Message + obj.Msg
	}
	return truncate(string(m), 200)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// RetryAfter parses a Retry-After header (delta seconds or an HTTP date)
// relative to now. It returns 0 when the header is absent or malformed.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if n <= 0 || n > 1e6 {
			return 0
		}
		return time.Duration(n * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
