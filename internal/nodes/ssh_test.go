package nodes

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/swarmctl/swarmctl/internal/nodes/sshtest"
)

// testKey writes a fresh ed25519 key to dir and returns its path and signer.
// A non-empty passphrase encrypts the file.
func testKey(t *testing.T, dir, name, passphrase string) (string, ssh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var blk *pem.Block
	if passphrase == "" {
		blk, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		blk, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return p, s
}

// env is a hermetic client environment: HOME in a temp dir, no agent, no
// ssh_config, a known_hosts file and a key the server accepts.
type env struct {
	dir     string
	key     string
	signer  ssh.Signer
	known   string
	warn    *syncBuffer
	logs    *syncBuffer
	opts    DialOptions
	srvConf sshtest.Config
}

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

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("SSH_AUTH_SOCK", "")
	e := &env{dir: dir, known: filepath.Join(dir, "known_hosts"), warn: &syncBuffer{}, logs: &syncBuffer{}}
	e.key, e.signer = testKey(t, dir, "id_test", "")
	e.srvConf = sshtest.Config{AuthorizedKeys: []ssh.PublicKey{e.signer.PublicKey()}}
	e.opts = DialOptions{
		KnownHostsFiles: []string{e.known},
		SSHConfigPath:   "none",
		ConnectTimeout:  30 * time.Second, // the test machine can be heavily loaded
		Warn:            e.warn,
		Log: func(f string, a ...any) {
			e.logs.Write([]byte(strings.TrimSpace(fmtSprintf(f, a...)) + "\n"))
		},
	}
	return e
}

// server starts a test server whose key is recorded in known_hosts.
func (e *env) server(t *testing.T) *sshtest.Server {
	t.Helper()
	s := sshtest.Start(t, e.srvConf)
	e.trust(t, s)
	return s
}

func (e *env) trust(t *testing.T, s *sshtest.Server) {
	t.Helper()
	f, err := os.OpenFile(e.known, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s.KnownHostsLine() + "\n"); err != nil {
		t.Fatal(err)
	}
}

func (e *env) target(s *sshtest.Server) Target {
	return Target{Name: "node1", Host: s.Host(), Port: s.Port(), User: "root", KeyFiles: []string{e.key}}
}

