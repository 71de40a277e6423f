package nodes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const sshdPath = "/usr/sbin/sshd"

// realSSHD is Debian's OpenSSH server on a loopback port with its own host
// key and config, accepting e's key.
type realSSHD struct {
	addr    string
	hostKey ssh.PublicKey
	stderr  func() string
}

func startRealSSHD(t *testing.T, e *env) *realSSHD {
	t.Helper()
	if os.Getenv("SWARMCTL_SKIP_REAL_SSHD") == "1" {
		t.Skip("SWARMCTL_SKIP_REAL_SSHD=1: test against the real OpenSSH server skipped")
	}
	if _, err := os.Stat(sshdPath); err != nil {
		t.Fatalf("%s not found: install openssh-server (apt-get install openssh-server) or set SWARMCTL_SKIP_REAL_SSHD=1 to skip this test", sshdPath)
	}
	if os.Geteuid() != 0 {
		t.Fatal("the real sshd test runs sshd as root (privilege separation); run as root or set SWARMCTL_SKIP_REAL_SSHD=1")
	}
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.dir, "sshd")
	os.MkdirAll(dir, 0o700)
	hostKey := filepath.Join(dir, "host_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pubBytes, _ := os.ReadFile(hostKey + ".pub")
	pub, _, _, _, err := ssh.ParseAuthorizedKey(pubBytes)
	if err != nil {
		t.Fatal(err)
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	os.WriteFile(authKeys, ssh.MarshalAuthorizedKey(e.signer.PublicKey()), 0o600)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := filepath.Join(dir, "sshd_config")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
LogLevel ERROR
`, port, hostKey, filepath.Join(dir, "sshd.pid"), authKeys)), 0o600)

	logFile := filepath.Join(dir, "sshd.log")
	logf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfg)
	cmd.Stderr = logf // a file, not a pipe: session children inherit it
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	stderr := func() string { b, _ := os.ReadFile(logFile); return string(b) }
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("sshd exited: %s", stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s: %s", addr, stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &realSSHD{addr: addr, hostKey: pub, stderr: stderr}
}

func TestRealSSHD(t *testing.T) {
	e := newEnv(t)
	d := startRealSSHD(t, e)
	_, portS, _ := net.SplitHostPort(d.addr)
	port, _ := strconv.Atoi(portS)
	tg := Target{Name: "real", Host: "127.0.0.1", Port: port, User: "root", KeyFiles: []string{e.key}}
	line := knownhosts.Line([]string{knownhosts.Normalize(d.addr)}, d.hostKey)
	os.WriteFile(e.known, []byte(line+"\n"), 0o600)
	ctx := context.Background()

	h, err := Dial(ctx, tg, e.opts)
	if err != nil {
		t.Fatalf("%v\nsshd: %s", err, d.stderr())
	}
	defer h.Close()

	marker := filepath.Join(e.dir, "pwned")
	hostile := "$(touch " + marker + "); 'quoted' \"dq\"\n`touch " + marker + "` *"
	out, err := h.Run(ctx, Cmd{Args: []string{"printf", "%s", hostile}})
	if err != nil || string(out.Stdout) != hostile {
		t.Fatalf("%q %v", out.Stdout, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("hostile argument executed by the real shell")
	}
	_, err = h.Run(ctx, Cmd{Args: []string{"sh", "-c", "echo bad >&2; exit 7"}})
	var xe *ExitError
	if !errors.As(err, &xe) || xe.Status != 7 || string(xe.Stderr) != "bad\n" {
		t.Fatalf("err = %v", err)
	}

	// Files over the real sftp-server (fsync@openssh.com, posix-rename).
	real := filepath.Join(e.dir, "etc", "docker")
	os.MkdirAll(real, 0o755)
	target := filepath.Join(real, "daemon.json")
	os.WriteFile(target, []byte("{}"), 0o600)
	os.Chown(target, 4321, 4321)
	link := filepath.Join(e.dir, "daemon.json")
	os.Symlink(target, link)
	if err := h.WriteFile(ctx, link, []byte(`{"experimental": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := h.ReadFile(ctx, link)
	if err != nil || string(got) != `{"experimental": true}` {
		t.Fatalf("%q %v", got, err)
	}
	st, _ := os.Stat(target)
	if st.Mode().Perm() != 0o600 || st.Sys() == nil {
		t.Fatalf("mode %v", st.Mode())
	}
	if fi, _ := os.Lstat(link); fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatal("symlink replaced")
	}
	assertNoTemps(t, "real", real)
	if _, err := h.ReadFile(ctx, filepath.Join(e.dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}

	// Cancel a long command promptly.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	_, err = h.Run(cctx, Cmd{Args: []string{"sleep", "30"}})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("cancel: %v after %v", err, time.Since(start))
	}

	// A lock held by a connection that goes away is released.
	name := fmt.Sprintf("real-%d", time.Now().UnixNano())
	if _, err := h.Lock(ctx, name); err != nil {
		t.Fatal(err)
	}
	h2, err := Dial(ctx, tg, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = h2.Lock(wctx, name)
	cancel()
	var busy *LockBusyError
	if !errors.As(err, &busy) {
		t.Fatalf("second lock: %v", err)
	}
	h.Close()
	// Generous: on a loaded machine starting a session alone took seconds.
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	u, err := h2.Lock(wctx, name)
	if err != nil {
		t.Fatalf("lock not released when its connection closed: %v", err)
	}
	u()
}

func TestRealSSHDChangedHostKey(t *testing.T) {
	e := newEnv(t)
	d := startRealSSHD(t, e)
	_, portS, _ := net.SplitHostPort(d.addr)
	port, _ := strconv.Atoi(portS)
	other, _ := ssh.NewSignerFromKey(mustEd25519(t))
	os.WriteFile(e.known, []byte(knownhosts.Line([]string{knownhosts.Normalize(d.addr)}, other.PublicKey())+"\n"), 0o600)
	_, err := Dial(context.Background(), Target{Host: "127.0.0.1", Port: port, User: "root", KeyFiles: []string{e.key}}, e.opts)
	var hk *HostKeyError
	if !errors.As(err, &hk) || !hk.Changed {
		t.Fatalf("err = %v", err)
	}
	fp := ssh.FingerprintSHA256(d.hostKey)
	if hk.Fingerprint != fp || !strings.Contains(err.Error(), fp) || !bytes.Contains([]byte(err.Error()), []byte(e.known)) {
		t.Fatalf("err = %v (want %s)", err, fp)
	}
}
