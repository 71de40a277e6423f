package configure

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/swarmctl/swarmctl/internal/probe"
)

// replicaStep is the step that waits, after a node's restart, for the
// mirror replicas it runs to answer again.
const replicaStep = "mirror replica"

// replicaPoll is how long the wait pauses between two probes.
var replicaPoll = time.Second

// replicaProbeMax bounds one probe (the whole wait is Options.Timeout).
const replicaProbeMax = 5 * time.Second

// waitReplicas is the step after a restart of a node that runs mirror
// replicas (NodeWant.Replicas): a restart of dockerd stops the node's
// replica, and the next node's restart must not take another one down
// while it is still starting, or every replica can be down at once and
// the nodes pull from the upstream directly. It asks from the node itself
// (probe.sh: GET /v2/, 200 or 401 is an answer; -k, so a company CA is no
// obstacle) until each replica answers, at most Options.Timeout in all. A
// node with neither curl nor wget cannot be asked: a warning, no wait.
func (r *nodeRun) waitReplicas(ctx context.Context) error {
	if len(r.replicas) == 0 || r.act != actRestart || !r.activated {
		return nil
	}
	return r.timed(ctx, replicaStep, func(ctx context.Context) error {
		deadline := time.Now().Add(r.o.Timeout)
		for _, u := range r.replicas {
			r.o.progress(fmt.Sprintf("%s: waiting for its mirror replica %s to answer", r.node.Name, u))
			last := ""
			for {
				left := time.Until(deadline)
				if left <= 0 {
					return &replicaDownError{url: u, after: r.o.Timeout, last: last}
				}
				res, ran := probe.Of(r.h.Run(ctx, probe.Cmd(strings.TrimRight(u, "/")+"/v2/", min(left, replicaProbeMax))))
				switch {
				case ran && res.Answers():
				case ran && res.NoTool:
					r.o.Warn(fmt.Sprintf("%s: cannot tell whether its mirror replica %s answers again after the restart (%s): not waited for", r.node.Name, u, res.Err))
				default:
					if ctx.Err() != nil {
						return ctx.Err()
					}
					last = res.Err
					if ran && res.Status != 0 {
						last = fmt.Sprintf("HTTP %d", res.Status)
					}
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(min(replicaPoll, max(time.Until(deadline), 0))):
					}
					continue
				}
				break
			}
		}
		return nil
	})
}

// replicaDownError: a replica did not answer again in time. The node
// itself was restarted with its new settings; the rollout stops there.
type replicaDownError struct {
	url   string
	after time.Duration
	last  string
}

func (e *replicaDownError) Error() string {
	s := fmt.Sprintf("restarted with the new settings, but its mirror replica %s did not answer GET /v2/ within %s (--ready-timeout)", e.url, e.after)
	if e.last != "" {
		s += "; last: " + e.last
	}
	return s + "; rollout stopped so that no other replica goes down with it: the remaining nodes were not changed"
}

// halt stops a rollout after a node whose replica did not come back: the
// nodes not yet done are not attempted.
type halt struct{ node atomic.Pointer[string] }

// from records r when its replica did not come back.
func (h *halt) from(r *nodeRun) {
	if r.replicaDown {
		name := r.node.Name
		h.node.CompareAndSwap(nil, &name)
	}
}

func (h *halt) stopped() bool { return h.node.Load() != nil }

// reason is the Error of a node the halt left out ("" without a halt).
func (h *halt) reason() string {
	if n := h.node.Load(); n != nil {
		return "not attempted: rollout stopped after " + *n + ", whose mirror replica did not answer again"
	}
	return ""
}

// progress tells the user what the run is waiting for.
func (o *Options) progress(msg string) {
	if o.Progress != nil {
		o.Progress(msg)
	}
}

// afterRestart waits for the node's replicas (waitReplicas) and marks the
// node as the one that stops the rollout when one does not come back.
func (r *nodeRun) afterRestart(ctx context.Context) error {
	err := r.waitReplicas(ctx)
	var down *replicaDownError
	if errors.As(err, &down) {
		r.replicaDown = true
		return err
	}
	if err != nil {
		return fmt.Errorf("restarted with the new settings; interrupted while waiting for its mirror replica to answer: %w", err)
	}
	return nil
}
