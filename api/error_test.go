package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   Error
		is     error
	}{
		{"code", 429, http.Header{"Retry-After": {"3"}}, `{"error":"rate_limited","message":"slow down","request_id":"r1"}`,
			Error{Status: 429, Code: "rate_limited", Message: "slow down", RequestID: "r1", RetryAfter: 3 * time.Second}, ErrRateLimited},
		{"detail", 404, http.Header{"X-Request-Id": {"r2"}}, `{"detail":"Program not found"}`,
			Error{Status: 404, Message: "Program not found", RequestID: "r2"}, ErrNotFound},
		{"fastapi 422", 422, nil, `{"detail":[{"loc":["body","spec"],"msg":"too short"}]}`,
			Error{Status: 422, Message: "spec: too short"}, ErrBadRequest},
		{"error sentence", 400, nil, `{"error":"unknown compiler foo"}`,
			Error{Status: 400, Message: "unknown compiler foo"}, ErrBadRequest},
		{"not json", 502, nil, "<html>bad gateway</html>", Error{Status: 502, Message: "<html>bad gateway</html>"}, ErrServer},
		{"empty", 401, nil, "", Error{Status: 401}, ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseError(tt.status, tt.header, []byte(tt.body))
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !errors.Is(got, tt.is) {
				t.Errorf("%v is not %v", got, tt.is)
			}
		})
	}
	e := &Error{Status: 429, Code: "rate_limited", Message: "slow down", RequestID: "r1"}
	if s := e.Error(); !strings.Contains(s, "slow down") || !strings.Contains(s, "request_id r1") {
		t.Errorf("Error() = %q", s)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"5": 5 * time.Second, "0.5": 500 * time.Millisecond, "": 0, "-1": 0, "soon": 0,
		now.Add(time.Minute).Format(http.TimeFormat): time.Minute,
	} {
		if got := RetryAfter(http.Header{"Retry-After": {v}}, now); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestCompilersResponse(t *testing.T) {
	for _, body := range []string{
		`{"compilers":[{"name":"paw-4b-qwen3-0.6b","kind":"prompt"},{"name":"paw-ft-bs48","async":true}],"default":"paw-4b-qwen3-0.6b"}`,
		`[{"name":"paw-4b-qwen3-0.6b","kind":"prompt","default":true},"paw-ft-bs48"]`,
	} {
		var r CompilersResponse
		if err := r.UnmarshalJSON([]byte(body)); err != nil {
			t.Fatal(err)
		}
		if len(r.Compilers) != 2 || !r.Compilers[0].Default || r.Compilers[1].Name != "paw-ft-bs48" {
			t.Errorf("%s → %+v", body, r)
		}
	}
}

func FuzzParseError(f *testing.F) {
	f.Add([]byte(`{"error":"x","message":"y","request_id":"z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e := ParseError(500, http.Header{"Retry-After": {string(b)}}, b)
		if e.Status != 500 || e.RetryAfter < 0 || len(e.Error()) > 4*len(b)+200 {
			t.Fatalf("%q → %+v", b, e)
		}
		var r CompilersResponse
		_ = r.UnmarshalJSON(b)
	})
}
