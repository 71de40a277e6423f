package nodes

import (
	"context"
	"strings"
	"testing"
)

// Callers print a node's errors under its name ("node1: <err>"), so Dial's
// own errors must not name the node again, and the no-key hint must name
// the real flag.
func TestDialErrorsDoNotNameTheNode(t *testing.T) {
	e := newEnv(t)
	s := e.server(t)

	_, err := Dial(context.Background(), e.targetNoKey(s), e.opts)
	if err == nil {
		t.Fatal("dial without a key succeeded")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "no SSH key:") {
		t.Errorf("err = %q, want it to start with \"no SSH key:\" (no node name)", msg)
	}
	if !strings.Contains(msg, "--ssh-key") || strings.Contains(msg, "--key ") {
		t.Errorf("err = %q, want the --ssh-key flag named", msg)
	}

	tg := e.target(s)
	tg.Name = "node-xyz"
	tg.Port = 1 // nothing listens there
	_, err = Dial(context.Background(), tg, e.opts)
	if err == nil || strings.Contains(err.Error(), "node-xyz") {
		t.Errorf("connection error names the node: %v", err)
	}

	o := e.opts
	o.Bastion = "jump.invalid" // fails at once, no DNS query
	_, err = Dial(context.Background(), tg, o)
	if err == nil || strings.Contains(err.Error(), "node-xyz") {
		t.Errorf("bastion error names the node: %v", err)
	}
}
