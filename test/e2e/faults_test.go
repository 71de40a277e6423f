package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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

// mainPID is dockerd's MainPID on m ("MainPID=N").
func mainPID(t *testing.T, l *lab.Lab, m string) string {
	t.Helper()
	return strings.TrimSpace(inMachine(t, l, m, "systemctl", "show", "-p", "MainPID", "docker.service"))
}

// waitSwarmActive waits until m's dockerd is back in the swarm after a
// restart done by the test.
func waitSwarmActive(t *testing.T, l *lab.Lab, m string) {
	t.Helper()
	end := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := l.Exec(ctx, m, "docker", "info", "--format", "{{.Swarm.LocalNodeState}}")
		cancel()
		if err == nil && strings.TrimSpace(out) == "active" {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: swarm state %q %v after a restart", m, strings.TrimSpace(out), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// faultStep is one entry of a node's "steps" in `nodes configure -o json`.
type faultStep struct {
	Name string `json:"name"`
	MS   int64  `json:"ms"`
	OK   bool   `json:"ok"`
}

// faultSteps returns the steps node went through in a `nodes configure -o
// json` run, in order.
func faultSteps(t *testing.T, r result, node string) []faultStep {
	t.Helper()
	var doc struct {
		Nodes []struct {
			Name  string      `json:"name"`
			Steps []faultStep `json:"steps"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.Stdout)
	}
	for _, n := range doc.Nodes {
		if n.Name == node {
			return n.Steps
		}
	}
	t.Fatalf("node %s not in the result", node)
	return nil
}

// faultStepOK reports whether node's step name succeeded, and whether it ran.
func faultStepOK(t *testing.T, r result, node, name string) (ok, found bool) {
	t.Helper()
	for _, s := range faultSteps(t, r, node) {
		if s.Name == name {
			return s.OK, true
		}
	}
	return false, false
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
	base := []string{"nodes", "configure", "-o", "json", "-v", "--yes", "--ready-timeout", "20s", "--connect-timeout", "5s"}

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
		// restart: the node starts from the lab's daemon.json (experimental
		// off), so the change needs a restart, not a reload.
		restart bool
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
				t.Logf("held: systemctl %s", hk.reached("systemctl", 120*time.Second))
				fp.Cut()
				hk.release("systemctl", true)
			},
			want: "new",
		},
		{
			name: "after the write, before the restart", mirror: "https://cut-restart.example.test", restart: true,
			arm: func() { hk.hold("systemctl", "restart docker.service") },
			cut: func(p *proc) {
				t.Logf("held: systemctl %s", hk.reached("systemctl", 120*time.Second))
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
			if c.restart {
				setDaemonJSON(t, l, w.Name, lab.DaemonJSON(l.Layout()))
				waitSwarmActive(t, l, w.Name)
			}
			old := catFile(t, l, w.Name, dockerLayoutPath)
			pid0, live0 := mainPID(t, l, w.Name), liveMirrors(t, l, w.Name)
			if c.restart && !strings.HasSuffix(live0, " false") {
				t.Fatalf("prepared node runs with %s, want experimental off (so the change needs a restart)", live0)
			}
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
			if c.restart {
				// The restart never ran: the same dockerd, on the old
				// settings, is still up, and the failed step is the restart.
				_, e := nodeResult(t, doc, w.Name)
				if !strings.HasPrefix(e, "restart:") {
					t.Errorf("error %q, want it to name the restart step", e)
				}
				t.Logf("steps of the cut run: %+v", faultSteps(t, res, w.Name))
				if ok, found := faultStepOK(t, res, w.Name, "write"); !found || !ok {
					t.Errorf("the JSON steps do not show a successful write before the restart")
				}
				if ok, found := faultStepOK(t, res, w.Name, "restart"); !found || ok {
					t.Errorf("the JSON steps do not show a failed restart step: %+v", faultSteps(t, res, w.Name))
				}
				if s := dockerActive(t, l, w.Name); s != "active" {
					t.Errorf("docker.service is %q right after the cut, want active (the restart never ran)", s)
				}
				if pid := mainPID(t, l, w.Name); pid != pid0 {
					t.Errorf("dockerd PID %s -> %s: it was restarted although the restart was cut off", pid0, pid)
				}
				if live := liveMirrors(t, l, w.Name); live != live0 {
					t.Errorf("the daemon runs with %s after the cut, want the old settings %s", live, live0)
				}
				if mid == old || !strings.Contains(mid, `"`+c.mirror) || !strings.Contains(mid, `"experimental": true`) {
					t.Errorf("after the cut the file is not the new file (mirror and experimental on):\n%q", mid)
				}
			}
			waitActive(t, l, w.Name)

			start := time.Now()
			r := swarmctl(t, env, append(base, "--mirror", c.mirror)...)
			t.Logf("rerun after the cut: %s", time.Since(start).Round(time.Millisecond))
			if r.Code != 0 {
				t.Fatalf("rerun: exit %d", r.Code)
			}
			if c.restart {
				if o, _ := nodeResult(t, parseConfigure(t, r), w.Name); o != "restarted" {
					t.Errorf("rerun: %s, want restarted (the file's settings need a restart)", o)
				}
				if pid := mainPID(t, l, w.Name); pid == pid0 {
					t.Errorf("rerun: dockerd PID still %s, not restarted", pid)
				}
				if live := liveMirrors(t, l, w.Name); !strings.HasSuffix(live, " true") {
					t.Errorf("rerun: the daemon runs with %s, want experimental on", live)
				}
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

// siteWrapper is a site's dockerd wrapper that adds its own mirror flag:
// invisible to the conflict check (which reads the unit's ExecStart and
// EnvironmentFiles), it makes dockerd refuse a daemon.json that also sets
// registry-mirrors, at start ("specified both as a flag and in the
// configuration file") and on a reload alike.
const siteWrapper = `#!/bin/sh
exec /usr/sbin/dockerd --registry-mirror=https://site.example.test "$@"
`

const siteDropIn = `[Service]
ExecStart=
ExecStart=/usr/local/sbin/dockerd-site -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS
`

// withSiteWrapper runs docker on m through siteWrapper with daemon.json
// set to base, and puts everything back when the test ends.
func withSiteWrapper(t *testing.T, l *lab.Lab, m string) {
	t.Helper()
	orig := catFile(t, l, m, dockerLayoutPath)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := l.ExecStdin(ctx, m, strings.NewReader(siteWrapper), "sh", "-c", `cat > /usr/local/sbin/dockerd-site && chmod 0755 /usr/local/sbin/dockerd-site`); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if out, err := l.ExecStdin(ctx, m, strings.NewReader(siteDropIn), "sh", "-c", `mkdir -p /etc/systemd/system/docker.service.d && cat > /etc/systemd/system/docker.service.d/site.conf && systemctl daemon-reload`); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := l.ExecStdin(ctx, m, strings.NewReader(orig), "sh", "-c", `rm -f /etc/systemd/system/docker.service.d/site.conf /usr/local/sbin/dockerd-site && systemctl daemon-reload &&
cat > /etc/docker/daemon.json && systemctl reset-failed docker.service; systemctl restart docker.service && systemctl is-active docker.service`)
		if err != nil {
			t.Errorf("restoring %s: %v %s", m, err, out)
		}
	})
}

// setDaemonJSON writes daemon.json on m and restarts docker with it.
func setDaemonJSON(t *testing.T, l *lab.Lab, m, content string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := l.ExecStdin(ctx, m, strings.NewReader(content), "sh", "-c", `cat > /etc/docker/daemon.json && systemctl reset-failed docker.service; systemctl restart docker.service && systemctl is-active docker.service`)
	if err != nil {
		t.Fatalf("%s: setting daemon.json: %v %s", m, err, out)
	}
}

// TestFaultDockerdRefusesNewConfig: dockerd accepts the old daemon.json but
// refuses the new one (a flag the unit's wrapper adds), once at restart
// time and once on a reload. Either way the node ends on the old file with
// docker running, and is reported failed with the reason.
func TestFaultDockerdRefusesNewConfig(t *testing.T) {
	l := needDockerLayoutLab(t)
	w := l.Machines()[1]
	fp := newFaultProxy(t, w)
	env := proxyInventory(t, l, []*faultProxy{fp})
	withSiteWrapper(t, l, w.Name)
	base := []string{"nodes", "configure", "-o", "json", "--yes", "--ready-timeout", "10s"}

	t.Run("restart fails: rolled back", func(t *testing.T) {
		old := lab.DaemonJSON(l.Layout()) // no experimental: the change needs a restart
		setDaemonJSON(t, l, w.Name, old)
		r := swarmctl(t, env, append(base, "--mirror", "https://restart-fails.example.test")...)
		doc := parseConfigure(t, r)
		o, e := nodeResult(t, doc, w.Name)
		if r.Code != 1 || o != "failed" || !strings.Contains(e, "restart") || !strings.Contains(e, "rolled back to the previous daemon.json") {
			t.Errorf("exit %d %s %q: want failed, restart, rolled back", r.Code, o, e)
		}
		if !strings.Contains(r.Stderr, "specified both as a flag and in the configuration file") {
			t.Errorf("the journal's reason is not reported on stderr")
		}
		if got := catFile(t, l, w.Name, dockerLayoutPath); got != old {
			t.Errorf("file not rolled back:\n%q\nwant\n%q", got, old)
		}
		if s := dockerActive(t, l, w.Name); s != "active" {
			t.Errorf("docker %s after the rollback", s)
		}
		if got := liveMirrors(t, l, w.Name); got != `["https://site.example.test/"] false` {
			t.Errorf("daemon runs with %s, want the old config", got)
		}
	})

	t.Run("reload rejected: detected by verification", func(t *testing.T) {
		old := "{\n  \"storage-driver\": \"vfs\",\n  \"log-driver\": \"journald\",\n  \"labels\": [\"lab=swarmctl\"],\n  \"experimental\": true\n}\n"
		setDaemonJSON(t, l, w.Name, old)
		pid0 := inMachine(t, l, w.Name, "systemctl", "show", "-p", "MainPID", "docker.service")
		r := swarmctl(t, env, append(base, "--mirror", "https://reload-rejected.example.test")...)
		doc := parseConfigure(t, r)
		o, e := nodeResult(t, doc, w.Name)
		if r.Code != 1 || o != "failed" || !strings.HasPrefix(e, "verify:") || !strings.Contains(e, "reload-rejected.example.test") ||
			!strings.Contains(e, "rolled back to the previous daemon.json") {
			t.Errorf("exit %d %s %q: want failed at verify, rolled back", r.Code, o, e)
		}
		if got := catFile(t, l, w.Name, dockerLayoutPath); got != old {
			t.Errorf("file not rolled back:\n%q", got)
		}
		if got := liveMirrors(t, l, w.Name); got != `["https://site.example.test/"] true` {
			t.Errorf("daemon runs with %s, want the old config", got)
		}
		if pid := inMachine(t, l, w.Name, "systemctl", "show", "-p", "MainPID", "docker.service"); pid != pid0 {
			t.Errorf("dockerd restarted (%s -> %s): a reload path must not restart", pid0, pid)
		}
		journal := inMachine(t, l, w.Name, "sh", "-c", `journalctl -u docker.service --no-pager | grep 'reload-rejected.example.test' || true`)
		if !strings.Contains(journal, "specified both as a flag and in the configuration file") {
			t.Errorf("dockerd did not reject the reload as expected:\n%s", journal)
		}
	})
}

// lockHolders lists processes on m still holding (or waiting for) the
// configure lock.
func lockHolders(t *testing.T, l *lab.Lab, m string) string {
	t.Helper()
	return strings.TrimSpace(inMachine(t, l, m, "sh", "-c", `ps -eo pid,args | grep "[/]run/swarmctl/$1.lock" || true`, "sh", "configure"))
}

// lockStepMS is how long the first node of a `nodes configure -o json`
// run waited for its lock (-1 when it did not take one).
func lockStepMS(t *testing.T, r result) int64 {
	t.Helper()
	var doc struct {
		Nodes []struct {
			Steps []struct {
				Name string `json:"name"`
				MS   int64  `json:"ms"`
			} `json:"steps"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.Stdout)
	}
	for _, n := range doc.Nodes {
		for _, s := range n.Steps {
			if s.Name == "lock" {
				return s.MS
			}
		}
	}
	return -1
}

// TestFaultInterrupt sends SIGINT (while the reload is held) and SIGTERM
// (while the backup is held) to a run: it exits 130 at once, closes its
// connections so the remote lock is released, leaves a whole file, and a
// rerun takes the lock immediately and converges.
func TestFaultInterrupt(t *testing.T) {
	l := needDockerLayoutLab(t)
	w := l.Machines()[1]
	fp := newFaultProxy(t, w)
	env := proxyInventory(t, l, []*faultProxy{fp})
	hk := installHooks(t, l, w.Name, "cp", "systemctl")
	base := []string{"nodes", "configure", "-o", "json", "-v", "--yes", "--ready-timeout", "20s"}
	if r := swarmctl(t, env, append(base, "--mirror", "https://prep.example.test")...); r.Code != 0 {
		t.Fatalf("preparing run: exit %d", r.Code)
	}
	for _, c := range []struct {
		sig            syscall.Signal
		hook, pattern  string
		mirror, expect string
	}{
		{syscall.SIGINT, "systemctl", "reload docker.service", "https://sigint.example.test", "new"},
		{syscall.SIGTERM, "cp", ".bak", "https://sigterm.example.test", "old"},
	} {
		t.Run(c.sig.String(), func(t *testing.T) {
			old := catFile(t, l, w.Name, dockerLayoutPath)
			hk.hold(c.hook, c.pattern)
			p := startSwarmctl(t, env, append(base, "--mirror", c.mirror)...)
			hk.reached(c.hook, 120*time.Second)
			if h := lockHolders(t, l, w.Name); h == "" {
				t.Errorf("no lock held on the node while the run is in flight")
			}
			sent := time.Now()
			p.cmd.Process.Signal(c.sig)
			res := p.wait(t, 30*time.Second)
			took := time.Since(sent)
			hk.release(c.hook, true)
			t.Logf("%s: exit %d after %s", c.sig, res.Code, took.Round(time.Millisecond))
			if res.Code != 130 || !strings.Contains(res.Stderr, "interrupted") {
				t.Errorf("exit %d, want 130 and an 'interrupted' message", res.Code)
			}
			if took > 10*time.Second {
				t.Errorf("took %s to stop after %s", took, c.sig)
			}
			// The lock goes with the connection.
			end := time.Now().Add(10 * time.Second)
			for lockHolders(t, l, w.Name) != "" && time.Now().Before(end) {
				time.Sleep(200 * time.Millisecond)
			}
			if h := lockHolders(t, l, w.Name); h != "" {
				t.Errorf("lock still held after the run ended:\n%s", h)
			}
			// The lock is free at once: flock -n takes it on the node.
			if out, err := l.Exec(context.Background(), w.Name, "flock", "-n", "/run/swarmctl/configure.lock", "true"); err != nil {
				t.Errorf("the configure lock is still held after %s: %v %s", c.sig, err, out)
			}
			mid := catFile(t, l, w.Name, dockerLayoutPath)
			wholeJSON(t, "daemon.json after the signal", mid)
			waitActive(t, l, w.Name)

			start := time.Now()
			r := swarmctl(t, env, append(base, "--mirror", c.mirror)...)
			t.Logf("rerun after %s: %s", c.sig, time.Since(start).Round(time.Millisecond))
			if r.Code != 0 {
				t.Fatalf("rerun: exit %d", r.Code)
			}
			if ms := lockStepMS(t, r); ms > 3000 {
				t.Errorf("rerun waited %d ms for the lock: not released", ms)
			}
			final := catFile(t, l, w.Name, dockerLayoutPath)
			if c.expect == "old" && mid != old || c.expect == "new" && mid != final {
				t.Errorf("after %s the file is not the %s file:\nold %q\nmid %q\nnew %q", c.sig, c.expect, old, mid, final)
			}
			if got := liveMirrors(t, l, w.Name); !strings.Contains(got, c.mirror+"/") {
				t.Errorf("after the rerun the daemon uses %s", got)
			}
		})
	}
}

// TestFaultConcurrentRuns: a second run against the same node while the
// first is between its write and its reload waits for the first's lock,
// then re-reads and adds its change on top: the two never interleave and
// no change is lost.
func TestFaultConcurrentRuns(t *testing.T) {
	l := needDockerLayoutLab(t)
	w := l.Machines()[1]
	fp := newFaultProxy(t, w)
	env := proxyInventory(t, l, []*faultProxy{fp})
	hk := installHooks(t, l, w.Name, "systemctl")
	base := []string{"nodes", "configure", "-o", "json", "-v", "--yes", "--ready-timeout", "20s"}
	if r := swarmctl(t, env, append(base, "--mirror", "https://prep.example.test")...); r.Code != 0 {
		t.Fatalf("preparing run: exit %d", r.Code)
	}
	hk.hold("systemctl", "reload docker.service")
	a := startSwarmctl(t, env, append(base, "--mirror", "https://first.example.test")...)
	hk.reached("systemctl", 120*time.Second)
	afterA := catFile(t, l, w.Name, dockerLayoutPath)
	b := startSwarmctl(t, env, append(base, "--mirror", "https://second.example.test")...)
	// B is connected and waiting for the lock (its lock command shows up).
	b.waitStderr(t, `"$d/$1.lock"`, 60*time.Second)
	time.Sleep(3 * time.Second)
	if strings.Contains(b.stderr(), "keep=$3") || catFile(t, l, w.Name, dockerLayoutPath) != afterA {
		t.Fatalf("the second run went on while the first held the node:\n%s", b.stderr())
	}
	held := time.Now()
	hk.release("systemctl", false)
	ra := a.wait(t, 2*time.Minute)
	rb := b.wait(t, 2*time.Minute)
	if ra.Code != 0 || rb.Code != 0 {
		t.Fatalf("exit %d and %d, want both 0", ra.Code, rb.Code)
	}
	da, db := parseConfigure(t, ra), parseConfigure(t, rb)
	if o, _ := nodeResult(t, da, w.Name); o != "reloaded" {
		t.Errorf("first run: %s", o)
	}
	if o, _ := nodeResult(t, db, w.Name); o != "reloaded" {
		t.Errorf("second run: %s", o)
	}
	t.Logf("second run waited %d ms for the lock (both done %s after the hold was released)", lockStepMS(t, rb), time.Since(held).Round(time.Millisecond))
	if ms := lockStepMS(t, rb); ms < 3000 {
		t.Errorf("second run's lock step took %d ms: it did not wait for the first", ms)
	}
	final := catFile(t, l, w.Name, dockerLayoutPath)
	live := liveMirrors(t, l, w.Name)
	for _, m := range []string{"https://first.example.test", "https://second.example.test"} {
		if !strings.Contains(final, `"`+m) || !strings.Contains(live, m+"/") {
			t.Errorf("%s lost: file %q, daemon %s", m, final, live)
		}
	}
}

// TestFaultFullDisk: the node's config directory is a tiny full tmpfs.
// The backup still fits, the write fails (the first failed step), nothing
// after it runs, the original file is intact, no temp file is left, docker
// is not restarted and the error says "no space left".
func TestFaultFullDisk(t *testing.T) {
	l := needDockerLayoutLab(t)
	w := l.Machines()[1]
	fp := newFaultProxy(t, w)
	env := proxyInventory(t, l, []*faultProxy{fp})
	old := catFile(t, l, w.Name, dockerLayoutPath)
	// A 64 KiB tmpfs over /etc/docker holding the same files (no old
	// backups, whose rotation would free space), filled up, then one page
	// freed: room for the backup, none for the new file.
	inMachine(t, l, w.Name, "sh", "-c", `set -e
rm -rf /run/flt-etc-docker; cp -a /etc/docker /run/flt-etc-docker
mount -t tmpfs -o size=64k,mode=0755 flt-full /etc/docker
cp -a /run/flt-etc-docker/. /etc/docker/
rm -f /etc/docker/*.bak
echo x > /etc/docker/zz-reserve
dd if=/dev/zero of=/etc/docker/zz-fill bs=4096 2>/dev/null || true
rm /etc/docker/zz-reserve`)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := l.Exec(ctx, w.Name, "umount", "/etc/docker"); err != nil {
			t.Errorf("umount: %v %s", err, out)
		}
	})
	pid0 := mainPID(t, l, w.Name)
	r := swarmctl(t, env, "nodes", "configure", "-o", "json", "--yes", "--mirror", "https://full-disk.example.test")
	doc := parseConfigure(t, r)
	o, e := nodeResult(t, doc, w.Name)
	if r.Code != 1 || o != "failed" || !strings.Contains(strings.ToLower(e), "no space left") {
		t.Errorf("exit %d %s %q: want failed with 'no space left'", r.Code, o, e)
	}
	t.Logf("full disk error: %s", e)
	// The failing step is the write: the backup (one page) still fits,
	// the new file does not, and nothing after the write ran.
	if !strings.HasPrefix(e, "write:") {
		t.Errorf("failed at %q, want the write step", strings.SplitN(e, ":", 2)[0])
	}
	steps := faultSteps(t, r, w.Name)
	t.Logf("steps: %+v", steps)
	var failedStep string
	ran := map[string]bool{}
	for _, s := range steps {
		ran[s.Name] = true
		if !s.OK && failedStep == "" {
			failedStep = s.Name
		}
	}
	if failedStep != "write" {
		t.Errorf("the first failed step in the JSON is %q, want write", failedStep)
	}
	if ok, found := faultStepOK(t, r, w.Name, "back up"); !found || !ok {
		t.Errorf("the backup step did not succeed before the write: %+v", steps)
	}
	for _, later := range []string{"validate", "reload", "restart", "verify"} {
		if ran[later] {
			t.Errorf("step %q ran after the failed write: %+v", later, steps)
		}
	}
	if pid := mainPID(t, l, w.Name); pid != pid0 {
		t.Errorf("dockerd PID %s -> %s: docker was restarted after a failed write", pid0, pid)
	}
	if got := catFile(t, l, w.Name, dockerLayoutPath); got != old {
		t.Errorf("original file damaged:\n%q\nwant\n%q", got, old)
	}
	if tmp := leftoverTemps(t, l, w.Name); tmp != "" {
		t.Errorf("temp files left: %s", tmp)
	}
	if s := dockerActive(t, l, w.Name); s != "active" {
		t.Errorf("docker %s", s)
	}
}

