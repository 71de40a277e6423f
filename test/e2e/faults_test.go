package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/test/lab"
)

// Fault tests: the built binary against the small docker-layout lab, each
// node reached through a fault proxy (faultproxy_test.go). Step
// boundaries are found deterministically with hooks inside the machine: a
// wrapper in /usr/local/bin (first on sshd's PATH) for cp, systemctl or
// docker that, while a hold file names a pattern found in its arguments,
// records that it was reached and waits; the test then cuts the proxy and
// lets the wrapper either fail (abort: the command never ran) or go on.

// hookScript is installed as /usr/local/bin/NAME.
const hookScript = `#!/bin/sh
# swarmctl e2e fault hook (test/e2e/faults_test.go)
n=$(basename "$0"); h=/run/flt/hold-$n
if [ -f "$h" ]; then
  case "$*" in
  *"$(cat "$h")"*)
    echo "$*" > "/run/flt/reached-$n"
    while [ -f "$h" ]; do sleep 0.05; done
    if [ -f "/run/flt/abort-$n" ]; then rm -f "/run/flt/abort-$n"; exit 99; fi
    ;;
  esac
fi
PATH=/usr/sbin:/usr/bin:/sbin:/bin exec "$n" "$@"
`

// hooks controls the fault hooks of one machine.
type hooks struct {
	t *testing.T
	l *lab.Lab
	m string
}

func installHooks(t *testing.T, l *lab.Lab, m string, names ...string) *hooks {
	t.Helper()
	for _, n := range names {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := l.ExecStdin(ctx, m, strings.NewReader(hookScript), "sh", "-c", `mkdir -p /run/flt && cat > "/usr/local/bin/$1" && chmod 0755 "/usr/local/bin/$1"`, "sh", n)
		cancel()
		if err != nil {
			t.Fatalf("install hook %s on %s: %v %s", n, m, err, out)
		}
	}
	h := &hooks{t: t, l: l, m: m}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		args := []string{"rm", "-rf", "/run/flt"}
		for _, n := range names {
			args = append(args, "/usr/local/bin/"+n)
		}
		l.Exec(ctx, m, args...)
	})
	return h
}

// hold makes the next run of name whose arguments contain pattern wait.
func (h *hooks) hold(name, pattern string) {
	h.t.Helper()
	inMachine(h.t, h.l, h.m, "sh", "-c", `rm -f "/run/flt/reached-$1" "/run/flt/abort-$1"; printf %s "$2" > "/run/flt/hold-$1"`, "sh", name, pattern)
}

// reached waits until a held command was reached and returns its arguments.
func (h *hooks) reached(name string, within time.Duration) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within+10*time.Second)
	defer cancel()
	out, err := h.l.Exec(ctx, h.m, "sh", "-c", `end=$(( $(date +%s) + $2 )); while [ ! -s "/run/flt/reached-$1" ]; do [ "$(date +%s)" -ge $end ] && exit 1; sleep 0.05; done; cat "/run/flt/reached-$1"`,
		"sh", name, fmt.Sprint(int(within.Seconds())))
	if err != nil {
		h.t.Fatalf("%s: hook %s not reached within %s: %v %s", h.m, name, within, err, out)
	}
	return strings.TrimSpace(out)
}

// release lets a held command go on (run it) or, with abort, fail without
// running it.
func (h *hooks) release(name string, abort bool) {
	h.t.Helper()
	script := `rm -f "/run/flt/hold-$1"`
	if abort {
		script = `touch "/run/flt/abort-$1"; rm -f "/run/flt/hold-$1"`
	}
	inMachine(h.t, h.l, h.m, "sh", "-c", script, "sh", name)
}

// proc is a swarmctl started in the background.
type proc struct {
	cmd  *exec.Cmd
	args []string
	mu   sync.Mutex
	out  bytes.Buffer
	errb bytes.Buffer
	done chan struct{}
	res  result
	t0   time.Time
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startSwarmctl(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{args: args, done: make(chan struct{}), t0: time.Now()}
	p.cmd = exec.Command(swarmctlBin(t), args...)
	p.cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "NO_COLOR=1"}, env...)
	p.cmd.Stdout = lockedWriter{&p.mu, &p.out}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.errb}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		} else if err != nil {
			code = -1
		}
		p.mu.Lock()
		p.res = result{code, p.out.String(), p.errb.String()}
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.String()
}

