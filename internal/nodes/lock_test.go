package nodes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLockContention(t *testing.T) {
	e := newEnv(t)
	s := e.server(t)
	name := fmt.Sprintf("test-%d", time.Now().UnixNano())
	h1 := e.dial(t, e.target(s))
	h2 := e.dial(t, e.target(s))
	ctx := context.Background()

	unlock1, err := h1.Lock(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	// A second run waits, then fails clearly.
	wctx, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	start := time.Now()
	_, err = h2.Lock(wctx, name)
	cancel()
	var busy *LockBusyError
	if !errors.As(err, &busy) || !strings.Contains(err.Error(), "another swarmctl run holds the lock") || !strings.Contains(err.Error(), "node1") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 10*time.Second {
		t.Fatalf("waited %v", d)
	}

	// A waiter gets the lock as soon as it is released.
	got := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		u, err := h2.Lock(wctx, name)
		if err == nil {
			err = u()
		}
		got <- err
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("second locker got through while the lock was held: %v", err)
	default:
	}
	if err := unlock1(); err != nil {
		t.Fatal(err)
	}
	if err := unlock1(); err != nil {
		t.Fatal("second unlock:", err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("lock not handed over after unlock")
	}
}

// TestLockReleasedOnDrop: a swarmctl that dies (its connection drops
// without unlock) leaves no stale lock.
func TestLockReleasedOnDrop(t *testing.T) {
	e := newEnv(t)
	s := e.server(t)
	name := fmt.Sprintf("drop-%d", time.Now().UnixNano())
	h1 := e.dial(t, e.target(s))
	if _, err := h1.Lock(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	s.DropAll()
	h2 := e.dial(t, e.target(s))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := h2.Lock(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	u()
}

func TestLockName(t *testing.T) {
	e := newEnv(t)
	s := e.server(t)
	h := e.dial(t, e.target(s))
	for _, bad := range []string{"", "../x", "a b", "$(x)"} {
		if _, err := h.Lock(context.Background(), bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLockViaSudo(t *testing.T) {
	e := newEnv(t)
	log := fakeSudo(t, e)
	s := e.server(t)
	tg := e.target(s)
	tg.User, tg.Sudo = "deploy", true
	h := e.dial(t, tg)
	u, err := h.Lock(context.Background(), fmt.Sprintf("sudo-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	if err := u(); err != nil {
		t.Fatal(err)
	}
	if x := s.Execs(); !strings.HasPrefix(x[0].Command, "sudo -n -- sh -c ") || !strings.Contains(x[0].Command, "flock") {
		t.Fatalf("execs %+v", x)
	}
	if called, _ := os.ReadFile(log); !strings.Contains(string(called), "flock -E 75") {
		t.Fatalf("sudo calls %q", called)
	}
}

// The lock lives in a directory only its user (root) can write, 0700:
// in world-writable /run/lock any user could hold the lock forever or
// plant a link. A directory that is a link, belongs to someone else or is
// open to others is refused, not used.
func TestLockDirectoryIsPrivate(t *testing.T) {
	e := newEnv(t)
	s := e.server(t)
	h := e.dial(t, e.target(s))
	old := lockDir
	t.Cleanup(func() { lockDir = old })
	ctx := context.Background()

	lockDir = filepath.Join(e.dir, "run", "swarmctl")
	os.MkdirAll(filepath.Dir(lockDir), 0o755)
	unlock, err := h.Lock(ctx, "configure")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	st, err := os.Lstat(lockDir)
	if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Fatalf("lock directory %v %v, want a 0700 directory", st, err)
	}
	if _, err := os.Stat(filepath.Join(lockDir, "configure.lock")); err != nil {
		t.Errorf("no lock file in it: %v", err)
	}

	for name, setup := range map[string]func(d string){
		"world-writable": func(d string) { os.MkdirAll(d, 0o755); os.Chmod(d, 0o1777) },
		"a link":         func(d string) { os.MkdirAll(d+".target", 0o700); os.Symlink(d+".target", d) },
		"someone else's": func(d string) { os.MkdirAll(d, 0o700); os.Chown(d, 65534, 65534) },
	} {
		lockDir = filepath.Join(e.dir, "bad-"+strings.ReplaceAll(name, " ", "-"))
		setup(lockDir)
		_, err := h.Lock(ctx, "configure")
		if err == nil || !strings.Contains(err.Error(), "refusing to take the lock there") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
