package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/internal/pgtest"
)

// The local cluster (make cluster; skipped unless PAW_CLUSTER=1): three
// `paw serve` replicas on loopback ports, nginx hashing calls by program on
// a consistent ring, PostgreSQL for the registry and versitygw (an S3
// server, built from its Go module) over a temporary directory as the
// store. Fixture models keep it to a few minutes on 2 cores.
const (
	clusterEnv = "PAW_CLUSTER"
	bucket     = "paw-artifacts"
	nPrograms  = 24 // more than one replica keeps loaded (--max-loaded), enough to spread on a ring
	maxLoaded  = 12
	clients    = 6
	// The base model: GPT-2 124M's shape (random weights), so that a call
	// costs real compute (tens of ms) and the figures measure the engine, not
	// only HTTP.
	preset = "gpt2-124m"
)

// cluster is the running parts.
type cluster struct {
	t        *testing.T
	dir, paw string
	env      []string // every paw process's environment
	base     string   // the base model's path in a replica's cache, relative to it
	replicas []*replica
	nginx    *exec.Cmd
	ngxPort  int
	programs []string // program ids, packed on replica 0
}

type replica struct {
	name  string
	cache string
	port  int
	cmd   *exec.Cmd
}

func TestCluster(t *testing.T) {
	if os.Getenv(clusterEnv) == "" {
		t.Skipf("the local cluster runs with %s=1 (make cluster)", clusterEnv)
	}
	c := startCluster(t)
	res := map[string]any{}

	// 1. Programs packed on replica 0 are served by the others from the store.
	want := map[string]string{}
	for _, id := range c.programs {
		want[id] = c.call(c.replicas[0].port, id, "", "a cat").Output
	}
	for _, r := range c.replicas[1:] {
		for _, id := range c.programs {
			if got := c.call(r.port, id, "", "a cat"); got.Output != want[id] || got.ProgramID != id {
				t.Errorf("%s answered %s with %q (program %s), replica 0 with %q", r.name, id, got.Output, got.ProgramID, want[id])
			}
			if _, err := os.Stat(filepath.Join(r.cache, "programs", id, "adapter.gguf")); err != nil {
				t.Errorf("%s: %s not installed from the store: %v", r.name, id, err)
			}
		}
	}

	// 2. A promote made through one replica's registry is live on all
	// within 5 s (each polls the shared registry every 2 s).
	res["promote_live_on_all_s"] = c.promote()

	// 3. Affinity: calls for 24 programs, more than a replica keeps loaded,
	// routed by consistent hashing on the program (from the header, or from
	// the body for clients without it) or by nginx's round robin.
	for _, mode := range []struct {
		name         string
		hash, header bool
	}{
		{"hash_header", true, true}, {"hash_body", true, false}, {"round_robin", false, true},
	} {
		c.writeNginx(mode.hash, c.replicas)
		c.load(2*time.Second, mode.header, c.programs, nil) // warm-up: the steady state is measured
		m := c.load(8*time.Second, mode.header, c.programs, nil)
		if m.failed > 0 {
			t.Errorf("%s: %d calls failed", mode.name, m.failed)
		}
		sum := m.summary()
		sum["programs_per_replica"] = c.spread()
		res[mode.name] = sum
	}
	// Throughput, 1 replica against 3, on programs that all fit in one
	// (each replica has one compute thread, and this machine has few cores).
	for _, n := range []int{1, 3} {
		c.writeNginx(true, c.replicas[:n])
		c.load(2*time.Second, true, c.programs[:maxLoaded], nil)
		res[fmt.Sprintf("replicas_%d", n)] = c.load(8*time.Second, true, c.programs[:maxLoaded], nil).summary()
	}
	res["cpu_cores"] = runtime.NumCPU()

	// 4. SIGKILL of a replica under load: nginx retries its calls on the
	// others (inference calls are pure, so non_idempotent retries are safe).
	c.writeNginx(true, c.replicas)
	m := c.load(8*time.Second, true, c.programs, func() { c.kill(c.replicas[1]) })
	kill := m.summary()
	kill["retried_elsewhere"] = c.retried()
	res["kill_one_of_three"] = kill
	if m.failed > 0 {
		t.Errorf("killing a replica failed %d of %d calls", m.failed, m.ok+m.failed)
	}

	// 5. A new replica with an empty cache pulls the base model and the
	// programs from the store, becomes ready and answers as the others.
	start := time.Now()
	r := c.startReplica("replica-3")
	res["new_replica_ready_s"] = time.Since(start).Seconds()
	for _, id := range c.programs[:3] {
		if got := c.call(r.port, id, "", "a cat"); got.Output != want[id] {
			t.Errorf("new replica answered %s with %q, want %q", id, got.Output, want[id])
		}
	}
	// The kill lost nothing in the registry either: v2 is still live.
	if !c.allAnswer("cats", c.programs[1]) {
		t.Error("after the kill, cats is not v2 on every replica")
	}
	b, _ := json.Marshal(res)
	t.Logf("cluster figures: %s", b)
	if out := os.Getenv("PAW_CLUSTER_OUT"); out != "" {
		os.WriteFile(out, append(b, '\n'), 0o644)
	}
}

