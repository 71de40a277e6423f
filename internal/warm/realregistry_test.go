package warm

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/internal/regmetrics"
)

// -update rewrites ../regmetrics/testdata with what the real registries
// served in TestRealDistributionProxy.
var update = flag.Bool("update", false, "rewrite ../regmetrics/testdata from the real registries")

// realRegistry is a distribution binary run as a pull-through cache.
type realRegistry struct {
	name    string // "registry2" or "registry3"
	version regmetrics.Version
	bin     string
	base    string // http://127.0.0.1:P
	debug   string // http://127.0.0.1:Q
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// findRegistries returns the real registries this machine has: Debian's
// docker-registry (distribution 2.8, installed by .ci/install-lab-deps.sh,
// so CI always has it) and a registry:3 binary from SWARMCTL_REGISTRY3_BIN
// or the lab's build cache.
func findRegistries(t *testing.T) []realRegistry {
	var out []realRegistry
	if bin, err := exec.LookPath("docker-registry"); err == nil {
		out = append(out, realRegistry{name: "registry2", version: regmetrics.Registry2, bin: bin})
	} else if os.Getenv("CI") != "" {
		t.Fatalf("docker-registry not installed: .ci/install-lab-deps.sh installs it for CI")
	} else {
		t.Logf("docker-registry (Debian's registry 2.8) not installed: registry:2 not checked")
	}
	bin := os.Getenv("SWARMCTL_REGISTRY3_BIN")
	if bin == "" {
		if m, _ := filepath.Glob("/var/cache/swarmctl-lab/registry3-*/registry"); len(m) > 0 {
			bin = m[0]
		}
	}
	if bin != "" {
		out = append(out, realRegistry{name: "registry3", version: regmetrics.Registry3, bin: bin})
	} else {
		t.Logf("no registry:3 binary (set SWARMCTL_REGISTRY3_BIN): registry:3 not checked")
	}
	return out
}

// start runs the registry on two free loopback ports. A port found free
// can be taken by another process before the registry binds it (a busy
// machine running other tests): then it starts again on new ports.
func (rr *realRegistry) start(t *testing.T, upstreamURL string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		logs, taken := rr.tryStart(t, upstreamURL)
		if !taken {
			return
		}
		if attempt == 5 {
			t.Fatalf("%s: its ports were taken 5 times:\n%s", rr.name, logs)
		}
		t.Logf("%s: a port was taken before it bound it; again on new ports", rr.name)
	}
}

