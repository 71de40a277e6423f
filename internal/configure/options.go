// Package configure points nodes at the mirror: it decides per node what
// daemon.json should become, writes it safely, applies it in a
// quorum-safe order, verifies and rolls back.
package configure

import (
	"fmt"
	"strconv"
	"time"

	"github.com/swarmctl/swarmctl/internal/certsd"
	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/hoststoml"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

// ApplyMode says how a changed daemon.json is put into effect.
type ApplyMode string

const (
	// ApplyAuto reloads when every change is reloadable, else restarts.
	ApplyAuto    ApplyMode = "auto"
	ApplyReload  ApplyMode = "reload"
	ApplyRestart ApplyMode = "restart"
	// ApplyNone only writes the file; the change is pending.
	ApplyNone ApplyMode = "none"
)

// ParseApplyMode checks an --apply value.
func ParseApplyMode(s string) (ApplyMode, error) {
	switch m := ApplyMode(s); m {
	case ApplyAuto, ApplyReload, ApplyRestart, ApplyNone:
		return m, nil
	}
	return "", fmt.Errorf("--apply %q: want auto, reload, restart or none", s)
}

// NodeWant is what one node should have when it differs from the run's
// Settings: its own order of mirrors (its replica first) and its certs.d
// files (hosts.toml, the mirror's CA).
type NodeWant struct {
	// Mirrors replace Settings.Mirrors on this node when not nil.
	Mirrors []string
	// CertsD is what swarmctl wants in the node's /etc/docker/certs.d;
	// the zero value takes swarmctl's files out (see certsd.Build).
	CertsD certsd.Want
	// SkipCertsD leaves certs.d alone (the node's engine did not say
	// whether it reads hosts.toml).
	SkipCertsD bool
	// Registries say, per upstream, how this node pulls it (reported).
	Registries []hoststoml.Decision
	// Replicas are the URLs of the mirror replicas running on this node
	// (mirror.replica_nodes): after its restart the run waits until each
	// answers again before it restarts another node (see waitReplicas).
	Replicas []string
}

// Options of one configure run.
type Options struct {
	// Settings is what daemon.json should say (mirrors already validated).
	Settings daemonjson.Settings
	// ForNode, when set, gives each node's own wants from its facts (an
	// error fails that node before anything changes on it). Without it
	// certs.d is left alone.
	ForNode func(n *member.Member, f *member.Facts) (NodeWant, error)
	Apply   ApplyMode
	// Drain drains a swarm node before its restart and makes it active
	// again afterwards (also after a failure).
	Drain bool
	// MaxUnavailable workers are restarted at once (default 1).
	MaxUnavailable int
	// DaemonJSON and Service override detection on every node.
	DaemonJSON string
	Service    string
	// Timeout bounds each wait: daemon back after reload/restart, swarm
	// node Ready/Reachable again (default 60s).
	Timeout time.Duration
	// DryRun computes and reports, changes nothing (no lock, no backup).
	DryRun   bool
	Parallel int
	FailFast bool
	// Observers are swarm managers outside the selection (e.g. left out by
	// --limit). When no selected node is an active manager and a swarm
	// node must be restarted, the first reachable one answers the swarm
	// guard's questions (quorum, drain, Ready again). Never changed.
	Observers []*member.Member
	// KeepBackups is how many backups of daemon.json to keep (default 5).
	KeepBackups int

	// Now is the clock (backup names, durations); default time.Now.
	Now func() time.Time
	// Confirm, when set, sees the plan once every node was read and
	// before anything changes (also in a dry run, which changes nothing
	// anyway); an error stops the run there: nothing is changed, and the
	// nodes it would have changed are Skipped (Report.Declined).
	Confirm func(*Plan) error
	// OnNode is called once per node as soon as its outcome is known
	// (calls are serialised).
	OnNode func(NodeResult)
	// Warn receives warnings meant for the user (e.g. single manager).
	Warn func(string)
	// Progress, when set, is told what the run waits for (e.g. a node's
	// mirror replica after its restart).
	Progress func(string)
}

func (o *Options) defaults() {
	if o.Apply == "" {
		o.Apply = ApplyAuto
	}
	if o.MaxUnavailable < 1 {
		o.MaxUnavailable = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Parallel < 1 {
		o.Parallel = 16
	}
	if o.KeepBackups < 1 {
		o.KeepBackups = 5
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
}

// stepBudget is the default deadline of a remote step (nodes.Step;
// --step-timeout replaces them all): a restart 5 minutes (the unit's stop
// timeout plus its start), the steps that wait for docker or the swarm
// their wait (Timeout) plus nodes.StepMargin, the lock
// nodes.DefaultLockWait, every other step nodes.DefaultStepTimeout.
func (o *Options) stepBudget(name string) time.Duration {
	switch name {
	case "lock":
		return nodes.DefaultLockWait
	case "restart":
		return 5 * time.Minute
	case "check the swarm", "verify", "swarm wait", replicaStep:
		return o.Timeout + nodes.StepMargin
	}
	return nodes.DefaultStepTimeout
}

// timeoutSecs is Timeout in whole seconds (at least 1), as the remote
// wait scripts take it.
func (o *Options) timeoutSecs() string {
	return strconv.Itoa(max(1, int(o.Timeout.Round(time.Second)/time.Second)))
}
