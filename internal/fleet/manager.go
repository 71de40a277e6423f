package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

// PickManager returns the member named by want (name or host), else the
// first reachable swarm manager among ms.
func PickManager(ms []*member.Member, want string) (*member.Member, error) {
	if want != "" {
		for _, m := range ms {
			if m.Name == want || m.Target.Host == want {
				return asManager(m, want)
			}
		}
		return nil, fmt.Errorf("--manager %s is not among the selected nodes", want)
	}
	for _, m := range ms {
		if m.Conn != nil && m.IsManager() {
			return m, nil
		}
	}
	return nil, errors.New("no reachable swarm manager among the selected nodes")
}

// asManager returns m if it is reachable and a swarm manager.
func asManager(m *member.Member, want string) (*member.Member, error) {
	if m.Conn == nil {
		return nil, fmt.Errorf("manager %s is unreachable: %v", want, nodes.Unnamed(m.Name, m.Err))
	}
	if m.Facts == nil && m.Err != nil {
		// Its facts did not come (a step that ran out, say): say so, not
		// "not a swarm manager".
		return nil, fmt.Errorf("manager %s: %v", want, nodes.Unnamed(m.Name, m.Err))
	}
	if !m.IsManager() {
		return nil, fmt.Errorf("%s is not a swarm manager", want)
	}
	return m, nil
}

// ManagerToAsk resolves --manager for discovery before anything is
// dialled. A selected node (by name or host) returns nil: it is among the
// selected members. Otherwise it returns the member to ask only: an
// inventory node --limit left out (by name or host), else an ad-hoc
// [user@]host[:port] reached with the inventory's defaults, as --host is.
func (f *Fleet) ManagerToAsk(want string) (*member.Member, error) {
	if want == "" {
		return nil, nil
	}
	for _, m := range f.selected {
		if m.Name == want || m.Target.Host == want {
			return nil, nil
		}
	}
	for _, in := range f.inv.Nodes {
		if m := f.member(in); m.Name == want || m.Target.Host == want {
			return m, nil
		}
	}
	in, err := ParseHost(want)
	if err != nil {
		return nil, inputErr("--manager %q: %v", want, err)
	}
	return f.member(in), nil
}

// AskManager picks the manager to ask about the swarm: want among the
// connected selection cs, else the member ManagerToAsk resolved (ask);
// without want, the first reachable swarm manager in cs, else among the
// inventory's managers --limit left out (OtherManagers). A manager that is
// not selected is only asked, never configured. asked are the extra
// connected members (the caller closes them; they are not targets).
func (f *Fleet) AskManager(ctx context.Context, cs []*member.Member, want string, ask *member.Member, o ConnectOptions) (mgr *member.Member, asked []*member.Member, err error) {
	o.Keep = true
	switch {
	case ask != nil:
		asked = []*member.Member{ask}
		f.Connect(ctx, asked, o)
		mgr, err = asManager(ask, want)
	case want != "":
		mgr, err = PickManager(cs, want)
	default:
		mgr, err = PickManager(cs, "")
		if others := f.OtherManagers(); err != nil && len(others) > 0 {
			asked = others
			f.Connect(ctx, asked, o)
			if mgr, err = PickManager(asked, ""); err != nil {
				err = errors.New("no reachable swarm manager among the selected nodes or the inventory's other managers (role: manager)")
			}
		}
	}
	if mgr != nil && len(asked) > 0 && len(f.selected) > 0 {
		f.env.Progress(fmt.Sprintf("asking %s (%s) for the swarm's members: not selected, so not configured", mgr.Name, mgr.Address()))
	}
	return mgr, asked, err
}

// ConnectManager connects to the manager to work through: want (a
// selected node's name or host), else the first reachable manager among
// the selected nodes the inventory marks as managers, else among all the
// selected nodes. cs are the members it connected (the caller closes
// them); a want that is not selected is an InputError.
func (f *Fleet) ConnectManager(ctx context.Context, want string) (cs []*member.Member, mgr *member.Member, err error) {
	sel := f.Selected()
	for _, m := range sel {
		if want != "" && (m.Name == want || m.Target.Host == want) {
			cs = append(cs, m)
		}
	}
	if want != "" && len(cs) == 0 {
		return nil, nil, inputErr("manager %s is not among the selected nodes (--manager, mirror.manager)", want)
	}
	if want == "" {
		for _, m := range sel {
			if m.Role == "manager" {
				cs = append(cs, m)
			}
		}
		if len(cs) == 0 {
			cs = sel
		}
	}
	f.Connect(ctx, cs, ConnectOptions{Keep: true})
	mgr, err = PickManager(cs, want)
	if err != nil {
		var why []string
		for _, m := range cs {
			if m.Err != nil {
				why = append(why, fmt.Sprintf("%s: %v", m.Name, nodes.Unnamed(m.Name, m.Err)))
			}
		}
		msg := err.Error()
		if len(why) > 0 && want == "" {
			msg += "\n  " + strings.Join(why, "\n  ")
		}
		return cs, nil, errors.New(msg)
	}
	return cs, mgr, nil
}
