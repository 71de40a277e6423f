package nodes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultLockWait is how long Lock waits for another run's lock when ctx
// has no deadline.
const DefaultLockWait = 60 * time.Second

// lockBusyStatus is flock's exit status when the wait times out.
const lockBusyStatus = 75

// lockScript holds the node-wide lock for as long as its stdin is open.
var lockScript = MustScript(scriptFiles, "scripts/lock.sh")

// lockDir is where root keeps the node locks (a variable for tests): a
// directory only root may write (see lock.sh).
var lockDir = "/run/swarmctl"

var lockNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// LockBusyError is a lock another swarmctl run held for the whole wait.
type LockBusyError struct {
	Host, Name string
	Waited     time.Duration
}

func (e *LockBusyError) Error() string {
	return fmt.Sprintf("%s: another swarmctl run holds the lock %q on this node (waited %s); wait for it to finish and retry", e.Host, e.Name, e.Waited.Round(100*time.Millisecond))
}

// Lock takes the node-wide lock name (its errors leave naming the node to
// the caller, except LockBusyError and SudoPasswordError, which carry it), waiting until ctx's deadline (or
// DefaultLockWait). It is released by unlock, by Close, or when the
// connection drops.
func (h *SSHHost) Lock(ctx context.Context, name string) (func() error, error) {
	if !lockNameRE.MatchString(name) {
		return nil, fmt.Errorf("lock name %q: want letters, digits, '.', '_' or '-'", name)
	}
	wait := DefaultLockWait
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl) - 100*time.Millisecond // let flock report first
		if wait < 0 {
			wait = 0
		}
	}
	c := Cmd{Script: lockScript, ScriptArgs: []string{name, strconv.FormatFloat(wait.Seconds(), 'f', 1, 64), lockDir}, Sudo: true}
	line := CommandLine(c, h.privileged())
	h.logf("%s: %s", h.name, line)
	NoteScript(ctx, c)

	sess, err := h.cl.NewSession()
	if err != nil {
		return nil, fmt.Errorf("lock: open session: %w", err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	var stderr strings.Builder
	var stderrMu sync.Mutex
	sess.Stderr = writerFunc(func(p []byte) (int, error) {
		stderrMu.Lock()
		defer stderrMu.Unlock()
		if stderr.Len() < 4096 {
			stderr.Write(p)
		}
		return len(p), nil
	})
	if err := sess.Start(line); err != nil {
		sess.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	start := time.Now()
	got := make(chan error, 1)
	go func() {
		l, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && l != "locked\n" {
			err = fmt.Errorf("unexpected output %q", l)
		}
		if err == nil {
			go io.Copy(io.Discard, stdout) //nolint:errcheck // keep the channel drained
		}
		got <- err
	}()
	select {
	case <-ctx.Done():
		sess.Signal(ssh.SIGKILL) //nolint:errcheck
		sess.Close()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The wait ran out before flock's own timeout reported it.
			return nil, &LockBusyError{Host: h.name, Name: name, Waited: time.Since(start)}
		}
		return nil, ctx.Err()
	case err = <-got:
	}
	if err != nil {
		werr := sess.Wait()
		sess.Close()
		var ee *ssh.ExitError
		if errors.As(werr, &ee) {
			stderrMu.Lock()
			msg := stderr.String()
			stderrMu.Unlock()
			if ee.ExitStatus() == lockBusyStatus {
				return nil, &LockBusyError{Host: h.name, Name: name, Waited: time.Since(start)}
			}
			xe := &ExitError{Host: h.name, Command: line, Status: ee.ExitStatus(), Stderr: []byte(msg)}
			if !h.privileged() && sudoWantsPassword(xe.Stderr) {
				return nil, &SudoPasswordError{Host: h.name, User: h.user, Err: xe}
			}
			return nil, fmt.Errorf("lock: %w", xe)
		}
		return nil, fmt.Errorf("lock: %w", err)
	}
	var once sync.Once
	var uerr error
	unlock := func() error {
		once.Do(func() {
			stdin.Close()
			done := make(chan error, 1)
			go func() { done <- sess.Wait() }()
			select {
			case err := <-done:
				var ee *ssh.ExitError
				if err != nil && !errors.As(err, &ee) && !errors.Is(err, io.EOF) {
					var me *ssh.ExitMissingError
					if !errors.As(err, &me) {
						uerr = fmt.Errorf("unlock: %w", err)
					}
				}
			case <-time.After(5 * time.Second):
				// The remote did not exit: closing the channel still ends cat.
			}
			sess.Close()
		})
		return uerr
	}
	return unlock, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
