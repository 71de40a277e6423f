// Package member is the one type swarmctl has for a node it works on,
// carried through every phase of a command (as k0sctl's cluster.Host is):
// where it comes from and how to reach it, its connection while one is
// open, what it is (Facts, learned by facts.sh in one round trip, and the
// mirror state judged from them), and why not when it could not be
// reached. The fleet layer makes and connects members; configure, status
// and stack work on them; the commands print them.
package member

import (
	"context"
	"errors"
	"net"
	"strconv"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// Member is one node of a command.
type Member struct {
	// Name is the display name: the inventory's name, else the host.
	Name string
	// Target is how to reach it.
	Target nodes.Target
	// Role is the inventory's hint: manager, worker or "" (the swarm's own
	// view is in Facts).
	Role string
	// Discovered: a swarm member a manager reported that neither the
	// inventory nor --host has.
	Discovered bool

	// Conn is the open connection; nil before Connect, after Close, or when
	// the node could not be reached.
	Conn nodes.Host
	// Reached: a connection was made (Conn may be closed since).
	Reached bool
	// Facts is what the node is; nil until gathered.
	Facts *Facts
	// Err is why the node could not be reached, its facts not gathered, or
	// it was not dialled at all.
	Err error
	// NotAttempted: the command stopped before it got to this node
	// (--fail-fast after another node failed, or an interrupt).
	NotAttempted bool

	dial func(ctx context.Context) (nodes.Host, error)
}

// New is a member reached by dial (which applies the run's SSH settings
// to t).
func New(name string, t nodes.Target, role string, dial func(context.Context, nodes.Target) (nodes.Host, error)) *Member {
	return &Member{Name: name, Target: t, Role: role, dial: func(ctx context.Context) (nodes.Host, error) { return dial(ctx, t) }}
}

// NotDialled is a member that is never dialled: err says why (e.g. the
// swarm reports a name or address swarmctl would not accept from a user).
func NotDialled(name string, t nodes.Target, role string, err error) *Member {
	return &Member{Name: name, Target: t, Role: role, Err: err}
}

// Address is host:port as given (the host alone without a port).
func (m *Member) Address() string {
	if m.Target.Port == 0 {
		return m.Target.Host
	}
	return net.JoinHostPort(m.Target.Host, strconv.Itoa(m.Target.Port))
}

// Dialled reports whether the member can be dialled at all.
func (m *Member) Dialled() bool { return m.dial != nil }

// Dial opens a new connection to the member (Conn is left alone).
func (m *Member) Dial(ctx context.Context) (nodes.Host, error) {
	if m.dial == nil {
		if m.Err != nil {
			return nil, m.Err
		}
		return nil, errors.New("no way to reach this node")
	}
	return m.dial(ctx)
}

// Connect dials the member unless it is connected, and gathers its facts
// (service and configPath override detection). It records the outcome in
// Conn, Reached, Facts and Err, and returns Err. A member that cannot be
// dialled keeps its Err.
func (m *Member) Connect(ctx context.Context, service, configPath string) error {
	if m.Conn == nil {
		if !m.Dialled() {
			return m.Err
		}
		h, err := m.dial(ctx)
		if err != nil {
			m.Err = err
			return err
		}
		m.Conn, m.Reached = h, true
	}
	m.Facts, m.Err = GatherFacts(ctx, m.Conn, service, configPath)
	return m.Err
}

// Close closes the connection, if open.
func (m *Member) Close() {
	if m.Conn != nil {
		m.Conn.Close()
		m.Conn = nil
	}
}

// CloseAll closes every member's connection.
func CloseAll(ms []*Member) {
	for _, m := range ms {
		m.Close()
	}
}

// IsManager reports whether the member's facts say it is an active swarm
// manager.
func (m *Member) IsManager() bool { return m.Facts != nil && m.Facts.SwarmManager }