// waitStderr waits until stderr contains s.
func (p *proc) waitStderr(t *testing.T, s string, within time.Duration) {
	t.Helper()
	end := time.Now().Add(within)
	for time.Now().Before(end) {
		if strings.Contains(p.stderr(), s) {
			return
		}
		select {
		case <-p.done:
			if strings.Contains(p.stderr(), s) {
				return
			}
			t.Fatalf("swarmctl ended before printing %q:\n%s", s, p.stderr())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("swarmctl did not print %q within %s:\n%s", s, within, p.stderr())
}

func (p *proc) wait(t *testing.T, within time.Duration) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("swarmctl %s did not end within %s:\n%s", strings.Join(p.args, " "), within, p.stderr())
	}
	t.Logf("$ swarmctl %s (background, %s)\nexit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(p.args, " "), time.Since(p.t0).Round(time.Millisecond), p.res.Code, p.res.Stdout, p.res.Stderr)
	return p.res
}

func parseConfigure(t *testing.T, r result) configureDoc {
	t.Helper()
	var doc configureDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("nodes configure -o json: %v\n%s", err, r.Stdout)
	}
	return doc
}

func nodeResult(t *testing.T, doc configureDoc, name string) (outcome, errMsg string) {
	t.Helper()
	for _, n := range doc.Nodes {
		if n.Name == name {
			return n.Outcome, n.Error
		}
	}
	t.Fatalf("node %s not in the result: %+v", name, doc.Nodes)
	return "", ""
}

const dockerLayoutPath = "/etc/docker/daemon.json"

func catFile(t *testing.T, l *lab.Lab, m, path string) string {
	t.Helper()
	return inMachine(t, l, m, "cat", path)
}

func dockerActive(t *testing.T, l *lab.Lab, m string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _ := l.Exec(ctx, m, "systemctl", "is-active", "docker.service")
	return strings.TrimSpace(out)
}

