package nodes

import (
	"context"
	"fmt"
	"time"
)

// Default deadlines of remote steps (see Step). Steps that wait for
// docker or the swarm on purpose get their wait (--timeout) plus
// StepMargin.
const (
	// DefaultStepTimeout bounds a step that answers at once on a healthy
	// node (the facts command, the member list, a backup, a write, a
	// reload, the journal), with room for a node under heavy load: such
	// a step was seen taking over 30 s on a lab host at load 90.
	DefaultStepTimeout = 2 * time.Minute
	// StepMargin is added to a step's own wait (--timeout).
	StepMargin = time.Minute
)

type stepTimeoutKey struct{}

// WithStepTimeout returns ctx carrying d as the deadline of every remote
// step started under it, in place of each step's default (0 keeps the
// defaults). The CLI sets it from --step-timeout.
func WithStepTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, stepTimeoutKey{}, d)
}

// Step bounds one remote step named name: ctx ends after def, or after the
// override WithStepTimeout put in ctx. A command cut off by it fails with
// a *StepTimeoutError (context.Cause), so a node that never answers
// (docker info hung, systemctl restart stuck) fails that step instead of
// holding the run forever.
func Step(ctx context.Context, name string, def time.Duration) (context.Context, context.CancelFunc) {
	d, set := def, false
	if o, ok := ctx.Value(stepTimeoutKey{}).(time.Duration); ok && o > 0 {
		d, set = o, true
	}
	return context.WithTimeoutCause(ctx, d, &StepTimeoutError{Step: name, After: d, Flag: set})
}

// StepTimeoutError is a remote step that did not finish within its
// deadline.
type StepTimeoutError struct {
	Step  string
	After time.Duration
	Flag  bool // the deadline came from --step-timeout
}

func (e *StepTimeoutError) Error() string {
	how := "its default deadline; --step-timeout changes it"
	if e.Flag {
		how = "--step-timeout"
	}
	return fmt.Sprintf("%s: no answer within %s (%s)", e.Step, e.After, how)
}

// Unwrap makes a step timeout a context.DeadlineExceeded too.
func (e *StepTimeoutError) Unwrap() error { return context.DeadlineExceeded }

// cause is why ctx ended: the step timeout that cut it, or ctx.Err().
func cause(ctx context.Context) error {
	if c := context.Cause(ctx); c != nil {
		return c
	}
	return ctx.Err()
}