func (e *env) dial(t *testing.T, tg Target) *SSHHost {
	t.Helper()
	h, err := Dial(context.Background(), tg, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestDialRunKeyFile(t *testing.T) {
	e := newEnv(t)
	s := e.server(t)
	h := e.dial(t, e.target(s))
	if h.Name() != "node1" || h.Addr() != s.Addr() || h.User() != "root" || !h.IsRoot() {
		t.Fatalf("name=%q addr=%q user=%q root=%v", h.Name(), h.Addr(), h.User(), h.IsRoot())
	}
	out, err := h.Run(context.Background(), Cmd{Args: []string{"sh", "-c", "echo out; echo err >&2; cat", "x"}, Stdin: []byte("in")})
	if err != nil {
		t.Fatal(err)
	}
	if string(out.Stdout) != "out\nin" || string(out.Stderr) != "err\n" {
		t.Fatalf("stdout %q stderr %q", out.Stdout, out.Stderr)
	}
	// The same connection serves every command.
	for i := 0; i < 3; i++ {
		if _, err := h.Run(context.Background(), Cmd{Args: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.Users()); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

func TestRunExitError(t *testing.T) {
	e := newEnv(t)
	s := e.server(t)
	h := e.dial(t, e.target(s))
	_, err := h.Run(context.Background(), Cmd{Script: Script{name: "token.sh", text: `echo "token $1" >&2; exit 3`}, ScriptArgs: []string{"s3cret"}, Redact: []string{"s3cret"}})
	var xe *ExitError
	if !errors.As(err, &xe) {
		t.Fatalf("err = %v, want *ExitError", err)
	}
	if xe.Status != 3 || xe.Host != "node1" || string(xe.Stderr) != "token s3cret\n" {
		t.Fatalf("%+v", xe)
	}
	if strings.Contains(xe.Command, "s3cret") || !strings.Contains(xe.Command, "***") {
		t.Fatalf("command not redacted: %q", xe.Command)
	}
	if strings.Contains(e.logs.String(), "s3cret") || !strings.Contains(e.logs.String(), "node1: sh -c") {
		t.Fatalf("log: %q", e.logs.String())
	}
}

func TestHostileArgsRoundTrip(t *testing.T) {
	e := newEnv(t)
	s := e.server(t)
	h := e.dial(t, e.target(s))
	marker := filepath.Join(e.dir, "pwned")
	hostile := []string{
		"$(touch " + marker + ")",
		"`touch " + marker + "`",
		"; touch " + marker,
		"a'b\"c",
		"line1\nline2",
		"  spaces  ",
		"&& touch " + marker + " ||",
		"$HOME",
		"*",
		"",
		"-n",
	}
	for _, a := range hostile {
		out, err := h.Run(context.Background(), Cmd{Args: []string{"printf", "%s", a}})
		if err != nil {
			t.Fatalf("%q: %v", a, err)
		}
		if string(out.Stdout) != a {
			t.Errorf("echoed %q, want %q", out.Stdout, a)
		}
		out, err = h.Run(context.Background(), Cmd{Script: Script{name: "print.sh", text: `printf %s "$1"`}, ScriptArgs: []string{a}})
		if err != nil || string(out.Stdout) != a {
			t.Errorf("script arg %q: got %q, %v", a, out.Stdout, err)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a hostile argument was executed")
	}
}

func TestHostKeyStrict(t *testing.T) {
	e := newEnv(t)
	s := sshtest.Start(t, e.srvConf)

	// Unknown: refused, with fingerprint, file and advice.
	_, err := Dial(context.Background(), e.target(s), e.opts)
	var hk *HostKeyError
	if !errors.As(err, &hk) || hk.Changed {
		t.Fatalf("err = %v, want unknown *HostKeyError", err)
	}
	fp := ssh.FingerprintSHA256(s.HostKey())
	for _, want := range []string{fp, "ssh-ed25519", s.Addr(), e.known, "ssh-keyscan -p " + strconv.Itoa(s.Port()) + " 127.0.0.1", "accept-new"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := os.Stat(e.known); err == nil {
		t.Fatal("strict policy wrote known_hosts")
	}

	// Changed: another key recorded for the address.
	other, _ := sshtest.NewSigner()
	line := strings.Replace(s.KnownHostsLine(), string(ssh.MarshalAuthorizedKey(s.HostKey())[:len(ssh.MarshalAuthorizedKey(s.HostKey()))-1]), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other.PublicKey()))), 1)
	if err := os.WriteFile(e.known, []byte("# comment\n"+line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Dial(context.Background(), e.target(s), e.opts)
	if !errors.As(err, &hk) || !hk.Changed {
		t.Fatalf("err = %v, want changed *HostKeyError", err)
	}
	if !strings.Contains(err.Error(), fp) || !strings.Contains(err.Error(), "CHANGED") || !strings.Contains(err.Error(), e.known+":2") {
		t.Fatalf("error %q", err)
	}

	// Known: accepted.
	if err := os.WriteFile(e.known, []byte(s.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := e.dial(t, e.target(s))
	if _, err := h.Run(context.Background(), Cmd{Args: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
}

func TestHostKeyAcceptNew(t *testing.T) {
	e := newEnv(t)
	e.opts.HostKeyPolicy = HostKeyAcceptNew
	e.known = filepath.Join(e.dir, "sub", "known_hosts") // created on demand
	e.opts.KnownHostsFiles = []string{e.known, filepath.Join(e.dir, "other_known_hosts")}
	s := sshtest.Start(t, e.srvConf)

	// Parallel first contacts record the key exactly once.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := Dial(context.Background(), e.target(s), e.opts)
			if err == nil {
				h.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(e.known)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(data), "\n"); got != 1 || strings.TrimSpace(string(data)) != s.KnownHostsLine() {
		t.Fatalf("known_hosts = %q", data)
	}
	if st, _ := os.Stat(e.known); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if !strings.Contains(e.warn.String(), "Permanently added") {
		t.Fatalf("warn: %q", e.warn.String())
	}

	// A new server with a different key on the same address is refused.
	addr := s.Addr()
	s.Close()
	ln := listenOn(t, addr)
	s2 := sshtest.Start(t, sshtest.Config{AuthorizedKeys: e.srvConf.AuthorizedKeys, Listener: ln})
	_, err = Dial(context.Background(), e.target(s2), e.opts)
	var hk *HostKeyError
	if !errors.As(err, &hk) || !hk.Changed || hk.Fingerprint != ssh.FingerprintSHA256(s2.HostKey()) {
		t.Fatalf("err = %v, want changed key refused", err)
	}
	data2, _ := os.ReadFile(e.known)
	if !bytes.Equal(data, data2) {
		t.Fatalf("known_hosts changed: %q", data2)
	}
}

func TestHostKeyInsecure(t *testing.T) {
	e := newEnv(t)
	e.opts.HostKeyPolicy = HostKeyInsecure
	s := sshtest.Start(t, e.srvConf)
	for i := 0; i < 2; i++ {
		h := e.dial(t, e.target(s))
		h.Close()
	}
	w := e.warn.String()
	if strings.Count(w, "WARNING") != 1 || !strings.Contains(w, ssh.FingerprintSHA256(s.HostKey())) {
		t.Fatalf("warnings: %q", w)
	}
	if _, err := os.Stat(e.known); err == nil {
		t.Fatal("insecure policy wrote known_hosts")
	}
	e.opts.HostKeyPolicy = "yolo"
	if _, err := Dial(context.Background(), e.target(s), e.opts); err == nil || !strings.Contains(err.Error(), "yolo") {
		t.Fatalf("bad policy: %v", err)
	}
}

func fmtSprintf(f string, a ...any) string { return fmt.Sprintf(f, a...) }

func listenOn(t *testing.T, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(err)
	return nil
}

func sshtestStartUntrusted(t *testing.T, e *env) *sshtest.Server {
	return sshtest.Start(t, e.srvConf)
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

func mustEd25519(t *testing.T) ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// A fleet's known_hosts holds a line per node: it is parsed once for all
// the dials of a run, and again only when it changed.
func TestKnownHostsParsedOncePerChange(t *testing.T) {
	e := newEnv(t)
	s1, s2 := e.server(t), sshtest.Start(t, e.srvConf)
	c := &hostKeyChecker{policy: HostKeyStrict, files: []string{e.known}}
	before := knownHostsCache.parses
	for i := 0; i < 5; i++ {
		if _, err := c.callback(); err != nil {
			t.Fatal(err)
		}
		c.algorithms(s1.Addr())
	}
	if n := knownHostsCache.parses - before; n != 1 {
		t.Errorf("parsed %d times for 10 lookups of an unchanged file", n)
	}
	f, err := os.OpenFile(e.known, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(s2.KnownHostsLine() + "\n")
	f.Close()
	cb, err := c.callback()
	if err != nil {
		t.Fatal(err)
	}
	if err := cb(s2.Addr(), fakeAddr(s2.Addr()), s2.HostKey()); err != nil {
		t.Errorf("a line appended since the last parse is not seen: %v", err)
	}
	if n := knownHostsCache.parses - before; n != 2 {
		t.Errorf("parsed %d times, want 2 (the file changed once)", n)
	}
}

// At first contact the ed25519 host key is asked for first, as OpenSSH
// does, so the key shown and recorded is the one people compare.
func TestFirstContactPrefersEd25519(t *testing.T) {
	e := newEnv(t)
	e.opts.HostKeyPolicy = HostKeyAcceptNew
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecSigner, err := ssh.NewSignerFromKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.srvConf
	cfg.MoreHostKeys = []ssh.Signer{ecSigner} // the server offers ecdsa and ed25519
	s := sshtest.Start(t, cfg)
	h, err := Dial(context.Background(), e.target(s), e.opts)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	data, _ := os.ReadFile(e.known)
	if strings.TrimSpace(string(data)) != s.KnownHostsLine() || !strings.Contains(string(data), "ssh-ed25519") {
		t.Errorf("recorded %q, want the ed25519 key", data)
	}
}