func startCluster(t *testing.T) *cluster {
	ctx := context.Background()
	c := &cluster{t: t, dir: t.TempDir()}
	var err error
	if c.paw, err = filepath.Abs(envOr("PAW_BIN", "../bin/paw")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.paw); err != nil {
		t.Fatalf("no paw binary (make build): %v", err)
	}
	s3 := c.startS3()
	pg, err := pgtest.Start(ctx, 5441)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	dsn, err := pg.CreateDB(ctx, "paw_cluster")
	if err != nil {
		t.Fatal(err)
	}
	none := filepath.Join(c.dir, "no-aws-files")
	c.env = append(os.Environ(), "PAW_STORE=s3://"+bucket+"/cluster", "AWS_ENDPOINT_URL="+s3, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=paw", "AWS_SECRET_ACCESS_KEY=paw-secret", "AWS_CONFIG_FILE="+none, "AWS_SHARED_CREDENTIALS_FILE="+none,
		"AWS_EC2_METADATA_DISABLED=true", "PAW_REGISTRY="+dsn, "PAW_QUIET=1", "PAW_THREADS=1",
		// No hub: whatever is not in a cache must come from the store.
		"PAW_API_URL=http://127.0.0.1:1", "PAW_HF_URL=http://127.0.0.1:1")

	// The base model and the programs, made and published on replica 0's machine.
	c.replicas = []*replica{{name: "replica-0", cache: filepath.Join(c.dir, "replica-0")}}
	base := filepath.Join(c.dir, preset+".gguf")
	c.run(c.replicas[0], "fixture", "--preset", preset, "-o", base)
	c.run(c.replicas[0], "push", "--runtime", preset, base)
	c.base = filepath.Join("models", preset, preset+".gguf")
	pseudo := filepath.Join(c.dir, "pseudo.txt")
	os.WriteFile(pseudo, []byte("Say whether the text is about cats."), 0o644)
	for i := range nPrograms {
		adapter := filepath.Join(c.dir, fmt.Sprintf("adapter-%d.gguf", i))
		c.run(c.replicas[0], "fixture", "--preset", preset, "--adapter-rank", "32", "--seed", strconv.Itoa(i+1), "-o", adapter)
		out := c.run(c.replicas[0], "pack", "--pseudo-program", pseudo, "--adapter", adapter, "--interpreter", "gpt2",
			"-o", filepath.Join(c.dir, fmt.Sprintf("p%d.paw", i)), "--json")
		var p struct {
			ProgramID string `json:"program_id"`
		}
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("paw pack: %v: %s", err, out)
		}
		c.programs = append(c.programs, p.ProgramID)
	}
	c.replicas = nil
	for i := range 3 {
		c.startReplica(fmt.Sprintf("replica-%d", i))
	}
	c.ngxPort = freePort(t)
	c.writeNginx(true, c.replicas)
	return c
}

// startS3 builds versitygw from its Go module (this module's tool) and
// serves a bucket over a temporary directory (posix backend); it returns
// the endpoint URL.
func (c *cluster) startS3() string {
	t := c.t
	bin := os.Getenv("PAW_VERSITYGW")
	if bin == "" {
		bin = filepath.Join(c.dir, "versitygw")
		start := time.Now()
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/versity/versitygw/cmd/versitygw").CombinedOutput(); err != nil {
			t.Fatalf("build versitygw: %v\n%s", err, out)
		}
		t.Logf("built versitygw in %s", time.Since(start).Round(time.Second))
	}
	root := filepath.Join(c.dir, "s3")
	if err := os.MkdirAll(filepath.Join(root, bucket), 0o755); err != nil { // a bucket is a directory
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--access", "paw", "--secret", "paw-secret", "--port", fmt.Sprintf("127.0.0.1:%d", port), "--quiet",
		"posix", root)
	c.startProc(cmd, "versitygw")
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, "versitygw", func() bool {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	return url
}

