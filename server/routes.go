package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/paw-dev/paw/upstream"
)

// Route modes: how a function's requests are answered.
const (
	// RouteLocal answers with the compiled program (the default).
	RouteLocal = "local"
	// RouteFallback answers locally, and from the upstream model when the
	// local answer breaks the contract or its confidence is below the
	// threshold.
	RouteFallback = "fallback"
	// RouteShadow answers from the upstream model and runs the program
	// beside it, off the request path, to measure agreement.
	RouteShadow = "shadow"
)

// DefaultUpstreamTimeout bounds one upstream request when the routing file
// gives no timeout: a dead upstream is a clear error, never a hang.
const DefaultUpstreamTimeout = 30 * time.Second

// ErrRoutes reports a routing file that cannot be used.
var ErrRoutes = errors.New("server: routing file")

// Route says how one function's requests are answered.
type Route struct {
	Mode string // RouteLocal, RouteFallback or RouteShadow
	// Threshold (fallback only) is the confidence below which a valid local
	// answer goes upstream: the threshold `paw test --target-accuracy`
	// reports. nil sends only invalid answers upstream.
	Threshold *float64
	// Upstream answers for fallback and shadow routes.
	Upstream *upstream.Client
}

// routeFile is the --config file.
type routeFile struct {
	// Upstream is every function's upstream unless it names its own.
	Upstream  *upstreamSpec        `yaml:"upstream"`
	Functions map[string]routeSpec `yaml:"functions"`
}

type routeSpec struct {
	Route     string        `yaml:"route"`
	Threshold *float64      `yaml:"threshold"`
	Upstream  *upstreamSpec `yaml:"upstream"`
}

type upstreamSpec struct {
	URL       string        `yaml:"url"`
	Model     string        `yaml:"model"`
	APIKeyEnv string        `yaml:"api_key_env"`
	Timeout   time.Duration `yaml:"timeout"`
	Retries   int           `yaml:"retries"`
}

// ReadRoutes reads a routing file; see ParseRoutes.
func ReadRoutes(path string, lookupEnv func(string) (string, bool)) (map[string]Route, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRoutes, err)
	}
	return ParseRoutes(data, path, lookupEnv)
}

// ParseRoutes decodes a routing file, YAML or JSON, strictly: an unknown
// key, a bad route or a missing upstream is an error naming the file and
// the function. Routes are keyed by the program reference clients use (a
// slug, a program id or a registry name). lookupEnv reads the variables
// that api_key_env names (os.LookupEnv in the CLI); a named variable that
// is unset is an error.
func ParseRoutes(data []byte, name string, lookupEnv func(string) (string, bool)) (map[string]Route, error) {
	var f routeFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %s is empty: want a mapping with functions", ErrRoutes, name)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrRoutes, name, err)
	}
	routes := make(map[string]Route, len(f.Functions))
	var errs []error
	for ref, spec := range f.Functions {
		r, err := spec.route(f.Upstream, lookupEnv)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: function %q: %w", ErrRoutes, name, ref, err))
			continue
		}
		routes[ref] = r
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return routes, nil
}

func (spec routeSpec) route(def *upstreamSpec, lookupEnv func(string) (string, bool)) (Route, error) {
	r := Route{Mode: spec.Route, Threshold: spec.Threshold}
	switch spec.Route {
	case "", RouteLocal:
		r.Mode = RouteLocal
	case RouteFallback, RouteShadow:
	default:
		return r, fmt.Errorf("route %q: want local, fallback or shadow", spec.Route)
	}
	if t := spec.Threshold; t != nil && (r.Mode != RouteFallback || !(*t >= 0 && *t <= 1)) {
		return r, fmt.Errorf("threshold %v: want a confidence in [0, 1], on route fallback only", *t)
	}
	u := spec.Upstream
	if u == nil {
		u = def
	}
	if r.Mode == RouteLocal {
		return r, nil
	}
	if u == nil {
		return r, fmt.Errorf("route %s needs an upstream (its own, or the file's)", r.Mode)
	}
	c, err := u.client(lookupEnv)
	r.Upstream = c
	return r, err
}

func (u *upstreamSpec) client(lookupEnv func(string) (string, bool)) (*upstream.Client, error) {
	if u.URL == "" || u.Model == "" {
		return nil, errors.New("upstream needs url and model")
	}
	if u.Timeout < 0 || u.Retries < 0 {
		return nil, errors.New("upstream timeout and retries cannot be negative")
	}
	c := &upstream.Client{BaseURL: u.URL, Model: u.Model, Retries: u.Retries, RetryDelay: 100 * time.Millisecond,
		MaxRetryDelay: time.Second, HTTPClient: &http.Client{Timeout: u.Timeout}}
	if c.Retries == 0 {
		c.Retries = -1 // a request waits on it: no retries unless asked
	}
	if c.HTTPClient.Timeout == 0 {
		c.HTTPClient.Timeout = DefaultUpstreamTimeout
	}
	if u.APIKeyEnv != "" {
		key, ok := lookupEnv(u.APIKeyEnv)
		if !ok || key == "" {
			return nil, fmt.Errorf("api_key_env: %s is not set", u.APIKeyEnv)
		}
		c.APIKey = key
	}
	return c, nil
}