// waitActive waits for docker to be active (after a cut the node may
// still be finishing a restart it was asked for).
func waitActive(t *testing.T, l *lab.Lab, m string) {
	t.Helper()
	end := time.Now().Add(60 * time.Second)
	for time.Now().Before(end) {
		if dockerActive(t, l, m) == "active" {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: docker.service is %q", m, dockerActive(t, l, m))
}

// wholeJSON fails unless s is a complete, non-empty JSON object.
func wholeJSON(t *testing.T, what, s string) {
	t.Helper()
	var v map[string]any
	if strings.TrimSpace(s) == "" || json.Unmarshal([]byte(s), &v) != nil {
		t.Errorf("%s is not a whole JSON object: %q", what, s)
	}
}

// leftoverTemps lists swarmctl temp files left in the config directory.
func leftoverTemps(t *testing.T, l *lab.Lab, m string) string {
	t.Helper()
	return strings.TrimSpace(inMachine(t, l, m, "sh", "-c", `ls -a /etc/docker | grep -e '\.swarmctl-[0-9a-f]*$' || true`))
}

// TestFaultConnectionDropAtEachStep cuts the SSH connection to a worker at
// each step of applying its new daemon.json. After every cut the file is
// byte for byte the old or the new file, docker runs, and a rerun
// converges.
func TestFaultConnectionDropAtEachStep(t *testing.T) {
	l := needDockerLayoutLab(t)
	w := l.Machines()[1]
	if w.Role != "worker" {
		t.Fatalf("want a worker, got %+v", w)
	}
	fp := newFaultProxy(t, w)
	env := proxyInventory(t, l, []*faultProxy{fp})
	hk := installHooks(t, l, w.Name, "cp", "systemctl", "docker")
	base := []string{"nodes", "configure", "-o", "json", "-v", "--timeout", "20s", "--connect-timeout", "5s"}

	// Start from a node with experimental on, so that a mirror change is a reload.
	r := swarmctl(t, env, append(base, "--mirror", "https://prep.example.test")...)
	if r.Code != 0 {
		t.Fatalf("preparing run: exit %d", r.Code)
	}

	cases := []struct {
		name   string
		mirror string
		arm    func()
		cut    func(p *proc) // waits for the moment, then cuts
		want   string        // "old" or "new": what the file must be right after the cut
	}{
		{
			name: "before the write (backup running)", mirror: "https://cut-backup.example.test",
			arm: func() { hk.hold("cp", ".bak") },
			cut: func(p *proc) {
				t.Logf("held: cp %s", hk.reached("cp", 60*time.Second))
				fp.Cut()
				hk.release("cp", true)
			},
			want: "old",
		},
		{
			name: "during the upload (temp file open, not renamed)", mirror: "https://cut-upload.example.test",
			arm: func() { fp.Latency(300) },
			cut: func(p *proc) {
				p.waitStderr(t, "sftp write "+dockerLayoutPath, 60*time.Second)
				// Each SFTP round trip now takes >= 300 ms: the temp
				// file appears several round trips before the rename.
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				out, err := l.Exec(ctx, w.Name, "sh", "-c", `while ! ls -a /etc/docker | grep -q '\.daemon\.json\.swarmctl-'; do sleep 0.02; done; ls -la /etc/docker`)
				fp.Cut()
				if err != nil {
					t.Fatalf("temp file never appeared: %v %s", err, out)
				}
				t.Logf("cut with the upload in flight:\n%s", out)
			},
			want: "old",
		},
		{
			name: "after the write, before the reload", mirror: "https://cut-reload.example.test",
			arm: func() { hk.hold("systemctl", "reload docker.service") },
			cut: func(p *proc) {
				t.Logf("held: systemctl %s", hk.reached("systemctl", 60*time.Second))
				fp.Cut()
				hk.release("systemctl", true)
			},
			want: "new",
		},
		{
			name: "during verification", mirror: "https://cut-verify.example.test",
			arm: func() { hk.hold("docker", "ExperimentalBuild}}|{{.Swarm.LocalNodeState}}") },
			cut: func(p *proc) {
				t.Logf("held: docker %s", hk.reached("docker", 60*time.Second))
				fp.Cut()
				hk.release("docker", false)
			},
			want: "new",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			old := catFile(t, l, w.Name, dockerLayoutPath)
			c.arm()
			p := startSwarmctl(t, env, append(base, "--mirror", c.mirror)...)
			c.cut(p)
			res := p.wait(t, 2*time.Minute)
			fp.Clear()
			fp.Restore()
			if res.Code != 1 {
				t.Errorf("exit %d after a cut, want 1", res.Code)
			}
			doc := parseConfigure(t, res)
			if o, e := nodeResult(t, doc, w.Name); o != "failed" || e == "" {
				t.Errorf("%s: outcome %s %q, want failed with a reason", w.Name, o, e)
			}
			mid := catFile(t, l, w.Name, dockerLayoutPath)
			wholeJSON(t, "daemon.json after the cut", mid)
			waitActive(t, l, w.Name)

			start := time.Now()
			r := swarmctl(t, env, append(base, "--mirror", c.mirror)...)
			t.Logf("rerun after the cut: %s", time.Since(start).Round(time.Millisecond))
			if r.Code != 0 {
				t.Fatalf("rerun: exit %d", r.Code)
			}
			final := catFile(t, l, w.Name, dockerLayoutPath)
			switch c.want {
			case "old":
				if mid != old {
					t.Errorf("after a cut %s the file changed:\nold: %q\nnow: %q", c.name, old, mid)
				}
			case "new":
				if mid != final {
					t.Errorf("after a cut %s the file is not the new file:\nnew: %q\nnow: %q", c.name, final, mid)
				}
			}
			if mid != old && mid != final {
				t.Errorf("file is neither old nor new:\nold: %q\nnew: %q\nmid: %q", old, final, mid)
			}
			if got := liveMirrors(t, l, w.Name); !strings.Contains(got, c.mirror+"/") {
				t.Errorf("after the rerun the daemon uses %s, want %s among them", got, c.mirror)
			}
			if dockerActive(t, l, w.Name) != "active" {
				t.Errorf("docker not active after the rerun")
			}
			if tmp := leftoverTemps(t, l, w.Name); tmp != "" {
				t.Errorf("temp files left in /etc/docker: %s", tmp)
			}
			// A third run has nothing left to do.
			r3 := swarmctl(t, env, append(base, "--mirror", c.mirror)...)
			if doc := parseConfigure(t, r3); r3.Code != 0 || doc.Summary["unchanged"] != 1 {
				t.Errorf("third run: exit %d %v", r3.Code, doc.Summary)
			}
		})
	}
}