// startReplica starts one `paw serve` the way a pod does: pull the base
// model from the store (the init container), then serve, ready once the
// base model is loaded.
func (c *cluster) startReplica(name string) *replica {
	r := &replica{name: name, cache: filepath.Join(c.dir, name), port: freePort(c.t)}
	c.run(r, "pull", "runtime:"+preset)
	r.cmd = exec.Command(c.paw, "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", r.port), "--model", filepath.Join(r.cache, c.base),
		"--max-loaded", strconv.Itoa(maxLoaded), "--no-drafts", "--drain", "5s")
	r.cmd.Env = append(c.env, "PAW_CACHE_DIR="+r.cache)
	c.startProc(r.cmd, name)
	waitFor(c.t, name+" ready", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/ready", r.port))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	c.replicas = append(c.replicas, r)
	return r
}

// run runs paw with replica r's cache and returns its stdout.
func (c *cluster) run(r *replica, args ...string) string {
	c.t.Helper()
	cmd := exec.Command(c.paw, args...)
	cmd.Env = append(c.env, "PAW_CACHE_DIR="+r.cache)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("paw %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// startProc starts cmd, logging to a file, and stops it at the end.
func (c *cluster) startProc(cmd *exec.Cmd, name string) {
	log, err := os.Create(filepath.Join(c.dir, name+".log"))
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	c.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		log.Close()
	})
}

// kill SIGKILLs a replica and takes it out of the list.
func (c *cluster) kill(r *replica) {
	r.cmd.Process.Kill()
	for i, x := range c.replicas {
		if x == r {
			c.replicas = append(c.replicas[:i:i], c.replicas[i+1:]...)
			break
		}
	}
}

// writeNginx (re)starts nginx with nginx/paw.conf routing to the given
// replicas: hashing the program on a consistent ring, or nginx's default
// round robin.
func (c *cluster) writeNginx(hash bool, to []*replica) {
	t := c.t
	dir := filepath.Join(c.dir, "nginx")
	os.MkdirAll(dir, 0o755)
	conf, err := os.ReadFile("nginx/paw.conf")
	if err != nil {
		t.Fatal(err)
	}
	var servers strings.Builder
	for _, r := range to {
		fmt.Fprintf(&servers, "  server 127.0.0.1:%d max_fails=1 fail_timeout=10s;\n", r.port)
	}
	paw := reServer.ReplaceAllString(string(conf), "")
	paw = strings.Replace(paw, "  keepalive 32;", servers.String()+"  keepalive 32;", 1)
	paw = strings.Replace(paw, "listen 127.0.0.1:8100;", fmt.Sprintf("listen 127.0.0.1:%d;", c.ngxPort), 1)
	if !hash {
		paw = strings.Replace(paw, "hash $paw_program consistent;", "", 1)
	}
	if err := os.WriteFile(filepath.Join(dir, "paw.conf"), []byte(paw), 0o644); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // the workers write under this test's private directory
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), fmt.Appendf(nil, nginxConf, user, dir), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "access.log"))
	if c.nginx != nil { // a fresh master: a reload's old workers would linger in the figures
		c.nginx.Process.Signal(syscall.SIGTERM)
		c.nginx.Wait()
	}
	c.nginx = exec.Command("nginx", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"),
		"-g", "daemon off;")
	c.startProc(c.nginx, "nginx")
	waitFor(t, "nginx", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", c.ngxPort))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
}

// reServer matches nginx/paw.conf's example replicas.
var reServer = regexp.MustCompile(`(?m)^  server 127\.0\.0\.1:810\d .*\n`)

// nginxConf runs paw.conf in a private prefix: user, directory.
const nginxConf = `%[1]s
worker_processes 1;
pid %[2]s/nginx.pid;
events { worker_connections 1024; }
http {
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  log_format paw '$upstream_addr $paw_program';
  access_log %[2]s/access.log paw;
  include %[2]s/paw.conf;
}
`

// call makes one inference call on port (a replica's, or nginx's).
func (c *cluster) call(port int, program, header, input string) api.InferResponse {
	c.t.Helper()
	res, err := infer(port, program, header, input)
	if err != nil {
		c.t.Fatalf("call %s on :%d: %v", program, port, err)
	}
	return res
}

var httpClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func infer(port int, program, header, input string) (api.InferResponse, error) {
	var res api.InferResponse
	body, _ := json.Marshal(api.InferRequest{ProgramID: program, Input: input, MaxTokens: 2})
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/api/v1/infer", port), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set("X-Paw-Program", header)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("%s: %s", resp.Status, b)
	}
	return res, json.Unmarshal(b, &res)
}

