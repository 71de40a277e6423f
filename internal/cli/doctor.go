package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/doctor"
	"github.com/swarmctl/swarmctl/internal/fleet"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/report"
)

// DoctorOptions are the options of `swarmctl doctor`.
type DoctorOptions struct {
	Global      *GlobalOptions
	Mirrors     []string
	Service     string
	DaemonJSON  string
	HTTPTimeout time.Duration
}

// DoctorResult is the JSON document of `swarmctl doctor`.
type DoctorResult struct {
	report.Header
	// Checks are one per line of the text output: node "" is this
	// machine.
	Checks []doctor.Check `json:"checks"`
	// Summary counts checks by status: ok, warn, fail, skip.
	Summary map[string]int `json:"summary"`
}

// NewCmdDoctor builds `swarmctl doctor`.
func NewCmdDoctor(d *Deps, g *GlobalOptions, runF func(context.Context, *DoctorOptions) error) *cobra.Command {
	opts := &DoctorOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check everything a run needs, here and on every node; change nothing",
		Long: `Checks, without changing anything, what nodes configure and apply need:
here, the SSH keys that would be offered and the ssh-agent; per node, its
known_hosts entry, the SSH connection, sudo -n, docker, daemon.json (does
it parse; what configure would change), dockerd flags in the unit that
would clash with daemon.json, the swarm role, free disk, the engine, and
GET /v2/ of the mirror from the node itself; and whether the swarm has
members the inventory lacks. One line per check.

Exit 0 when nothing failed (warnings allowed), 1 when a check failed, 2
when doctor could not run (bad flags or inventory, no nodes).`,
		Example: `  swarmctl doctor
  swarmctl doctor --limit worker -o json
  swarmctl doctor --host ops@10.0.0.21 --mirror https://mirror.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDoctor(cmd.Context(), d, opts)
		},
	}
	f := cmd.Flags()
	mirrorsVar(f, &opts.Mirrors, "mirror", "mirror `URL` to check from each node (default: the inventory's mirror)")
	f.StringVar(&opts.Service, "service", "", "docker unit (default: docker-latest if present, else docker)")
	f.StringVar(&opts.DaemonJSON, "daemon-json", "", "daemon.json `path` (default: detected from the unit)")
	f.DurationVar(&opts.HTTPTimeout, "http-timeout", 10*time.Second, "deadline of each HTTP check of the mirror")
	return cmd
}

func runDoctor(ctx context.Context, d *Deps, opts *DoctorOptions) error {
	g := opts.Global
	f, err := openFleet(d, g, true)
	if err != nil {
		return err
	}
	defer f.Close()
	inv := f.Inventory()
	mirrors, err := wantedMirrors(opts.Mirrors, inv.Mirror.URL, inv.Mirror.FQDN)
	if err != nil {
		return err
	}
	exp := true
	o := doctor.Options{Settings: daemonjson.Settings{Mirrors: mirrors, Insecure: inv.Mirror.Insecure, Experimental: &exp}, Timeout: opts.HTTPTimeout}
	if len(mirrors) > 0 {
		o.MirrorURL = mirrors[0]
	}
	ms := f.Selected()
	checks := localChecks(d, f, ms, mirrors)

	// Every node: its known_hosts entry (read here), then the checks on
	// it, the fleet connecting as every command does.
	f.Connect(ctx, ms, fleet.ConnectOptions{Service: opts.Service, DaemonJSON: opts.DaemonJSON, Keep: true})
	defer member.CloseAll(ms)
	perNode := make([][]doctor.Check, len(ms))
	nodes.Parallel(ctx, ms, f.Parallel(), false, func(ctx context.Context, m *member.Member) (struct{}, error) {
		i := indexOf(ms, m)
		perNode[i] = append([]doctor.Check{knownHostsCheck(f, m)}, doctor.Node(ctx, m, o)...)
		return struct{}{}, nil
	})
	for _, cs := range perNode {
		checks = append(checks, cs...)
	}
	checks = append(checks, membersCheck(ctx, f, ms))

	res := &DoctorResult{Checks: checks, Summary: doctor.Summary(checks)}
	for _, c := range checks {
		switch c.Status {
		case doctor.Fail:
			res.Problems = append(res.Problems, report.Problem{Code: c.Check, Node: c.Node, Message: c.Message})
		case doctor.Warn:
			res.Warnings = append(res.Warnings, strings.TrimPrefix(c.Node+": ", ": ")+c.Check+": "+c.Message)
		}
	}
	var fail error
	if n := res.Summary[doctor.Fail]; n > 0 {
		fail = failedQuiet(report.ErrProblems, fmt.Sprintf("%d check(s) failed", n))
	}
	if ctx.Err() != nil {
		fail = ctx.Err()
	}
	return emit(d, g, res, func() { printDoctor(d, res) }, fail)
}

func indexOf(ms []*member.Member, m *member.Member) int {
	for i, x := range ms {
		if x == m {
			return i
		}
	}
	return -1
}

// localChecks are the checks of this machine: the inventory, the keys a
// dial would offer (per distinct key setting), the ssh-agent, the mirror
// URL.
func localChecks(d *Deps, f *fleet.Fleet, ms []*member.Member, mirrors []string) []doctor.Check {
	var out []doctor.Check
	add := func(check, status, msg, hint string) {
		out = append(out, doctor.Check{Check: check, Status: status, Message: msg, Hint: hint})
	}
	inv := f.Inventory()
	if inv.Path != "" {
		add("inventory", doctor.OK, fmt.Sprintf("%s: %d node(s), %d selected", inv.Path, len(inv.Nodes), len(ms)), "")
	} else {
		add("inventory", doctor.OK, fmt.Sprintf("no inventory file: %d node(s) from --host", len(ms)), "")
	}
	// One line per distinct key setting (node key:, defaults, --ssh-key),
	// not one per node.
	var groups [][]*member.Member
	byKeys := map[string]int{}
	for _, m := range ms {
		k := strings.Join(m.Target.KeyFiles, ",")
		if i, ok := byKeys[k]; ok {
			groups[i] = append(groups[i], m)
			continue
		}
		byKeys[k] = len(groups)
		groups = append(groups, []*member.Member{m})
	}
	agent := 0
	for _, grp := range groups {
		offered, skipped, err := f.KeysOffered(grp[0])
		who := ""
		if len(groups) > 1 {
			who = fmt.Sprintf(" (for %s", grp[0].Name)
			if len(grp) > 1 {
				who += fmt.Sprintf(" and %d more", len(grp)-1)
			}
			who += ")"
		}
		if err != nil {
			add("ssh-key", doctor.Fail, err.Error()+who, "")
			continue
		}
		msg := "offers " + strings.Join(offered, ", ") + who
		if len(skipped) > 0 {
			msg += "; not used: " + strings.Join(skipped, "; ")
		}
		add("ssh-key", doctor.OK, msg, "")
		n := 0
		for _, o := range offered {
			if strings.HasPrefix(o, "ssh-agent") {
				n++
			}
		}
		agent = max(agent, n) // the same agent for every group
	}
	switch sock := d.Getenv("SSH_AUTH_SOCK"); {
	case sock == "":
		add("ssh-agent", doctor.OK, "not used (SSH_AUTH_SOCK is not set)", "")
	case agent == 0:
		add("ssh-agent", doctor.Warn, "SSH_AUTH_SOCK is set but the agent offers no key", "ssh-add your key, or unset SSH_AUTH_SOCK")
	default:
		add("ssh-agent", doctor.OK, fmt.Sprintf("%d key(s) from the agent", agent), "")
	}
	if len(mirrors) == 0 {
		add("mirror-url", doctor.Warn, "no mirror URL: set mirror.url or mirror.fqdn in the inventory (or --mirror)", "")
	} else {
		add("mirror-url", doctor.OK, mirrors[0], "")
	}
	return out
}

// knownHostsCheck looks the node up in known_hosts before it is dialled.
func knownHostsCheck(f *fleet.Fleet, m *member.Member) doctor.Check {
	c := doctor.Check{Node: m.Name, Check: "known-hosts"}
	policy := f.HostKeyPolicy()
	known, where, files, err := f.HostKeyKnown(m)
	switch {
	case policy == nodes.HostKeyInsecure:
		c.Status, c.Message = doctor.Warn, "host keys are not checked (--host-key-policy insecure)"
	case err != nil:
		c.Status, c.Message = doctor.Fail, err.Error()
	case known:
		c.Status, c.Message = doctor.OK, "entry at "+where
	case policy == nodes.HostKeyAcceptNew:
		c.Status, c.Message = doctor.Warn, fmt.Sprintf("no entry for %s in %s: accept-new records it at first contact", where, strings.Join(files, ", "))
	default:
		c.Status, c.Message = doctor.Fail, fmt.Sprintf("no entry for %s in %s", where, strings.Join(files, ", "))
		c.Hint = "swarmctl init shows and records host keys; or ssh-keyscan it, check the fingerprint, append it"
	}
	return c
}

// membersCheck asks a connected manager whether the swarm has members
// the inventory lacks (apply and nodes configure --discover reach them
// with the inventory's defaults).
func membersCheck(ctx context.Context, f *fleet.Fleet, ms []*member.Member) doctor.Check {
	c := doctor.Check{Check: "members"}
	mgr, err := fleet.PickManager(ms, "")
	if err != nil {
		c.Status, c.Message = doctor.Skip, "no reachable swarm manager among the selected nodes to ask"
		return c
	}
	more, err := f.Discover(ctx, mgr, ms)
	switch {
	case err != nil:
		c.Status, c.Message = doctor.Skip, err.Error()
	case len(more) == 0:
		c.Status, c.Message = doctor.OK, "every swarm member "+mgr.Name+" lists is selected"
	default:
		var names []string
		for _, m := range more {
			names = append(names, m.Name+" ("+m.Target.Host+")")
		}
		c.Status = doctor.Warn
		c.Message = "swarm members not in the inventory: " + strings.Join(names, ", ")
		c.Hint = "apply and nodes configure --discover reach them with the inventory's defaults; swarmctl doctor --host checks one"
	}
	return c
}

func printDoctor(d *Deps, res *DoctorResult) {
	tw := tabwriter.NewWriter(d.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tCHECK\tSTATUS\tDETAIL")
	for _, c := range res.Checks {
		node := c.Node
		if node == "" {
			node = "local"
		}
		status := c.Status
		switch status {
		case doctor.Fail:
			status = d.IO.Paint("31", status)
		case doctor.Warn:
			status = d.IO.Paint("33", status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", node, c.Check, status, c.Message)
		if c.Hint != "" {
			fmt.Fprintf(tw, "\t\t\thint: %s\n", c.Hint)
		}
	}
	tw.Flush()
	s := res.Summary
	fmt.Fprintf(d.IO.Err, "doctor: %d ok, %d warn, %d fail, %d skip\n", s[doctor.OK], s[doctor.Warn], s[doctor.Fail], s[doctor.Skip])
}
