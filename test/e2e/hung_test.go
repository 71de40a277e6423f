package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/test/lab"
)

// hangWrapper installs /usr/local/bin/NAME on machine m (first on sshd's
// PATH): a run whose first argument is verb never returns (sleep, its PID
// recorded); with once, only the first such run. Every other run is the
// real command. The sleeps are killed and the wrapper removed when the
// test ends.
func hangWrapper(t *testing.T, l *lab.Lab, m, name, verb string, once bool) {
	t.Helper()
	cond := `[ "$1" = "` + verb + `" ]`
	if once {
		cond += ` && mkdir /run/hd-hung-` + name + ` 2>/dev/null`
	}
	script := "#!/bin/sh\nif " + cond + "; then echo $$ >> /run/hd-hang.pids; exec sleep 3600; fi\nPATH=/usr/sbin:/usr/bin:/sbin:/bin exec " + name + " \"$@\"\n"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := l.ExecStdin(ctx, m, strings.NewReader(script), "sh", "-c", `cat > "/usr/local/bin/$1" && chmod 0755 "/usr/local/bin/$1"`, "sh", name); err != nil {
		t.Fatalf("installing the %s wrapper on %s: %v %s", name, m, err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		l.Exec(ctx, m, "sh", "-c", `rm -f "/usr/local/bin/$1"; rmdir "/run/hd-hung-$1" 2>/dev/null; [ -f /run/hd-hang.pids ] && kill $(cat /run/hd-hang.pids) 2>/dev/null; rm -f /run/hd-hang.pids; true`, "sh", name)
	})
}

