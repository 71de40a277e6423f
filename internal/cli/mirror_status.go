package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/fleet"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/report"
	"github.com/swarmctl/swarmctl/internal/stack"
	"github.com/swarmctl/swarmctl/internal/status"
)

// MirrorStatusOptions are the options of `swarmctl mirror status`.
type MirrorStatusOptions struct {
	Global     *GlobalOptions
	Mirrors    []string
	Manager    string
	Stack      string
	Timeout    time.Duration
	NoDiscover bool
}

// NewCmdMirrorStatus builds `swarmctl mirror status`.
func NewCmdMirrorStatus(d *Deps, g *GlobalOptions, runF func(context.Context, *MirrorStatusOptions) error) *cobra.Command {
	opts := &MirrorStatusOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "One honest view: the registry stack, the endpoint, the cache and every node",
		Long: `Checks the registry stack (replicas, image, tasks and their last error), the mirror
endpoint (GET /v2/ from here and from a manager: status, latency, TLS expiry),
the cache (repositories, disk used) and every node: does daemon.json list the
mirror, and does the running daemon use it (applied) or wait for a reload or
restart (pending)? Swarm members missing from the inventory are discovered
from a manager and checked too. With mirror.replica_nodes every replica is
checked at its own URL: some down is degraded (pulls still go through the
others), none answering is unhealthy (pulls go around the mirror).

Exit codes: 0 healthy; 1 degraded or unhealthy (a problem was found); 2 could not check:
the registry service's state is unknown (no reachable manager, or the query
on it failed), there is no mirror URL to check the endpoint with, or no node
could be reached. 2 wins over 1.`,
		Example: `  swarmctl mirror status
  swarmctl mirror status -o json --output-file status.json   # CI: exit 0, 1 or 2
  swarmctl mirror status --no-discover --limit manager`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMirrorStatus(cmd.Context(), d, opts)
		},
	}
	mirrorsVar(cmd.Flags(), &opts.Mirrors, "mirror", "mirror `URL` to check (default: the inventory's mirror)")
	cmd.Flags().StringVar(&opts.Manager, "manager", "", "manager to ask about the swarm (default: the first reachable one)")
	cmd.Flags().StringVar(&opts.Stack, "stack", "", "stack name (default: the inventory's mirror.stack, else registry)")
	cmd.Flags().DurationVar(&opts.Timeout, "http-timeout", 10*time.Second, "deadline of each HTTP check of the mirror")
	deprecatedAlias(cmd.Flags(), "timeout", "http-timeout")
	cmd.Flags().BoolVar(&opts.NoDiscover, "no-discover", false, "check only the selected nodes, not swarm members the inventory lacks")
	return cmd
}

func runMirrorStatus(ctx context.Context, d *Deps, opts *MirrorStatusOptions) error {
	f, err := openFleet(d, opts.Global, true, !opts.NoDiscover)
	if err != nil {
		return err
	}
	defer f.Close()
	inv := f.Inventory()
	want, err := wantedMirrors(opts.Mirrors, inv.Mirror.URL, inv.Mirror.FQDN)
	if err != nil {
		return err
	}
	ns, err := nodeSideOf(inv, want, len(opts.Mirrors) > 0, nil)
	if err != nil {
		return err
	}
	rep := buildStatus(ctx, d, f, opts, want, ns)
	if !opts.NoDiscover {
		if err := f.CheckLimit(); err != nil {
			return err
		}
	}
	return emit(d, opts.Global, rep, func() { printStatus(d, rep) }, statusError(rep))
}

// statusError is the exit of a status report: nil when healthy, 1 when
// degraded, 2 when something could not be checked.
func statusError(rep *status.Report) error {
	switch rep.Health {
	case status.Healthy:
		return nil
	case status.Degraded, status.Unhealthy:
		return failedQuiet(report.ErrDegraded, fmt.Sprintf("%s: %d problem(s)", rep.Health, len(rep.Problems)))
	default:
		return &exitError{code: ExitError, kind: report.ErrCouldNotCheck, quiet: true,
			err: fmt.Errorf("could not check: %s", strings.Join(rep.Unchecked, "; "))}
	}
}

