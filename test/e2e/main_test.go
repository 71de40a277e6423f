// Package e2e runs the built swarmctl binary against the lab: real OpenSSH,
// real systemd, real dockerd, a real multi-manager swarm and a real
// registry (see test/lab). Each lab is brought up once, on first use
// (so `-run` of tests that need only the small docker-layout lab does not
// start the big one); TestMain takes them down, also on SIGINT/SIGTERM and
// shortly before the -timeout would kill the test binary.
//
// Environment:
//
//	SWARMCTL_E2E_NO_LAB=1  documented opt-out for machines without a Docker
//	                       engine: lab tests are skipped, saying so (never silently).
//	SWARMCTL_LAB_KEEP=1    leave the lab running after the tests (debugging).
//	SWARMCTL_E2E_LAB=name  lab name (default e2e); the docker-layout lab is
//	                       <name>docker. Distinct names let runs share a machine.
//	SWARMCTL_BIN           the swarmctl binary to test (default: build it).
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/test/lab"
)

var (
	mainLab   *lab.Lab
	labErr    error
	mainOnce  sync.Once
	dockerLab struct {
		once sync.Once
		l    *lab.Lab
		err  error
	}
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("SWARMCTL_E2E_NO_LAB") == "1" {
		fmt.Fprintln(os.Stderr, "e2e: SWARMCTL_E2E_NO_LAB=1: lab tests will be skipped")
		return m.Run()
	}
	stop := watchdog()
	defer stop()
	code := m.Run()
	if labErr != nil {
		code = 1
	}
	if os.Getenv("SWARMCTL_LAB_KEEP") == "1" {
		return code
	}
	if !teardown() {
		code = 1
	}
	return code
}

var (
	labsMu       sync.Mutex // guards mainLab/dockerLab.l against the watchdog
	teardownOnce sync.Once
	teardownOK   bool
)

// teardown takes the labs down once (after the tests, or from the
// watchdog) and checks nothing is left running.
func teardown() bool {
	teardownOnce.Do(func() {
		labsMu.Lock()
		defer labsMu.Unlock()
		ok := true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		engineLabs.Lock()
		for name, l := range engineLabs.m {
			if err := l.Down(ctx); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: lab %s down: %v\n", name, err)
				ok = false
			}
			delete(engineLabs.m, name)
		}
		engineLabs.Unlock()
		if dockerLab.l != nil {
			if err := dockerLab.l.Down(ctx); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: docker-layout lab down: %v\n", err)
				ok = false
			}
		}
		if mainLab != nil {
			if err := mainLab.Down(ctx); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: lab down: %v\n", err)
				ok = false
			}
		}
		if err := lab.CheckNothingLeft(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: lab down left something running: %v\n", err)
			ok = false
		}
		teardownOK = ok
	})
	return teardownOK
}

// watchdog takes the labs down before `go test -timeout` kills this
// process (which would skip TestMain's teardown and leave machines and
// the lab's dockerd running), and on SIGINT/SIGTERM.
func watchdog() (stop func()) {
	if os.Getenv("SWARMCTL_LAB_KEEP") == "1" {
		return func() {}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	var timer <-chan time.Time
	if !flag.Parsed() {
		flag.Parse()
	}
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil && d > 0 {
			margin := min(90*time.Second, d/10)
			timer = time.After(d - margin)
		}
	}
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "e2e: %v: taking the labs down\n", s)
			teardown()
			os.Exit(1)
		case <-timer:
			fmt.Fprintln(os.Stderr, "e2e: FAIL: the -timeout is near: taking the labs down now so nothing is left running; the tests still running will fail")
			teardown()
		case <-done:
		}
	}()
	return func() { signal.Stop(sigs); close(done) }
}

func labName() string {
	if n := os.Getenv("SWARMCTL_E2E_LAB"); n != "" {
		return n
	}
	return "e2e"
}

