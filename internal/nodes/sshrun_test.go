package nodes

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/internal/nodes/sshtest"
)

// fakeSudo puts a recording `sudo` on the server's PATH (see
// sshtest.FakeSudo) and returns its log file.
func fakeSudo(t *testing.T, e *env) (logFile string) {
	t.Helper()
	pathEnv, logFile := sshtest.FakeSudo(t, e.dir)
	e.srvConf.Env = append(e.srvConf.Env, pathEnv)
	return logFile
}

func TestSudoWrapping(t *testing.T) {
	e := newEnv(t)
	log := fakeSudo(t, e)
	s := e.server(t)
	tg := e.target(s)
	tg.User, tg.Sudo = "deploy", true
	h := e.dial(t, tg)
	if h.IsRoot() {
		t.Fatal("deploy is root?")
	}
	ctx := context.Background()
	out, err := h.Run(ctx, Cmd{Args: []string{"echo", "a b"}, Sudo: true})
	if err != nil || string(out.Stdout) != "a b\n" {
		t.Fatalf("%q %v", out.Stdout, err)
	}
	if _, err := h.Run(ctx, Cmd{Args: []string{"echo", "plain"}}); err != nil {
		t.Fatal(err)
	}
	execs := s.Execs()
	if execs[0].Command != "sudo -n -- echo 'a b'" || execs[1].Command != "echo plain" || execs[0].User != "deploy" {
		t.Fatalf("execs %+v", execs)
	}
	logged, _ := os.ReadFile(log)
	if string(logged) != "-n -- echo a b\n" {
		t.Fatalf("sudo calls %q", logged)
	}

	// Root needs no sudo; neither does a target without Sudo.
	h2 := e.dial(t, e.target(s))
	h2.Run(ctx, Cmd{Args: []string{"id"}, Sudo: true})
	tg.Sudo = false
	h3 := e.dial(t, tg)
	h3.Run(ctx, Cmd{Args: []string{"id"}, Sudo: true})
	execs = s.Execs()
	if execs[2].Command != "id" || execs[3].Command != "id" {
		t.Fatalf("execs %+v", execs[2:])
	}
}

func TestSudoNeedsPassword(t *testing.T) {
	e := newEnv(t)
	fakeSudo(t, e)
	e.srvConf.Env = append(e.srvConf.Env, "FAKE_SUDO_PASSWORD=1")
	s := e.server(t)
	tg := e.target(s)
	tg.User, tg.Sudo = "deploy", true
	h := e.dial(t, tg)
	_, err := h.Run(context.Background(), Cmd{Args: []string{"true"}, Sudo: true})
	var se *SudoPasswordError
	var xe *ExitError
	if !errors.As(err, &se) || !errors.As(err, &xe) {
		t.Fatalf("err = %v", err)
	}
	want := "node1: sudo needs a password for user deploy; configure NOPASSWD for swarmctl's commands or connect as root"
	if err.Error() != want {
		t.Fatalf("err = %q", err)
	}
	_, err = h.ReadFile(context.Background(), "/etc/hostname")
	if !errors.As(err, &se) {
		t.Fatalf("ReadFile err = %v", err)
	}
}

func TestConnectTimeout(t *testing.T) {
	e := newEnv(t)
	e.srvConf.Silent = true
	s := sshtest.Start(t, e.srvConf)
	e.opts.ConnectTimeout = 300 * time.Millisecond
	start := time.Now()
	_, err := Dial(context.Background(), e.target(s), e.opts)
	took := time.Since(start)
	// The error names the address; the caller adds the node's name.
	if err == nil || !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), s.Addr()) {
		t.Fatalf("err = %v", err)
	}
	if took < 250*time.Millisecond || took > 2*time.Second {
		t.Fatalf("took %v for a 300ms timeout", took)
	}

	// The caller's context bounds the dial too.
	e.opts.ConnectTimeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := Dial(ctx, e.target(s), e.opts); err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}

	// Connection refused fails at once with the address.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	tg := e.target(s)
	tg.Port = addr.Port
	if _, err := Dial(context.Background(), tg, e.opts); err == nil || !strings.Contains(err.Error(), addr.String()) {
		t.Fatalf("err = %v", err)
	}
}

func TestRunCancel(t *testing.T) {
	e := newEnv(t)
	s := e.server(t)
	h := e.dial(t, e.target(s))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := h.Run(ctx, Cmd{Args: []string{"sleep", "30"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	// The connection is still usable.
	if out, err := h.Run(context.Background(), Cmd{Args: []string{"echo", "ok"}}); err != nil || string(out.Stdout) != "ok\n" {
		t.Fatalf("%q %v", out.Stdout, err)
	}
}

func TestKeepAliveClosesDeadConnection(t *testing.T) {
	e := newEnv(t)
	e.srvConf.IgnoreKeepAlive = true
	s := e.server(t)
	e.opts.KeepAlive = 100 * time.Millisecond
	h := e.dial(t, e.target(s))
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, err := h.Run(context.Background(), Cmd{Args: []string{"true"}}); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("connection with unanswered keepalives still open")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(e.logs.String(), "keepalive failed") {
		t.Fatalf("log %q", e.logs.String())
	}

	// Answered keepalives keep it open.
	e2 := newEnv(t)
	s2 := e2.server(t)
	e2.opts.KeepAlive = 50 * time.Millisecond
	h2 := e2.dial(t, e2.target(s2))
	time.Sleep(400 * time.Millisecond)
	if _, err := h2.Run(context.Background(), Cmd{Args: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
}

// A name under .invalid fails at once as "no such host", without a DNS query.
func TestDialInvalidTLDNeverResolves(t *testing.T) {
	for _, h := range []string{"node.invalid", "NODE.Invalid.", "invalid"} {
		if !isInvalidTLD(h) {
			t.Errorf("%s: not recognised as .invalid", h)
		}
	}
	for _, h := range []string{"invalid.example.com", "10.0.0.1", "node.invalidx"} {
		if isInvalidTLD(h) {
			t.Errorf("%s: wrongly taken for .invalid", h)
		}
	}
	e := newEnv(t)
	s := sshtest.Start(t, e.srvConf)
	tg := e.target(s)
	tg.Host, tg.Port = "node.invalid", 22
	start := time.Now()
	_, err := Dial(context.Background(), tg, e.opts)
	if err == nil || !strings.Contains(err.Error(), "no such host") || time.Since(start) > time.Second {
		t.Errorf("dial node.invalid: %v after %s", err, time.Since(start))
	}
}