// buildStatus connects to the selected nodes, asks a manager (as
// discovery does: a manager that is not selected, left out by --limit or
// named by --manager, is asked too but is not a row) and, unless
// --no-discover, adds the swarm's members the inventory lacks; status
// checks the rest.
func buildStatus(ctx context.Context, d *Deps, f *fleet.Fleet, opts *MirrorStatusOptions, want []string, ns *nodeSide) *status.Report {
	inv := f.Inventory()
	var names stack.Values
	names.StackName, names.DataDir = firstNonEmpty(opts.Stack, inv.Mirror.StackName), inv.Mirror.DataDir
	names.Defaults()
	co := fleet.ConnectOptions{Keep: true}
	rows := f.Selected()
	f.Connect(ctx, rows, co)
	defer func() { member.CloseAll(rows) }()
	in := status.Input{Stack: names, MirrorURLs: want, Timeout: opts.Timeout, Now: d.Now}
	if ns != nil {
		in.Upstreams = func(m *member.Member) ([]status.NodeRegistry, string) {
			st := member.Evaluate(m.Facts, want, len(want) > 0)
			return ns.registryStates(m, m.Facts, st.Applied && st.Configured), ns.caState(m.Facts)
		}
	}
	if eps, ca, err := statusEndpoints(inv.Mirror, inv.Nodes, names.StackName); err != nil {
		in.Warnings = append(in.Warnings, "upstreams and CA not checked: "+err.Error())
	} else {
		in.Endpoints, in.CAFile, in.CAPEM = eps, inv.Mirror.CAFile, ca
	}
	var warn string
	if in.Replicas, warn = replicaEndpoints(inv, opts.Stack); warn != "" {
		in.Warnings = append(in.Warnings, warn)
	}
	wantMgr := firstNonEmpty(opts.Manager, inv.Mirror.Manager)
	ask, err := f.ManagerToAsk(wantMgr)
	if err == nil {
		in.Manager, in.Asked, err = f.AskManager(ctx, rows, wantMgr, ask, co)
	}
	in.ManagerErr = err
	defer func() { member.CloseAll(in.Asked) }()
	if in.Manager != nil && !opts.NoDiscover {
		more, err := f.Discover(ctx, in.Manager, rows)
		if err != nil {
			in.Warnings = append(in.Warnings, err.Error())
		}
		f.Connect(ctx, more, co)
		rows = append(rows, more...)
	}
	in.Nodes = rows
	rep := status.Build(ctx, in)
	rep.Command = "mirror status"
	return rep
}