// needLab returns the main lab (3 managers + 2 workers, docker-latest).
func needLab(t *testing.T) *lab.Lab {
	t.Helper()
	if os.Getenv("SWARMCTL_E2E_NO_LAB") == "1" {
		t.Skip("SWARMCTL_E2E_NO_LAB=1: lab test skipped on request")
	}
	mainOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		l, err := lab.Up(ctx, lab.Config{Name: labName(), Managers: 3, Workers: 2, Layout: "docker-latest", Log: os.Stderr})
		labsMu.Lock()
		mainLab, labErr = l, err
		labsMu.Unlock()
		if labErr != nil {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: the lab did not start: %v\n(set SWARMCTL_E2E_NO_LAB=1 to run without a Docker engine)\n", labErr)
			return
		}
		fmt.Fprintf(os.Stderr, "e2e: lab up in %s\n", time.Since(start).Round(time.Second))
	})
	if mainLab == nil || labErr != nil {
		t.Fatalf("lab not available: %v", labErr)
	}
	return mainLab
}

// needDockerLayoutLab returns a small second lab (1 manager + 1 worker)
// with the stock docker.service layout, started on first use.
func needDockerLayoutLab(t *testing.T) *lab.Lab {
	t.Helper()
	if os.Getenv("SWARMCTL_E2E_NO_LAB") == "1" {
		t.Skip("SWARMCTL_E2E_NO_LAB=1: lab test skipped on request")
	}
	dockerLab.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		l, err := lab.Up(ctx, lab.Config{Name: labName() + "docker", Managers: 1, Workers: 1, Layout: "docker", Log: os.Stderr})
		labsMu.Lock()
		dockerLab.l, dockerLab.err = l, err
		labsMu.Unlock()
	})
	if dockerLab.err != nil {
		t.Fatalf("docker-layout lab did not start: %v", dockerLab.err)
	}
	return dockerLab.l
}

// labEnv is the environment that points swarmctl at a lab as a user would.
func labEnv(l *lab.Lab) []string {
	return []string{"SWARMCTL_INVENTORY=" + l.InventoryPath()}
}

// resetLab puts every machine of l back to the lab's starting daemon.json
// and, where the running daemon differs from it, restarts docker one
// machine at a time (waiting for it to rejoin the swarm), so a test can
// start from a fresh lab whatever ran before it on the shared lab.
func resetLab(t *testing.T, l *lab.Lab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	path := lab.DaemonJSONPath(l.Layout())
	svc := "docker"
	if l.Layout() == lab.LayoutDockerLatest {
		svc = "docker-latest"
	}
	// Only `sh`, coreutils, systemd and docker on the machine; the script is
	// constant and the values are positional parameters.
	const script = `cfg=$1; svc=$2
cat > "$cfg.reset" && mv -f "$cfg.reset" "$cfg"
state=$(docker info --format '{{json .RegistryConfig.Mirrors}} {{.ExperimentalBuild}}')
case "$state" in "[] false"|"null false") exit 0;; esac
systemctl reset-failed "$svc.service" 2>/dev/null
systemctl restart "$svc.service" || exit 1
i=0
while [ $i -lt 120 ]; do
  s=$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)
  [ "$s" = active ] || [ "$s" = inactive ] && exit 0
  i=$((i+1)); sleep 0.5
done
echo "docker did not come back"; exit 1`
	for _, m := range l.Machines() {
		orig := lab.DaemonJSONFor(l.Layout(), m.ImageStore)
		if out, err := l.ExecStdin(ctx, m.Name, strings.NewReader(orig), "sh", "-c", script, "sh", path, svc); err != nil {
			t.Fatalf("resetting %s: %v\n%s", m.Name, err, out)
		}
	}
	// Every manager Reachable again before the test goes on.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := l.Exec(ctx, l.Manager().Name, "docker", "node", "ls", "--format", "{{.Status}} {{.ManagerStatus}}")
		if err == nil && !strings.Contains(out, "Down") && !strings.Contains(out, "Unreachable") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("swarm not healthy after reset: %v\n%s", err, out)
		}
		time.Sleep(time.Second)
	}
}
