package library

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// starterManifest is what Init writes; EXPIRES becomes a date a year on.
const starterManifest = `# The fuzzy functions of this project. paw build compiles the ones that
# changed and pins them in paw.lock (commit both); paw test runs each
# function's cases against its gates; paw gen go -o DIR writes typed Go.
version: 1
functions:
  - name: pager_worthy
    spec: |
      Return true only when this log line suggests user-facing impact:
      failed requests, errors users see, outages, timeouts. Return false
      for routine, debug and background messages.
    labels: [true, false]
    owner: you@example.com
    scope:
      use: deciding whether a log line should page the on-call engineer
      not_for: security alerts and audit decisions
    expires: EXPIRES
    retire_when: the services log a structured user-impact field
    cases: cases/pager_worthy.jsonl
    gates:
      min_accuracy: 0.8
      max_invalid: 0
`

// starterCases are the example function's test set.
const starterCases = `{"input": "GET /checkout 502 Bad Gateway upstream=payments latency=30012ms", "expected": "true", "tags": ["http"]}
{"input": "ERROR login failed for all users: session store unreachable", "expected": "true", "tags": ["auth"]}
{"input": "timeout after 30s waiting for orders-db; request aborted", "expected": "true", "tags": ["db"]}
{"input": "WARN 37% of image uploads failing with 500 since 09:12", "expected": "true", "tags": ["http"]}
{"input": "DEBUG cache warmed in 412ms (18211 keys)", "expected": "false", "tags": ["cache"]}
{"input": "INFO nightly report job finished, 0 errors", "expected": "false", "tags": ["batch"]}
{"input": "retrying webhook delivery (attempt 2/5), succeeded", "expected": "false", "tags": ["http"]}
{"input": "GET /healthz 200 1ms", "expected": "false", "tags": ["http"]}
`

// Init writes a starter project into dir: a paw.yaml with one example
// function (expiring a year after now) and its cases file. It refuses, and
// writes nothing, when either file exists. It returns the paths written.
func Init(dir string, now time.Time) ([]string, error) {
	files := []struct{ path, data string }{
		{filepath.Join(dir, ManifestFile), strings.Replace(starterManifest, "EXPIRES", now.AddDate(1, 0, 0).Format(time.DateOnly), 1)},
		{filepath.Join(dir, "cases", "pager_worthy.jsonl"), starterCases},
	}
	for _, f := range files {
		if _, err := os.Lstat(f.path); !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("init: %s already exists; not overwriting it", f.path)
		}
	}
	var written []string
	for _, f := range files {
		if err := writeNew(f.path, f.data); err != nil {
			return written, fmt.Errorf("init: %w", err)
		}
		written = append(written, f.path)
	}
	return written, nil
}

// writeNew creates path with data, failing if it exists.
func writeNew(path, data string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
