package fleet

import (
	"context"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

// ConnectOptions tune Connect.
type ConnectOptions struct {
	// Service and DaemonJSON override detection in the facts.
	Service, DaemonJSON string
	// FailFast stops starting members after the first that fails; those
	// not started are NotAttempted.
	FailFast bool
	// Keep leaves the connections open for later steps (the caller closes
	// them with member.CloseAll); without it each member's connection
	// closes as soon as its facts are in, so at most Parallel are open.
	Keep bool
	// Check judges a member whose facts are in: an error becomes its Err
	// (and stops the run under FailFast).
	Check func(*member.Member) error
}

// Connect dials every member that is not connected and gathers its facts
// on the same connection, at most Parallel at once; the outcome is in each
// member (Conn, Reached, Facts, Err, NotAttempted). Cancelling ctx stops
// new starts.
func (f *Fleet) Connect(ctx context.Context, ms []*member.Member, o ConnectOptions) {
	for _, m := range ms {
		m.NotAttempted = true
	}
	res := nodes.Parallel(ctx, ms, f.o.Parallel, o.FailFast, func(ctx context.Context, m *member.Member) (struct{}, error) {
		m.NotAttempted = false
		err := m.Connect(ctx, o.Service, o.DaemonJSON)
		if err == nil && o.Check != nil {
			m.Err = o.Check(m)
			err = m.Err
		}
		if !o.Keep {
			m.Close()
		}
		return struct{}{}, err
	})
	for i, r := range res {
		if ms[i].NotAttempted {
			ms[i].Err = r.Err
		}
	}
}