// tryStart starts the registry and waits for /v2/; taken reports that it
// exited because a port was in use (the caller tries again).
func (rr *realRegistry) tryStart(t *testing.T, upstreamURL string) (logText string, taken bool) {
	t.Helper()
	dir := t.TempDir()
	addr, dbg := freePort(t), freePort(t)
	rr.base, rr.debug = "http://"+addr, "http://"+dbg
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  debug:
    addr: %s
    prometheus:
      enabled: true
      path: /metrics
proxy:
  remoteurl: %s
`, filepath.Join(dir, "data"), addr, dbg, upstreamURL)
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rr.bin, "serve", path)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() //nolint:errcheck
	stop := func() {
		cmd.Process.Kill() //nolint:errcheck
		<-exited
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			if strings.Contains(logs.String(), "address already in use") {
				return logs.String(), true
			}
			t.Fatalf("%s exited before answering /v2/:\n%s", rr.name, logs.String())
		default:
		}
		resp, err := http.Get(rr.base + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Cleanup(func() {
					stop()
					if t.Failed() {
						t.Logf("%s log:\n%s", rr.name, logs.String())
					}
				})
				return "", false
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("%s did not answer /v2/ within 20 s: %v\n%s", rr.name, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer the registry's output and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (rr *realRegistry) get(t *testing.T, path string) ([]byte, string) {
	t.Helper()
	resp, err := http.Get(rr.debug + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %v", rr.name, path, resp.StatusCode, err)
	}
	return b, resp.Header.Get("Content-Type")
}

func (rr *realRegistry) stats(ctx context.Context) (regmetrics.Stats, error) {
	path := "/debug/vars"
	if rr.version == regmetrics.Registry3 {
		path = "/metrics"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rr.debug+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return regmetrics.Stats{}, err
	}
	defer resp.Body.Close()
	if rr.version == regmetrics.Registry3 {
		return regmetrics.Parse(resp.Body, resp.Header.Get("Content-Type"))
	}
	return regmetrics.ParseExpvar(resp.Body, rr.version)
}

// TestRealDistributionProxy checks what this package and regmetrics assume
// about distribution against the real thing: a cold warm-up gets 200s and
// makes the mirror fetch every blob upstream, a second one gets 206s only
// (AlreadyCached), and the counters say what the package docs say. It logs
// how many blob bytes the upstream served (registry:2 fetches each miss
// twice).
func TestRealDistributionProxy(t *testing.T) {
	regs := findRegistries(t)
	if len(regs) == 0 {
		t.Skip("no distribution binary on this machine (apt-get install docker-registry)")
	}
	for _, rr := range regs {
		t.Run(rr.name, func(t *testing.T) {
			up := newUpstream(t)
			idx, imgs := multiIndex(t, amd64, arm64)
			up.push(t, "library/app:1", nil, idx)
			rr.start(t, up.srv.URL)
			opts := Options{
				Mirrors:   map[string]Mirror{"docker.io": {URL: rr.base, Stats: rr.stats}},
				Platforms: []Platform{amd64},
			}
			blobBytes, blobs := blobSizes(t, imgs[amd64])

			cold := mustWarm(t, []string{"app:1"}, opts)[0]
			upCold := up.blobBytes.Load()
			t.Logf("%s cold: %d blobs (%d bytes), %d from cache; upstream served %d blob bytes (%.1fx); counters: upstream bytes %v fetches %v, notes %q",
				rr.name, cold.Blobs, blobBytes, cold.BlobsCached, upCold, float64(upCold)/float64(blobBytes), deref(cold.UpstreamBytes), deref(cold.UpstreamFetches), cold.Notes)
			if cold.Blobs != blobs || cold.BlobsCached != 0 || cold.AlreadyCached {
				t.Errorf("cold: blobs %d cached %d already %v; want %d, 0, false", cold.Blobs, cold.BlobsCached, cold.AlreadyCached, blobs)
			}
			if upCold < blobBytes {
				t.Errorf("cold: the upstream served %d blob bytes, less than the image's %d", upCold, blobBytes)
			}
			if rr.version == regmetrics.Registry3 {
				if cold.UpstreamFetches == nil || *cold.UpstreamFetches != int64(blobs+2) {
					t.Errorf("registry:3 cold: %v upstream fetches, want %d blobs + index + manifest", deref(cold.UpstreamFetches), blobs)
				}
				if cold.UpstreamBytes == nil || *cold.UpstreamBytes <= blobBytes {
					t.Errorf("registry:3 cold: %v upstream bytes, want the blobs' %d plus two manifests", deref(cold.UpstreamBytes), blobBytes)
				}
			} else if cold.UpstreamBytes != nil {
				t.Errorf("registry:2 cannot know upstream bytes, got %d", *cold.UpstreamBytes)
			}

			// registry:2 stores a missed blob in a goroutine of its own;
			// give it a moment to commit before asking again.
			var warm Result
			for i := 0; i < 50; i++ {
				warm = mustWarm(t, []string{"app:1"}, opts)[0]
				if warm.AlreadyCached {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("%s warm: %d of %d blobs from cache; upstream served %d more blob bytes; counters: upstream bytes %v fetches %v",
				rr.name, warm.BlobsCached, warm.Blobs, up.blobBytes.Load()-upCold, deref(warm.UpstreamBytes), deref(warm.UpstreamFetches))
			if !warm.AlreadyCached || warm.BlobsCached != blobs {
				t.Errorf("warm: cached %d of %d, already %v; want all, true", warm.BlobsCached, warm.Blobs, warm.AlreadyCached)
			}

			if *update {
				out := filepath.Join("..", "regmetrics", "testdata")
				vars, _ := rr.get(t, "/debug/vars")
				writeSample(t, filepath.Join(out, rr.name+"-debug-vars.json"), withoutCmdline(t, vars))
				prom, _ := rr.get(t, "/metrics")
				writeSample(t, filepath.Join(out, rr.name+"-metrics.txt"), prom)
			}
		})
	}
}

func writeSample(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(b))
}

// withoutCmdline replaces the page's command line, which names this run's
// temporary directory, with a fixed one.
func withoutCmdline(t *testing.T, page []byte) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(page, &m); err != nil {
		t.Fatal(err)
	}
	m["cmdline"] = json.RawMessage(`["registry","serve","config.yml"]`)
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func deref(p *int64) any {
	if p == nil {
		return "unknown"
	}
	return *p
}
