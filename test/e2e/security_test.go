package e2e

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/test/lab"
)

// swapHostKeys gives m new SSH host keys and restarts its sshd; the old
// keys come back when the test ends. It returns the new ed25519 key's
// SHA256 fingerprint.
func swapHostKeys(t *testing.T, l *lab.Lab, m string) string {
	t.Helper()
	inMachine(t, l, m, "sh", "-c", `set -e
rm -rf /run/flt-hostkeys; mkdir -p /run/flt-hostkeys; cp -a /etc/ssh/ssh_host_* /run/flt-hostkeys/
rm -f /etc/ssh/ssh_host_*; ssh-keygen -A >/dev/null; systemctl restart ssh`)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := l.Exec(ctx, m, "sh", "-c", `set -e; rm -f /etc/ssh/ssh_host_*; cp -a /run/flt-hostkeys/. /etc/ssh/; systemctl restart ssh`); err != nil {
			t.Errorf("restoring host keys of %s: %v %s", m, err, out)
		}
	})
	f := strings.Fields(inMachine(t, l, m, "ssh-keygen", "-lf", "/etc/ssh/ssh_host_ed25519_key.pub"))
	if len(f) < 2 || !strings.HasPrefix(f[1], "SHA256:") {
		t.Fatalf("fingerprint: %v", f)
	}
	return f[1]
}