func printStatus(d *Deps, r *status.Report) {
	w := d.IO.Out
	if r.Stack != nil {
		st := r.Stack
		fmt.Fprintf(w, "Stack %s: service %s ", st.Name, st.Service)
		if st.Found {
			fmt.Fprintf(w, "%d/%d running, image %s", st.RunningReplicas, st.DesiredReplicas, st.Image)
			for _, t := range st.Tasks {
				if t.DesiredState == "Running" {
					fmt.Fprintf(w, ", on %s", t.Node)
				}
			}
			fmt.Fprintln(w)
		} else if st.Error != "" {
			fmt.Fprintf(w, "not checked: %s\n", st.Error)
		} else {
			fmt.Fprintln(w, "not deployed")
		}
		if st.LastError != "" {
			// Shown whether or not replicas are short: a task that
			// failed and was replaced is worth knowing about.
			age := ""
			if st.LastErrorAge != "" {
				age = " (" + st.LastErrorAge + ")"
			}
			fmt.Fprintf(w, "  last error%s: %s\n", age, st.LastError)
		}
	}
	if r.Endpoint == nil && len(r.MirrorURLs) == 0 {
		fmt.Fprintf(w, "Endpoint: not checked (no mirror URL: %s)\n", status.MirrorURLHint)
	}
	if e := r.Endpoint; e != nil {
		fmt.Fprintf(w, "Endpoint %s: ", e.URL)
		if e.Reachable {
			fmt.Fprintf(w, "HTTP %d in %d ms", e.Status, e.LatencyMS)
			if e.TLS != nil {
				fmt.Fprintf(w, ", certificate valid=%v expires in %d days", e.TLS.Valid && e.TLS.Error == "", e.TLS.DaysToExpiry)
			}
			fmt.Fprintln(w)
		} else {
			fmt.Fprintf(w, "unreachable: %s\n", e.Error)
		}
	}
	if fm := r.FromManager; fm != nil {
		if fm.NotChecked != "" {
			fmt.Fprintf(w, "From manager %s: not checked (%s)\n", fm.Manager, fm.NotChecked)
		} else if fm.Error != "" {
			fmt.Fprintf(w, "From manager %s: %s\n", fm.Manager, fm.Error)
		} else {
			fmt.Fprintf(w, "From manager %s: HTTP %d in %d ms\n", fm.Manager, fm.Status, fm.LatencyMS)
		}
	}
	if c := r.Cache; c != nil {
		fmt.Fprintln(w, cacheLine(c))
	}
	printReplicas(w, r)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tROLE\tDAEMON.JSON\tMIRROR\tEXPERIMENTAL\tREGISTRIES\tCA")
	for _, n := range r.Nodes {
		name := n.Name
		if n.Discovered {
			name += " (discovered)"
		}
		state, exp := "unreachable", "-"
		if n.Mirror != nil {
			switch {
			case n.Mirror.FileError != "":
				state = "daemon.json invalid"
			case n.Mirror.Configured && n.Mirror.Applied:
				state = "applied"
			case n.Mirror.Pending:
				state = "pending reload/restart"
			default:
				state = "not configured"
			}
			exp = fmt.Sprintf("file=%v live=%v", n.Mirror.FileExperimental, n.Mirror.LiveExperimental)
		} else if n.Reachable {
			state = "error"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, n.Address, dash(n.Role), dash(n.DaemonJSON), state, exp, dash(registriesCell(n.Registries)), dash(caCell(n.CA)))
	}
	tw.Flush()
	for _, n := range r.Nodes {
		for _, u := range n.Registries {
			if u.State == RegNotPossible {
				fmt.Fprintf(d.IO.Err, "%s: %s not possible: %s; to make it possible: %s\n", n.Name, u.Registry, u.Reason, u.Fix)
			}
		}
	}
	printUpstreams(w, r)
	printCA(w, r)
	for _, p := range r.Problems {
		fmt.Fprintln(d.IO.Err, d.IO.Paint("31", "problem:")+" "+p.String())
	}
	for _, p := range r.Warnings {
		fmt.Fprintln(d.IO.Err, d.IO.Paint("33", "warning:")+" "+p)
	}
	fmt.Fprintf(d.IO.Err, "health: %s\n", r.Health)
}

// cacheLine says what is known about the cache and nothing more: no
// "0 repositories" when the catalog could not be read, no "0 B" when no
// disk was measured.
func cacheLine(c *status.Cache) string {
	var parts []string
	switch {
	case c.Error != "" && len(c.Repositories) == 0 && strings.HasPrefix(c.Error, "catalog: "):
		parts = append(parts, "repositories "+strings.TrimPrefix(c.Error, "catalog: "))
	case c.Error != "" && len(c.Repositories) == 0:
		parts = append(parts, "not checked: "+c.Error)
	default:
		parts = append(parts, fmt.Sprintf("%d repositories (%s)", len(c.Repositories), strings.Join(c.Repositories, ", ")))
	}
	if c.DiskNode != "" {
		parts = append(parts, fmt.Sprintf("%s on disk on %s", report.HumanBytes(c.DiskBytes), c.DiskNode))
	}
	return "Cache: " + strings.Join(parts, ", ")
}
