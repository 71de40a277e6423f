package configure

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// runScript runs one of the remote scripts in a real sh, with fake
// systemctl/docker from bin first on PATH.
func runScript(t *testing.T, bin string, script nodes.Script, args ...string) string {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", script.Text(), script.Name()}, args...)...)
	if bin != "" {
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, out)
	}
	return string(out)
}

func fakeCommands(t *testing.T, cmds map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range cmds {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBackupScriptKeepsNewestAndMode(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "my dir", "daemon.json")
	if got := runScript(t, "", backupScript, f, "20250101T000000.000Z", "5"); got != "missing\n" {
		t.Fatalf("missing file: %q", got)
	}
	if _, err := os.Stat(filepath.Dir(f)); err != nil {
		t.Fatalf("directory for the new file not created: %v", err)
	}
	if err := os.WriteFile(f, []byte(`{"a": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var last string
	for i := 1; i <= 7; i++ {
		last = strings.TrimSpace(runScript(t, "", backupScript, f, "20250101T00000"+string(rune('0'+i))+".000Z", "5"))
	}
	if last != f+".swarmctl-20250101T000007.000Z.bak" {
		t.Errorf("backup path %q", last)
	}
	got, _ := filepath.Glob(f + ".swarmctl-*.bak")
	if len(got) != 5 || !strings.Contains(got[0], "T000003") {
		t.Errorf("kept %v, want the newest 5 (3..7)", got)
	}
	st, err := os.Stat(last)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v %v, want 0600", st.Mode(), err)
	}
	if b, _ := os.ReadFile(last); string(b) != `{"a": 1}` {
		t.Errorf("backup content %q", b)
	}
}

func TestVerifyScript(t *testing.T) {
	bin := fakeCommands(t, map[string]string{
		"systemctl": `case "$1" in is-active) echo active ;; show) echo MainPID=4242 ;; esac`,
		"docker":    `echo '["https://m.example.com/"]|true|active'`,
	})
	start := time.Now()
	got := runScript(t, bin, verifyScript, "docker", `["https://m.example.com/"]`, "true", "swarm", "10")
	if got != "active|4242|[\"https://m.example.com/\"]|true|active\n" || time.Since(start) > 3*time.Second {
		t.Errorf("match: %q after %s", got, time.Since(start))
	}
	v := parseVerify(got)
	if !v.active || v.pid != 4242 || len(v.mirrors) != 1 || v.experimental != "true" || v.swarm != "active" {
		t.Errorf("parsed %+v", v)
	}
	if enc := VerifyOutput(true, 4242, []string{"https://m.example.com/"}, true, "active"); enc != got {
		t.Errorf("VerifyOutput = %q, the script printed %q", enc, got)
	}
	// Not what we want: gives up at the deadline with what it saw.
	start = time.Now()
	got = runScript(t, bin, verifyScript, "docker", `["https://other.example.com/"]`, "", "", "1")
	if el := time.Since(start); el < time.Second || el > 5*time.Second || !strings.HasPrefix(got, "active|4242|") {
		t.Errorf("mismatch: %q after %s", got, el)
	}
	// An empty wanted list accepts null.
	bin = fakeCommands(t, map[string]string{
		"systemctl": `case "$1" in is-active) echo active ;; show) echo MainPID=1 ;; esac`,
		"docker":    `echo 'null|false|inactive'`,
	})
	start = time.Now()
	runScript(t, bin, verifyScript, "docker", `[]`, "false", "", "5")
	if time.Since(start) > 3*time.Second {
		t.Error("[] did not accept null")
	}
}

func TestNodeWaitScript(t *testing.T) {
	bin := fakeCommands(t, map[string]string{"docker": `echo 'ready reachable'`})
	if got := runScript(t, bin, nodeWaitScript, "abc", "manager", "5"); got != "ready reachable\n" {
		t.Errorf("%q", got)
	}
	bin = fakeCommands(t, map[string]string{"docker": `echo 'ready '`})
	if got := runScript(t, bin, nodeWaitScript, "abc", "", "5"); got != "ready \n" {
		t.Errorf("worker: %q", got)
	}
	start := time.Now()
	if got := runScript(t, bin, nodeWaitScript, "abc", "manager", "1"); got != "ready \n" || time.Since(start) < time.Second {
		t.Errorf("manager not reachable: %q after %s", got, time.Since(start))
	}
}

// Temp files of an atomic write cut off mid-upload are removed by the
// next backup (which runs under the node's lock); backups and other files stay.
func TestBackupScriptRemovesLeftoverTempFiles(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "daemon.json")
	keep := []string{f, f + ".swarmctl-20240101T000000.000Z.bak", filepath.Join(dir, ".other.json.swarmctl-0c4ba0022508"), filepath.Join(dir, "key.json")}
	gone := []string{filepath.Join(dir, ".daemon.json.swarmctl-0c4ba0022508"), filepath.Join(dir, ".daemon.json.swarmctl-AbC12345")}
	for _, p := range append(append([]string{}, keep...), gone...) {
		if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runScript(t, "", backupScript, f, "20250101T000000.000Z", "5")
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", filepath.Base(p), err)
		}
	}
	for _, p := range gone {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("leftover %s not removed", filepath.Base(p))
		}
	}
}

// The drain wait counts the node's tasks still Running (history lines of
// stopped tasks do not count), polls until none, and reports a docker error.
func TestDrainWaitScript(t *testing.T) {
	dir := t.TempDir()
	polls := filepath.Join(dir, "polls")
	// Two polls with a task still running, then only history.
	bin := fakeCommands(t, map[string]string{"docker": `echo x >> ` + polls + `
[ "$1 $2 $5" = "node ps id-w1" ] || { echo "bad args: $*" >&2; exit 2; }
if [ $(wc -l < ` + polls + `) -lt 3 ]; then echo "Running 3 minutes ago"; fi
echo "Shutdown 2 seconds ago"; echo "Shutdown 5 hours ago"`})
	if got := strings.TrimSpace(runScript(t, bin, drainWaitScript, "id-w1", "10")); got != "0" {
		t.Errorf("got %q, want 0", got)
	}
	if b, _ := os.ReadFile(polls); strings.Count(string(b), "x") != 3 {
		t.Errorf("polled %d times, want 3", strings.Count(string(b), "x"))
	}
	stuck := fakeCommands(t, map[string]string{"docker": `echo "Running 1 second ago"; echo "Running 2 days ago"`})
	start := time.Now()
	if got := strings.TrimSpace(runScript(t, stuck, drainWaitScript, "id-w1", "1")); got != "2" {
		t.Errorf("stuck: got %q, want 2", got)
	}
	if d := time.Since(start); d < time.Second || d > 5*time.Second {
		t.Errorf("stuck: waited %s for a 1 s timeout", d)
	}
	broken := fakeCommands(t, map[string]string{"docker": `echo "Error response from daemon: This node is not a swarm manager." >&2; exit 1`})
	if got := strings.TrimSpace(runScript(t, broken, drainWaitScript, "id-w1", "5")); got != "error Error response from daemon: This node is not a swarm manager." {
		t.Errorf("error: got %q", got)
	}
}
