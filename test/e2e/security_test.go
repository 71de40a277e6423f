package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

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
	khFile := strings.TrimPrefix(env2[0], "SWARMCTL_INVENTORY=")
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
	artifact := filepath.Join(t.TempDir(), "install.json")
	r := swarmctl(t, env, append(args, "-o", "json", "--output-file", artifact)...)
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
	for what, s := range map[string]string{"json stdout": r.Stdout, "-v stderr": r.Stderr, "dry-run stdout": rText.Stdout, "dry-run stderr": rText.Stderr,
		"--output-file artifact": readArtifact(t, artifact)} {
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
	t.Cleanup(func() { swarmctl(t, labEnv(l), "mirror", "uninstall", "--purge", "--yes") })

	// apply takes the password from the inventory (mirror.upstream_password_env).
	// A second password, so that apply's plan sees the secret change and
	// writes it: the redacted diff path and the real write are both taken.
	t.Cleanup(func() { resetLab(t, l) }) // apply reconfigures every node's daemon.json
	const password2 = "S3cret-apply-pw-2b9e"
	invPath := withUpstreamAuth(t, l, "fltuser", "FLT_APPLY_PW")
	aenv := []string{"SWARMCTL_INVENTORY=" + invPath, "FLT_APPLY_PW=" + password2}
	secrets := []string{password, password2}
	w = watchPS(l, []string{mgr}, secrets...)
	start = time.Now()
	dryArtifact := filepath.Join(t.TempDir(), "apply-dry-run.json")
	dry := swarmctl(t, aenv, "apply", "-v", "--dry-run")
	dryJSON := swarmctl(t, aenv, "apply", "-v", "--dry-run", "-o", "json", "--output-file", dryArtifact)
	applyArtifact := filepath.Join(t.TempDir(), "apply.json")
	ap := swarmctl(t, aenv, "apply", "-v", "--yes", "--output-file", applyArtifact)
	apJSON := swarmctl(t, aenv, "apply", "-v", "--yes", "-o", "json")
	hits, samples = w.Stop()
	t.Logf("apply with a password (dry run, dry run json, apply, apply json): %s; %d process-list samples", time.Since(start).Round(time.Millisecond), samples)
	if dry.Code != 0 || dryJSON.Code != 0 || ap.Code != 0 || apJSON.Code != 0 {
		t.Errorf("apply exits: dry-run %d, dry-run json %d, apply %d, apply json %d; want all 0", dry.Code, dryJSON.Code, ap.Code, apJSON.Code)
	}
	if len(hits) > 0 {
		t.Errorf("a password showed in the node's process list during apply:\n%s", strings.Join(hits, "\n"))
	}
	outputs := map[string]string{
		"apply --dry-run stdout":                 dry.Stdout,
		"apply --dry-run -v stderr":              dry.Stderr,
		"apply --dry-run -o json stdout":         dryJSON.Stdout,
		"apply --dry-run -o json -v stderr":      dryJSON.Stderr,
		"apply --dry-run --output-file artifact": readArtifact(t, dryArtifact),
		"apply stdout":                           ap.Stdout,
		"apply -v stderr":                        ap.Stderr,
		"apply --output-file artifact":           readArtifact(t, applyArtifact),
		"apply -o json stdout":                   apJSON.Stdout,
		"apply -o json -v stderr":                apJSON.Stderr,
	}
	for what, s := range outputs {
		for _, pw := range secrets {
			if strings.Contains(s, pw) {
				t.Errorf("the password %s... appears in %s", pw[:6], what)
			}
		}
	}
	// The test proves something only if apply saw the new password: the
	// dry run plans a change of the secret, and the real run writes it.
	if !strings.Contains(dryJSON.Stdout, `"secret_changed": true`) {
		t.Errorf("apply --dry-run does not plan the password change (secret_changed): apply did not read the password")
	}
	if got := inMachine(t, l, mgr, "cat", cfg); !strings.Contains(got, password2) || strings.Contains(got, password) {
		t.Errorf("after apply the registry config does not hold the new password (the test would prove nothing)")
	}
	if mode := strings.TrimSpace(inMachine(t, l, mgr, "stat", "-c", "%a %U", cfg)); mode != "600 root" {
		t.Errorf("after apply %s is %s, want 600 root", cfg, mode)
	}

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

// readArtifact returns an --output-file artifact, failing unless it is a
// non-empty JSON document (an empty file would hide no password).
func readArtifact(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("--output-file artifact: %v", err)
		return ""
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil || len(v) == 0 {
		t.Errorf("--output-file artifact %s is not a JSON document: %v\n%s", path, err, b)
	}
	return string(b)
}

// withUpstreamAuth writes a copy of the lab's inventory whose mirror
// section names an upstream user and the environment variable holding the
// upstream password (never the password itself), and returns its path.
func withUpstreamAuth(t *testing.T, l *lab.Lab, user, pwEnv string) string {
	t.Helper()
	b, err := os.ReadFile(l.InventoryPath())
	if err != nil {
		t.Fatal(err)
	}
	var inv map[string]any
	if err := yaml.Unmarshal(b, &inv); err != nil {
		t.Fatal(err)
	}
	m, ok := inv["mirror"].(map[string]any)
	if !ok {
		t.Fatalf("no mirror section in %s", l.InventoryPath())
	}
	m["upstream_username"], m["upstream_password_env"] = user, pwEnv
	out, err := yaml.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "swarmctl.yaml")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
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
		r := swarmctl(t, env, "nodes", "configure", "--yes", "--mirror", m)
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
		r := swarmctl(t, proxyInventory(t, l, nil, n), "nodes", "configure", "--yes", "--mirror", "https://m.example.test")
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

// TestSecuritySSHKeyFromEnv: the CI job with nothing but variables. The key
// and known_hosts lines come base64-encoded (GitLab masks only one-line
// values) or as text; a value that is neither a file nor a key is refused
// before any node is dialled and never printed, in any output or the
// artifact; artifacts are 0600.
func TestSecuritySSHKeyFromEnv(t *testing.T) {
	l := needDockerLayoutLab(t)
	key, err := os.ReadFile(l.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	kh, err := os.ReadFile(l.KnownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	var hosts []string
	for _, m := range l.Machines() {
		hosts = append(hosts, "--host", "root@"+m.IP)
	}
	list := func(env []string, artifact string) result {
		return swarmctl(t, env, append([]string{"nodes", "list", "-v", "-o", "json", "--output-file", artifact}, hosts...)...)
	}
	for name, env := range map[string][]string{
		"base64": {"SWARMCTL_SSH_KEY=" + b64(key), "SWARMCTL_KNOWN_HOSTS=" + b64(kh)},
		"text":   {"SWARMCTL_SSH_KEY=" + string(key), "SWARMCTL_KNOWN_HOSTS=" + string(kh)},
	} {
		artifact := filepath.Join(t.TempDir(), "list.json")
		r := list(env, artifact)
		var doc listDoc
		if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || r.Code != 0 || doc.Reachable != len(l.Machines()) {
			t.Errorf("%s: exit %d, %d reachable (%v)\n%s", name, r.Code, doc.Reachable, err, r.Stderr)
		}
		if st, err := os.Stat(artifact); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: artifact %v %v, want mode 0600", name, st, err)
		}
		if strings.Contains(r.Stdout+r.Stderr+readArtifact(t, artifact), strings.TrimSpace(b64(key))[100:160]) {
			t.Errorf("%s: the key appears in the output", name)
		}
	}

	// A damaged key (cut at both ends): not a key, not a file. Refused
	// with a description; no part of it in stdout, stderr or the artifact.
	damaged := b64(key[40 : len(key)-40])
	artifact := filepath.Join(t.TempDir(), "list.json")
	if err := os.WriteFile(artifact, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := list([]string{"SWARMCTL_SSH_KEY=" + damaged, "SWARMCTL_KNOWN_HOSTS=" + b64(kh)}, artifact)
	art, _ := os.ReadFile(artifact)
	if r.Code != 2 || !strings.Contains(r.Stderr, "SWARMCTL_SSH_KEY: not a readable file and not a private key (PEM or base64)") {
		t.Errorf("damaged key: exit %d, stderr %s; want 2 and a description", r.Code, r.Stderr)
	}
	for _, part := range []string{damaged[:32], damaged[len(damaged)/2 : len(damaged)/2+32], damaged[len(damaged)-32:]} {
		if strings.Contains(r.Stdout+r.Stderr+string(art), part) {
			t.Errorf("part of the SWARMCTL_SSH_KEY value was printed or written:\nstdout %s\nstderr %s\nartifact %s", r.Stdout, r.Stderr, art)
		}
	}
}
