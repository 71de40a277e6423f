package nodes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A command that never answers is cut off at its step's deadline: Run
// returns a *StepTimeoutError naming the step, instead of waiting forever.
func TestRunStopsAtStepDeadline(t *testing.T) {
	e, hosts := fileHosts(t)
	_ = e
	for via, h := range hosts {
		ctx, cancel := Step(WithStepTimeout(context.Background(), 300*time.Millisecond), "docker info", DefaultStepTimeout)
		start := time.Now()
		_, err := h.Run(ctx, Cmd{Args: []string{"sleep", "30"}})
		cancel()
		var te *StepTimeoutError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), "docker info: no answer within 300ms (--step-timeout)") {
			t.Errorf("%s: err = %v", via, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: returned after %s", via, d)
		}
		// The connection still works for the next step.
		if out, err := h.Run(context.Background(), Cmd{Args: []string{"echo", "ok"}}); err != nil || strings.TrimSpace(string(out.Stdout)) != "ok" {
			t.Errorf("%s: next command: %q %v", via, out.Stdout, err)
		}
	}
}

// Without --step-timeout a step gets its own default.
func TestStepDefaultAndOverride(t *testing.T) {
	ctx, cancel := Step(context.Background(), "restart", 5*time.Minute)
	defer cancel()
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) < 4*time.Minute {
		t.Errorf("default deadline %v", dl)
	}
	ctx2, cancel2 := Step(WithStepTimeout(context.Background(), time.Second), "restart", 5*time.Minute)
	defer cancel2()
	if dl, _ := ctx2.Deadline(); time.Until(dl) > 2*time.Second {
		t.Errorf("--step-timeout ignored: %v", dl)
	}
}

// A reading over SFTP that never ends (here a FIFO nobody writes) is cut
// off too: SFTP takes no context, so the client is closed, and the next
// read starts a new one.
func TestSFTPReadStopsAtStepDeadline(t *testing.T) {
	e, hosts := fileHosts(t)
	h := hosts["sftp"]
	fifo := filepath.Join(e.dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := Step(WithStepTimeout(context.Background(), 300*time.Millisecond), "read back", DefaultStepTimeout)
	start := time.Now()
	_, err := h.ReadFile(ctx, fifo)
	cancel()
	var te *StepTimeoutError
	if !errors.As(err, &te) || time.Since(start) > 10*time.Second {
		t.Errorf("err = %v after %s", err, time.Since(start))
	}
	// Let the server side's open of the FIFO finish.
	if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Close()
	}
	p := filepath.Join(e.dir, "after")
	os.WriteFile(p, []byte("x"), 0o600)
	if b, err := h.ReadFile(context.Background(), p); err != nil || string(b) != "x" {
		t.Errorf("next read: %q %v", b, err)
	}
}

// What a node prints is capped (MaxOutput): a command printing without
// end, or a huge file, is refused instead of filling memory.
func TestRunAndReadCapOutput(t *testing.T) {
	e, hosts := fileHosts(t)
	big := filepath.Join(e.dir, "big")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxOutput+1); err != nil {
		t.Fatal(err)
	}
	for via, h := range hosts {
		var le *OutputLimitError
		if _, err := h.Run(context.Background(), Cmd{Args: []string{"yes", "swarmctl"}}); !errors.As(err, &le) {
			t.Errorf("%s: endless output: %v", via, err)
		}
		if _, err := h.ReadFile(context.Background(), big); !errors.As(err, &le) {
			t.Errorf("%s: huge file: %v", via, err)
		}
	}
}