// promote registers two versions of a function, makes v1 live, then
// promotes v2 and returns how long until every replica answers with it.
func (c *cluster) promote() float64 {
	t := c.t
	r0 := c.replicas[0]
	lock := func(id string) string {
		p := filepath.Join(c.dir, "paw-"+id+".lock")
		os.WriteFile(p, fmt.Appendf(nil, `{"version": 1, "functions": {"cats": {"program_id": %q, "spec_hash": "sha256:%064x"}}}`, id, len(id)), 0o644)
		return p
	}
	c.run(r0, "fn", "add", "cats", "--owner", "ops@example.com")
	c.run(r0, "fn", "import", lock(c.programs[0]))
	c.run(r0, "fn", "import", lock(c.programs[1]))
	c.run(r0, "fn", "promote", "cats@v1", "--force", "--reason", "cluster test")
	waitFor(t, "v1 live everywhere", func() bool { return c.allAnswer("cats", c.programs[0]) })
	start := time.Now()
	c.run(r0, "fn", "promote", "cats@v2", "--force", "--reason", "cluster test")
	for !c.allAnswer("cats", c.programs[1]) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("v2 not live on every replica 5 s after the promote")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start).Seconds()
}

func (c *cluster) allAnswer(name, id string) bool {
	for _, r := range c.replicas {
		if res, err := infer(r.port, name, "", "a cat"); err != nil || res.ProgramID != id {
			return false
		}
	}
	return true
}

// measured is one load run through nginx.
type measured struct {
	ok, failed int64
	secs       float64
	misses     int // prefixes evaluated or restored: calls that found their program cold
}

func (m measured) summary() map[string]any {
	calls := float64(m.ok + m.failed)
	return map[string]any{"calls": calls, "failed": float64(m.failed), "calls_per_s": float64(m.ok) / m.secs,
		"affinity_hit_rate": 1 - float64(m.misses)/calls}
}

// load sends calls for random programs of the list through nginx from `clients`
// goroutines for d, with or without the X-Paw-Program header; during, when
// set, runs a third of the way in.
func (c *cluster) load(d time.Duration, header bool, programs []string, during func()) measured {
	before := c.coldStarts()
	var m measured
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for time.Now().Before(stop) {
				id := programs[rng.IntN(len(programs))]
				h := ""
				if header {
					h = id
				}
				if _, err := infer(c.ngxPort, id, h, fmt.Sprintf("input %d", rng.IntN(1000))); err != nil {
					failed.Add(1)
					c.t.Logf("call failed: %v", err)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	if during != nil {
		time.Sleep(d / 3)
		during()
	}
	wg.Wait()
	m.ok, m.failed, m.secs = ok.Load(), failed.Load(), d.Seconds()
	for name, n := range c.coldStarts() { // the replicas still up
		m.misses += n - before[name]
	}
	return m
}

// spread is how many distinct programs each replica was sent since nginx
// started, from its access log: the ring's spread (an upstream list when
// nginx retried elsewhere counts for each).
func (c *cluster) spread() []int {
	b, err := os.ReadFile(filepath.Join(c.dir, "nginx", "access.log"))
	if err != nil {
		c.t.Fatal(err)
	}
	seen := map[string]map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		ups, program, _ := strings.Cut(line, " ")
		if strings.HasPrefix(program, "/") { // nginx's own readiness checks
			continue
		}
		for _, u := range strings.Split(ups, ", ") {
			if seen[u] == nil {
				seen[u] = map[string]bool{}
			}
			seen[u][program] = true
		}
	}
	var n []int
	for _, r := range c.replicas {
		n = append(n, len(seen[fmt.Sprintf("127.0.0.1:%d", r.port)]))
	}
	return n
}

// retried counts the calls nginx sent to more than one replica.
func (c *cluster) retried() int {
	b, _ := os.ReadFile(filepath.Join(c.dir, "nginx", "access.log"))
	return strings.Count(string(b), ", ")
}

// coldStarts counts, for each live replica, the prefixes it evaluated or
// restored from disk: calls for a program the replica did not hold warm.
func (c *cluster) coldStarts() map[string]int {
	counts := map[string]int{}
	for _, r := range c.replicas {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", r.port))
		if err != nil {
			c.t.Fatalf("%s metrics: %v", r.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			name, v, _ := strings.Cut(line, " ")
			if name == "paw_engine_prefix_evaluated_total" || name == "paw_engine_prefix_restored_total" {
				f, _ := strconv.ParseFloat(v, 64)
				counts[r.name] += int(f)
			}
		}
	}
	return counts
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 60 s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
