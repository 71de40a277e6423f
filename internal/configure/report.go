package configure

import (
	"github.com/swarmctl/swarmctl/internal/certsd"
	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/hoststoml"
)

// Outcome is what happened to one node.
type Outcome string

const (
	Unchanged Outcome = "unchanged" // daemon.json already right: nothing done
	Reloaded  Outcome = "reloaded"  // written, daemon reloaded (SIGHUP), verified
	Restarted Outcome = "restarted" // written, daemon restarted, verified
	Written   Outcome = "written"   // written only (--apply none): pending
	Failed    Outcome = "failed"    // see Error; the old file is in place
	Skipped   Outcome = "skipped"   // not attempted (--fail-fast, interrupted)

	WouldReload  Outcome = "would-reload"  // dry run
	WouldRestart Outcome = "would-restart" // dry run
	WouldWrite   Outcome = "would-write"   // dry run with --apply none

	// Updated: only certs.d files changed (hosts.toml, the mirror's CA),
	// which dockerd reads at each pull: nothing reloaded or restarted.
	Updated     Outcome = "updated"
	WouldUpdate Outcome = "would-update" // dry run
)

// NodeResult is one node's result; it is also the JSON schema of a node in
// `nodes configure -o json`.
type NodeResult struct {
	Name    string              `json:"name"`
	Address string              `json:"address"`
	Outcome Outcome             `json:"outcome"`
	Error   string              `json:"error,omitempty"`
	Path    string              `json:"path,omitempty"`
	Service string              `json:"service,omitempty"`
	Role    string              `json:"role,omitempty"`
	Changes []daemonjson.Change `json:"changes"`
	// Diff is the unified diff of daemon.json (dry run only).
	Diff string `json:"diff,omitempty"`
	// Files are the changes to /etc/docker/certs.d (hosts.toml, ca.crt),
	// each with its diff in a dry run; FileWarnings what hosts.toml's
	// checks say (e.g. daemon.json settings dockerd then ignores).
	Files        []certsd.Op `json:"files,omitempty"`
	FileWarnings []string    `json:"file_warnings,omitempty"`
	// Registries say, per upstream, how this node pulls it through the
	// mirror: hosts.toml, daemon.json, or not-possible with the reason.
	Registries []hoststoml.Decision `json:"registries,omitempty"`
	// Backup is the copy of the previous file kept on the node.
	Backup string `json:"backup,omitempty"`
	OldPID int    `json:"old_pid,omitempty"`
	NewPID int    `json:"new_pid,omitempty"`
	// Note says something the user should know about a success, e.g. a
	// forced reload that leaves "experimental" pending a restart.
	Note string `json:"note,omitempty"`
	// RolledBack is true when a failure after the write restored the old file.
	RolledBack bool `json:"rolled_back,omitempty"`
	// Journal is the tail of the service's journal after a failure.
	Journal    string `json:"journal,omitempty"`
	DurationMS int64  `json:"duration_ms"`
	// Steps times each step of applying the change (not for unchanged
	// or dry-run nodes).
	Steps []StepTime `json:"steps,omitempty"`
}

// StepTime is how long one step took on a node.
type StepTime struct {
	Name string `json:"name"`
	MS   int64  `json:"ms"`
	OK   bool   `json:"ok"`
	// Scripts names the remote scripts the step ran, in order (on the node,
	// or on the manager asked about it).
	Scripts []string `json:"scripts,omitempty"`
}

// Report is the result of a run, nodes in input order.
type Report struct {
	Nodes    []NodeResult    `json:"nodes"`
	Summary  map[Outcome]int `json:"summary"`
	Warnings []string        `json:"warnings,omitempty"`
	// Plan is what phase A decided, in the order of phase B.
	Plan *Plan `json:"plan"`
	// Declined is Options.Confirm's refusal: nothing was changed, the
	// nodes that would have changed are Skipped.
	Declined error `json:"-"`
}

// Failed reports whether any node failed.
func (r *Report) Failed() bool { return r.Summary[Failed] > 0 }