// TestFaultPerNodeErrors: one good node plus nodes that cannot be
// configured for each usual reason, in one run. Each gets its own clear
// error, the good node is configured anyway, the exit code is 1.
func TestFaultPerNodeErrors(t *testing.T) {
	l := needDockerLayoutLab(t)
	mgr, w := l.Machines()[0], l.Machines()[1]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// An address inside the lab's --internal subnet that no machine has.
	unreachable := strings.TrimSuffix(l.Subnet(), "0/24") + "250"
	// A user whose sudo wants a password; the lab key lets it log in.
	inMachine(t, l, w.Name, "sh", "-c", `id fltpw >/dev/null 2>&1 || useradd -m -s /bin/sh fltpw
echo 'fltpw:not-used-by-the-test' | chpasswd
echo 'fltpw ALL=(ALL) ALL' > /etc/sudoers.d/fltpw && chmod 0440 /etc/sudoers.d/fltpw
install -d -m 0700 -o fltpw -g fltpw /home/fltpw/.ssh
install -m 0600 -o fltpw -g fltpw /root/.ssh/authorized_keys /home/fltpw/.ssh/authorized_keys`)
	// No docker unit on the manager (masked: its dockerd keeps running).
	inMachine(t, l, mgr.Name, "systemctl", "mask", "docker.service")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		l.Exec(ctx, w.Name, "sh", "-c", "rm -f /etc/sudoers.d/fltpw; userdel -r fltpw")
		if out, err := l.Exec(ctx, mgr.Name, "sh", "-c", "systemctl unmask docker.service && systemctl daemon-reload && systemctl is-active docker.service"); err != nil {
			t.Errorf("unmask: %v %s", err, out)
		}
	})
	wrongKey := filepath.Join(t.TempDir(), "id_wrong")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", wrongKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	good, nounit, pw, badkey := newFaultProxy(t, w), newFaultProxy(t, mgr), newFaultProxy(t, w), newFaultProxy(t, w)
	env := proxyInventory(t, l, []*faultProxy{good, nounit},
		proxiedNode{Name: "sudo-password", Via: pw, User: "fltpw"},
		proxiedNode{Name: "wrong-key", Via: badkey, Key: wrongKey},
		proxiedNode{Name: "refused", Host: "127.0.0.1", Port: refused},
		proxiedNode{Name: "unreachable", Host: unreachable},
		proxiedNode{Name: "nxdomain", Host: "node.swarmctl-e2e.invalid"},
	)
	mirror := fmt.Sprintf("https://per-node-%d.example.test", time.Now().Unix())
	start := time.Now()
	r := swarmctl(t, env, "nodes", "configure", "-o", "json", "--yes", "--connect-timeout", "3s", "--mirror", mirror)
	t.Logf("run over 7 nodes (5 failing): %s", time.Since(start).Round(time.Millisecond))
	doc := parseConfigure(t, r)
	if r.Code != 1 {
		t.Errorf("exit %d, want 1", r.Code)
	}
	want := map[string]string{
		w.Name:          "",
		mgr.Name:        "no docker service found",
		"sudo-password": "sudo needs a password for user fltpw",
		"wrong-key":     "authentication failed",
		"refused":       "connection refused",
		"unreachable":   "timed out after 3s",
		"nxdomain":      "no such host",
	}
	for name, msg := range want {
		o, e := nodeResult(t, doc, name)
		switch {
		case msg == "" && o != "reloaded" && o != "restarted":
			t.Errorf("%s: %s %q, want it configured despite the others", name, o, e)
		case msg != "" && (o != "failed" || !strings.Contains(e, msg)):
			t.Errorf("%s: %s %q, want failed with %q", name, o, e, msg)
		}
		if msg != "" && !strings.Contains(r.Stderr, name+": failed") {
			t.Errorf("%s: no failure line on stderr", name)
		}
	}
	if got := liveMirrors(t, l, w.Name); !strings.Contains(got, mirror+"/") {
		t.Errorf("good node's daemon uses %s", got)
	}
}