// TestSecurityHostKeyChanged: a node whose host key changed is refused
// under the default policy, with the new fingerprint in the message;
// accept-new still refuses it but records a host never seen before.
func TestSecurityHostKeyChanged(t *testing.T) {
	l := needDockerLayoutLab(t)
	mgr, w := l.Machines()[0], l.Machines()[1]
	fpW := newFaultProxy(t, w)
	env := proxyInventory(t, l, []*faultProxy{fpW})
	khFile := strings.TrimPrefix(env[0], "SWARMCTL_INVENTORY=")
	khFile = khFile[:strings.LastIndex(khFile, "/")] + "/known_hosts"
	newFP := swapHostKeys(t, l, w.Name)
	args := []string{"nodes", "configure", "-o", "json", "--dry-run", "--mirror", "https://hostkey.example.test"}

	r := swarmctl(t, env, args...)
	o, e := nodeResult(t, parseConfigure(t, r), w.Name)
	if r.Code != 1 || o != "failed" || !strings.Contains(e, "CHANGED") || !strings.Contains(e, newFP) {
		t.Errorf("strict: exit %d %s %q: want refused with %s", r.Code, o, e, newFP)
	}

	// accept-new: the changed host is still refused; a new host (the
	// manager through a proxy port never recorded) is added.
	fpM := newFaultProxy(t, mgr)
	env2 := proxyInventory(t, l, []*faultProxy{fpW}, proxiedNode{Name: mgr.Name, Host: "127.0.0.1", Port: fpM.Port})
	khFile = strings.TrimPrefix(env2[0], "SWARMCTL_INVENTORY=")
	khFile = khFile[:strings.LastIndex(khFile, "/")] + "/known_hosts"
	before, _ := os.ReadFile(khFile)
	env2 = append(env2, "SWARMCTL_HOST_KEY_POLICY=accept-new")
	r = swarmctl(t, env2, args...)
	doc := parseConfigure(t, r)
	if o, e := nodeResult(t, doc, w.Name); o != "failed" || !strings.Contains(e, "CHANGED") {
		t.Errorf("accept-new: changed host %s %q, want refused", o, e)
	}
	if o, e := nodeResult(t, doc, mgr.Name); o == "failed" {
		t.Errorf("accept-new: new host refused: %q", e)
	}
	after, _ := os.ReadFile(khFile)
	added := strings.TrimPrefix(string(after), string(before))
	if !strings.HasPrefix(string(after), string(before)) || !strings.Contains(added, "[127.0.0.1]:"+itoa(fpM.Port)+" ") ||
		strings.Contains(added, "[127.0.0.1]:"+itoa(fpW.Port)+" ") {
		t.Errorf("accept-new recorded %q, want only the new host [127.0.0.1]:%d", added, fpM.Port)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// psWatcher polls `ps -eo args` on machines until stopped and records
// every line that contains any of the needles.
type psWatcher struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	hits    []string
	samples int
}

func watchPS(l *lab.Lab, machines []string, needles ...string) *psWatcher {
	w := &psWatcher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			for _, m := range machines {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				out, err := l.Exec(ctx, m, "ps", "-eo", "args")
				cancel()
				w.mu.Lock()
				if err == nil {
					w.samples++
				}
				for _, line := range strings.Split(out, "\n") {
					for _, n := range needles {
						if strings.Contains(line, n) {
							w.hits = append(w.hits, m+": "+line)
						}
					}
				}
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *psWatcher) Stop() ([]string, int) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hits, w.samples
}

// TestSecuritySecretsNeverShown: the upstream registry password and an SSH
// key passphrase never appear in stdout, stderr (with -v), the JSON
// result, the diff, or any process's arguments on the nodes while the run
// is in flight; the registry config holding the password is 0600.
func TestSecuritySecretsNeverShown(t *testing.T) {
	l := needDockerLayoutLab(t)
	mgr := l.Manager().Name
	const password = "S3cret-upstream-pw-7f1c"
	env := append(labEnv(l), "FLT_UPSTREAM_PW="+password)
	args := []string{"mirror", "install", "-v", "--upstream-username", "fltuser", "--upstream-password-env", "FLT_UPSTREAM_PW"}
	w := watchPS(l, []string{mgr}, password)
	start := time.Now()
	r := swarmctl(t, env, append(args, "-o", "json")...)
	rText := swarmctl(t, env, append(args, "--dry-run")...)
	hits, samples := w.Stop()
	t.Logf("mirror install with a password: %s; %d process-list samples", time.Since(start).Round(time.Millisecond), samples)
	if r.Code != 0 {
		t.Fatalf("mirror install: exit %d", r.Code)
	}
	if samples < 5 {
		t.Errorf("only %d process-list samples: the watcher did not watch", samples)
	}
	if len(hits) > 0 {
		t.Errorf("the password showed in the node's process list:\n%s", strings.Join(hits, "\n"))
	}
	for what, s := range map[string]string{"json stdout": r.Stdout, "-v stderr": r.Stderr, "dry-run stdout": rText.Stdout, "dry-run stderr": rText.Stderr} {
		if strings.Contains(s, password) {
			t.Errorf("the password appears in %s", what)
		}
	}
	cfg := "/var/data/registry/registry-mirror-config.yml"
	if mode := strings.TrimSpace(inMachine(t, l, mgr, "stat", "-c", "%a %U", cfg)); mode != "600 root" {
		t.Errorf("%s is %s, want 600 root", cfg, mode)
	}
	if !strings.Contains(inMachine(t, l, mgr, "cat", cfg), password) {
		t.Errorf("the password did not reach the registry config (the test would prove nothing)")
	}
	t.Cleanup(func() { swarmctl(t, labEnv(l), "mirror", "uninstall", "--purge") })

	// An encrypted SSH key: its passphrase comes from the environment and is
	// never printed.
	const passphrase = "flt-key-passphrase-93a"
	key := t.TempDir() + "/id_enc"
	b, err := os.ReadFile(l.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, b, 0o600); err != nil {
		t.Fatal(err)
	}
	runLocal(t, "ssh-keygen", "-q", "-p", "-N", passphrase, "-f", key)
	r = swarmctl(t, append(labEnv(l), "SWARMCTL_SSH_KEY="+key, "SWARMCTL_SSH_PASSPHRASE="+passphrase),
		"nodes", "configure", "-v", "-o", "json", "--dry-run", "--mirror", "https://passphrase.example.test")
	if r.Code != 0 {
		t.Errorf("with the encrypted key: exit %d", r.Code)
	}
	if strings.Contains(r.Stdout+r.Stderr, passphrase) {
		t.Errorf("the key passphrase was printed")
	}
}

func runLocal(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := execCommand(ctx, name, args...); err != nil {
		t.Fatalf("%s: %v %s", name, err, out)
	}
}

// TestSecurityHostileValues: values with shell metacharacters, quotes and
// newlines are rejected before any node is touched, or reach the node as
// literal data; no command they carry ever runs there.
func TestSecurityHostileValues(t *testing.T) {
	l := needDockerLayoutLab(t)
	w := l.Machines()[1]
	fp := newFaultProxy(t, w)
	env := proxyInventory(t, l, []*faultProxy{fp})
	pwned := func() string {
		return strings.TrimSpace(inMachine(t, l, w.Name, "sh", "-c", "ls /tmp/pwned* 2>/dev/null || true"))
	}
	inMachine(t, l, w.Name, "rm", "-f", "/tmp/pwned")

	for _, m := range []string{
		"https://$(touch /tmp/pwned).example.test",
		"https://m.example.test/`touch /tmp/pwned`",
		"https://m.example.test;touch /tmp/pwned",
		"https://m.example.test'\"",
		"https://m.example.test\ntouch /tmp/pwned",
		"https://m.example.test/ $(touch /tmp/pwned)",
	} {
		r := swarmctl(t, env, "nodes", "configure", "--mirror", m)
		if r.Code != 2 || !strings.Contains(r.Stderr, "mirror") {
			t.Errorf("--mirror %q: exit %d, want 2 (rejected before touching a node)", m, r.Code)
		}
	}

	// A daemon.json path full of metacharacters: written literally.
	dir := "/tmp/flt dir $(touch /tmp/pwned) `touch /tmp/pwned2`; touch /tmp/pwned3 'q' \"d\""
	path := dir + "/daemon.json"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		l.Exec(ctx, w.Name, "rm", "-rf", dir)
	})
	r := swarmctl(t, env, "nodes", "configure", "-o", "json", "-v", "--apply", "none", "--daemon-json", path, "--mirror", "https://literal.example.test")
	if r.Code != 0 {
		t.Errorf("--daemon-json with metacharacters: exit %d", r.Code)
	}
	got := inMachine(t, l, w.Name, "cat", path)
	if !strings.Contains(got, `"https://literal.example.test`) {
		t.Errorf("file at the literal path: %q", got)
	}
	if p := pwned(); p != "" {
		t.Errorf("INJECTION: %s exists on %s", p, w.Name)
	}

	// Hostile node names and hosts in the inventory are refused (exit 2).
	for _, n := range []proxiedNode{
		{Name: "a;touch /tmp/pwned", Host: "127.0.0.1", Port: fp.Port},
		{Name: "ok", Host: "$(touch /tmp/pwned)"},
		{Name: "ok2", Host: "h\nx"},
	} {
		r := swarmctl(t, proxyInventory(t, l, nil, n), "nodes", "configure", "--mirror", "https://m.example.test")
		if r.Code != 2 {
			t.Errorf("inventory node %+v: exit %d, want 2", n, r.Code)
		}
	}
	if p := pwned(); p != "" {
		t.Errorf("INJECTION: %s exists on %s", p, w.Name)
	}
}

func execCommand(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