// rowsWithErrors reads the nodes of a -o json document (nodes list,
// mirror status, nodes configure).
func rowsWithErrors(t *testing.T, s string) map[string]string {
	t.Helper()
	var doc struct {
		Nodes []struct{ Name, Error string } `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		t.Fatalf("JSON: %v\n%s", err, s)
	}
	m := map[string]string{}
	for _, n := range doc.Nodes {
		m[n.Name] = n.Error
	}
	return m
}

// TestFaultHungStep: a docker info or a systemctl reload that never
// returns no longer holds nodes list, mirror status or nodes configure
// forever: the node fails with the step named once the step's deadline
// (--step-timeout) passes, the other node is done, and the JSON artifact
// is written.
func TestFaultHungStep(t *testing.T) {
	l := needDockerLayoutLab(t)
	mgr, w := l.Machines()[0], l.Machines()[1]
	t.Cleanup(func() { resetLab(t, l) })

	hangWrapper(t, l, w.Name, "docker", "info", false)
	for _, cmd := range [][]string{{"nodes", "list"}, {"mirror", "status", "--no-discover"}} {
		artifact := filepath.Join(t.TempDir(), "result.json")
		start := time.Now()
		r := swarmctl(t, labEnv(l), append(cmd, "--step-timeout", "5s", "-o", "json", "--output-file", artifact)...)
		took := time.Since(start)
		rows := rowsWithErrors(t, r.Stdout)
		if r.Code != 1 || !strings.Contains(rows[w.Name], "facts: no answer within 5s (--step-timeout)") || rows[mgr.Name] != "" {
			t.Errorf("%v: exit %d, rows %q; want the worker failed at its facts step, the manager fine", cmd, r.Code, rows)
		}
		if took > 45*time.Second {
			t.Errorf("%v took %s", cmd, took.Round(time.Second))
		}
		if !strings.Contains(readArtifact(t, artifact), "no answer within 5s") {
			t.Errorf("%v: the artifact lacks the worker's failure", cmd)
		}
		t.Logf("%v with a hung docker info: %s", cmd, took.Round(100*time.Millisecond))
	}
	inMachine(t, l, w.Name, "rm", "-f", "/usr/local/bin/docker")

	// A reload that hangs the first time: that step fails, the change is
	// rolled back (its own reload works), the manager is reloaded.
	hangWrapper(t, l, w.Name, "systemctl", "reload", true)
	old := catFile(t, l, w.Name, dockerLayoutPath)
	artifact := filepath.Join(t.TempDir(), "configure.json")
	start := time.Now()
	r := swarmctl(t, labEnv(l), "nodes", "configure", "--apply", "reload", "--mirror", "https://hung.example.test", "--step-timeout", "5s", "-o", "json", "--output-file", artifact)
	took := time.Since(start)
	doc := parseConfigure(t, r)
	o, e := nodeResult(t, doc, w.Name)
	if r.Code != 1 || o != "failed" || !strings.HasPrefix(e, "reload: no answer within 5s (--step-timeout)") || !strings.Contains(e, "rolled back") {
		t.Errorf("worker: exit %d, %s %q; want failed at the reload step, rolled back", r.Code, o, e)
	}
	if o, e := nodeResult(t, doc, mgr.Name); o != "reloaded" {
		t.Errorf("manager: %s %q, want reloaded", o, e)
	}
	if got := catFile(t, l, w.Name, dockerLayoutPath); got != old {
		t.Errorf("worker's daemon.json %q, want the old file back", got)
	}
	if !strings.Contains(readArtifact(t, artifact), "no answer within 5s") {
		t.Errorf("the artifact lacks the worker's failure")
	}
	t.Logf("nodes configure with a hung reload: %s", took.Round(100*time.Millisecond))
}

// swarmctlRSS runs swarmctl like swarmctl() and also returns its peak
// resident memory (bytes).
func swarmctlRSS(t *testing.T, env []string, args ...string) (result, int64) {
	t.Helper()
	cmd := exec.Command(swarmctlBin(t), args...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "NO_COLOR=1"}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running swarmctl: %v", err)
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	t.Logf("$ swarmctl %s\nexit %d, peak RSS %d MiB\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, rss>>20, out.String(), errb.String())
	return result{code, out.String(), errb.String()}, rss
}

// TestFaultHugeDaemonJSON: a 300 MB daemon.json is not read: nodes list
// says why and stays small in memory; nodes configure refuses that node
// with a clear error and touches nothing.
func TestFaultHugeDaemonJSON(t *testing.T) {
	l := needDockerLayoutLab(t)
	w := l.Machines()[1]
	t.Cleanup(func() { resetLab(t, l) })
	inMachine(t, l, w.Name, "sh", "-c", `head -c 314572800 /dev/zero | tr '\0' ' ' > "$1.hd" && mv -f "$1.hd" "$1"`, "sh", dockerLayoutPath)
	pid := mainPID(t, l, w.Name)

	r, rss := swarmctlRSS(t, labEnv(l), "nodes", "list", "-o", "json")
	const want = "/etc/docker/daemon.json is 314572800 bytes, over the 1024 KiB swarmctl reads"
	if !strings.Contains(r.Stdout, want) {
		t.Errorf("nodes list: exit %d, the worker's row does not say %q", r.Code, want)
	}
	if rss > 200<<20 {
		t.Errorf("nodes list peaked at %d MiB with a 300 MB daemon.json", rss>>20)
	}
	r, rss = swarmctlRSS(t, labEnv(l), "nodes", "configure", "--yes", "-o", "json", "--limit", w.Name, "--mirror", "https://huge.example.test")
	o, e := nodeResult(t, parseConfigure(t, r), w.Name)
	if r.Code != 1 || o != "failed" || !strings.Contains(e, want) {
		t.Errorf("nodes configure: exit %d, %s %q", r.Code, o, e)
	}
	if rss > 200<<20 {
		t.Errorf("nodes configure peaked at %d MiB", rss>>20)
	}
	if got := strings.TrimSpace(inMachine(t, l, w.Name, "stat", "-c", "%s", dockerLayoutPath)); got != "314572800" || mainPID(t, l, w.Name) != pid {
		t.Errorf("the worker was touched: daemon.json %s bytes, dockerd %s (was %s)", got, mainPID(t, l, w.Name), pid)
	}
}

// TestFaultFailedWriteRestartsNothing: daemon.json is a symbolic link loop,
// so the write fails without changing anything. Docker was never touched,
// so nothing is rolled back or restarted: dockerd keeps its PID, and the
// links stay as they were (the old binary removed the link and restarted
// docker).
func TestFaultFailedWriteRestartsNothing(t *testing.T) {
	l := needDockerLayoutLab(t)
	w := l.Machines()[1]
	inMachine(t, l, w.Name, "sh", "-c", `cd /etc/docker && mv daemon.json daemon.json.hd-orig && ln -s daemon.json.hdloop daemon.json && ln -s daemon.json daemon.json.hdloop`)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		l.Exec(ctx, w.Name, "sh", "-c", `cd /etc/docker && rm -f daemon.json daemon.json.hdloop && mv daemon.json.hd-orig daemon.json`)
		resetLab(t, l)
	})
	pid := mainPID(t, l, w.Name)
	for _, user := range []string{"root", "ops"} { // SFTP, and the script through sudo
		r := swarmctl(t, labEnv(l), "nodes", "configure", "--yes", "-o", "json", "--user", user, "--limit", w.Name, "--mirror", "https://loop.example.test")
		o, e := nodeResult(t, parseConfigure(t, r), w.Name)
		if r.Code != 1 || o != "failed" || !strings.HasPrefix(e, "write: ") || !(strings.Contains(e, "docker was not reloaded or restarted") || strings.Contains(e, "daemon.json is unchanged")) {
			t.Errorf("%s: exit %d, %s %q; want failed at the write, docker left alone", user, r.Code, o, e)
		}
		if got := mainPID(t, l, w.Name); got != pid {
			t.Errorf("%s: dockerd %s, was %s: docker was restarted", user, got, pid)
		}
		if got := strings.TrimSpace(inMachine(t, l, w.Name, "readlink", "/etc/docker/daemon.json")); got != "daemon.json.hdloop" {
			t.Errorf("%s: daemon.json now %q, want the link left as it was", user, got)
		}
	}
}
