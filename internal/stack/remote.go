package stack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// commandBudget bounds each command on the manager (nodes.Step, named
// after the command; --step-timeout overrides it).
const commandBudget = nodes.DefaultStepTimeout

// run runs a docker (or other) command as root on the manager and wraps a
// failure with the command, so errors say what failed where.
func run(ctx context.Context, h nodes.Host, args ...string) (string, error) {
	ctx, cancel := nodes.Step(ctx, strings.Join(args[:min(len(args), 3)], " "), commandBudget)
	defer cancel()
	out, err := h.Run(ctx, nodes.Cmd{Args: args, Sudo: true})
	if err != nil {
		return string(out.Stdout), fmt.Errorf("%s: %s: %w", h.Name(), strings.Join(args[:min(len(args), 3)], " "), nodes.Unnamed(h.Name(), err))
	}
	return string(out.Stdout), nil
}

// exitStatus reports whether err is a command that ran and failed, with its
// combined output lowercased for matching docker's messages.
func exitStatus(err error) (msg string, ok bool) {
	var ee *nodes.ExitError
	if errors.As(err, &ee) {
		return strings.ToLower(string(ee.Stderr) + string(ee.Stdout)), true
	}
	return "", false
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// remote runs fn bounded as the step name (commandBudget).
func remote(ctx context.Context, name string, fn func(context.Context) error) error {
	ctx, cancel := nodes.Step(ctx, name, commandBudget)
	defer cancel()
	return fn(ctx)
}
