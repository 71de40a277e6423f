package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/configure"
	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/fleet"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/report"
)

// NodesConfigureOptions are the options of `swarmctl nodes configure`.
type NodesConfigureOptions struct {
	Global  *GlobalOptions
	Mirrors []string
	// Registries is --registry: the upstreams mirrored (default
	// mirror.registries).
	Registries     RegistryFlag
	Experimental   bool
	Insecure       bool
	Remove         bool
	Apply          string
	Drain          bool
	MaxUnavailable int
	DaemonJSON     string
	Service        string
	Timeout        time.Duration
	DryRun         bool
	// Discover: also configure swarm members missing from the inventory
	// that --limit keeps, as a manager (Manager, else the first reachable
	// one) reports them. See discoverForConfigure.
	Discover bool
	Manager  string
	// Yes allows restarts and removals without asking (no terminal).
	Yes bool

	// Set from cmd.Flags().Changed: an explicit value beats the inventory
	// (--insecure) or --remove's "leave experimental alone".
	ExperimentalSet bool
	InsecureSet     bool
}

// NodesConfigureResult is the JSON document of `nodes configure`.
type NodesConfigureResult struct {
	report.Header
	DryRun  bool     `json:"dry_run"`
	Mirrors []string `json:"mirrors"`
	Remove  bool     `json:"remove"`
	// Plan is what the run decided after reading every node, in the
	// order it changes them (null when no node was read).
	Plan    *configure.Plan           `json:"plan"`
	Nodes   []configure.NodeResult    `json:"nodes"`
	Summary map[configure.Outcome]int `json:"summary"`
}

// configureResult is the document of a configure run (also apply's
// configure phase): failed and skipped nodes are its problems.
func configureResult(rep *configure.Report, dryRun, remove bool, mirrors []string) *NodesConfigureResult {
	res := &NodesConfigureResult{DryRun: dryRun, Mirrors: mirrors, Remove: remove, Plan: rep.Plan, Nodes: rep.Nodes, Summary: rep.Summary}
	res.Command = "nodes configure"
	res.Warnings = rep.Warnings
	for _, n := range rep.Nodes {
		for _, w := range n.FileWarnings {
			res.Warnings = append(res.Warnings, n.Name+": "+w)
		}
	}
	for _, n := range rep.Nodes {
		switch n.Outcome {
		case configure.Failed:
			res.Problems = append(res.Problems, report.Problem{Code: report.ProblemNodeFailed, Node: n.Name, Message: n.Error})
		case configure.Skipped:
			res.Problems = append(res.Problems, report.Problem{Code: report.ProblemNotAttempted, Node: n.Name, Message: n.Error})
		}
	}
	return res
}

// configureFailure is the error of a configure run that was not
// confirmed, or whose nodes failed.
func configureFailure(rep *configure.Report) error {
	if rep.Declined != nil {
		return rep.Declined
	}
	if !rep.Failed() {
		return nil
	}
	return failedQuiet(report.ErrNodesFailed, fmt.Sprintf("%d of %d node(s) failed", rep.Summary[configure.Failed], len(rep.Nodes)))
}

// NewCmdNodesConfigure builds `swarmctl nodes configure`.
func NewCmdNodesConfigure(d *Deps, g *GlobalOptions, runF func(context.Context, *NodesConfigureOptions) error) *cobra.Command {
	opts := &NodesConfigureOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "configure",
		Short: "Point every node's daemon.json at the mirror; reload or restart docker safely",
		Long: `Merges "registry-mirrors" (and "experimental") into each node's daemon.json,
keeping every other key and the file's formatting, then puts it into effect:
a reload (SIGHUP, containers keep running) when only mirrors change, else a
restart. Swarm nodes are restarted in a quorum-safe order: workers in batches
of --max-unavailable, then managers one at a time with the leader last, each
only while the other managers are reachable and the next only once it is
Ready and Reachable again. A node that runs a mirror replica (replica_nodes)
must also have its replica answer again within --ready-timeout, else the
rollout stops there (exit 1).

Per node: one command reads everything; if the file is already right nothing
else happens. Otherwise swarmctl takes a lock on the node, re-reads, refuses
when the unit passes the same setting as a dockerd flag (dockerd would not
start), backs up the file (the newest 5 backups are kept next to it), writes
atomically, validates (Docker >= 23), reloads or restarts, and verifies with
docker info. Any failure after the write restores the old file.`,
		Example: `  swarmctl nodes configure --dry-run
  swarmctl nodes configure --mirror https://mirror.example.com
  swarmctl nodes configure --yes                 # no terminal (CI): restarts need it
  swarmctl nodes configure --discover --yes      # the CI job when nodes join
  swarmctl nodes configure --apply none          # write only, apply later
  swarmctl nodes configure --remove              # take the mirror out again`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ExperimentalSet = cmd.Flags().Changed("experimental")
			opts.InsecureSet = cmd.Flags().Changed("insecure")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runNodesConfigure(cmd.Context(), d, opts)
		},
	}
	f := cmd.Flags()
	mirrorsVar(f, &opts.Mirrors, "mirror", "mirror `URL` (repeatable; default: the inventory's mirror)")
	opts.Registries.addFlag(f)
	f.BoolVar(&opts.Experimental, "experimental", true, `set "experimental" to this value (needs a restart when it changes)`)
	f.BoolVar(&opts.Insecure, "insecure", false, "also list the mirrors in insecure-registries (default: mirror.insecure)")
	f.BoolVar(&opts.Remove, "remove", false, "take the mirrors out of daemon.json again (asks)")
	f.StringVar(&opts.Apply, "apply", "auto", "how to apply: auto | reload | restart | none (write only)")
	f.BoolVar(&opts.Drain, "drain", false, "drain a swarm node, its tasks stopped, before restarting it")
	f.IntVar(&opts.MaxUnavailable, "max-unavailable", 1, "swarm workers restarted at once")
	f.StringVar(&opts.DaemonJSON, "daemon-json", "", "daemon.json `path` (default: detected from the unit)")
	f.StringVar(&opts.Service, "service", "", "docker unit (default: docker-latest if present, else docker)")
	f.DurationVar(&opts.Timeout, "ready-timeout", 60*time.Second, "how long a reloaded or restarted node may take to be ready again")
	deprecatedAlias(f, "timeout", "ready-timeout")
	f.BoolVar(&opts.DryRun, "dry-run", false, "show the plan and each node's daemon.json diff; change nothing")
	f.BoolVar(&opts.Discover, "discover", false, "also configure swarm members the inventory lacks (a manager lists them)")
	f.BoolVarP(&opts.Yes, "yes", "y", false, "restart and remove without asking (needed without a terminal)")
	f.StringVar(&opts.Manager, "manager", "", "with --discover: the manager to ask (a node's name, or `[user@]host[:port]`)")
	return cmd
}

// configureOptions turns flags (and inventory defaults) into engine
// options. Every mirror is validated here, before any node is touched.
func (opts *NodesConfigureOptions) configureOptions(d *Deps, f *fleet.Fleet) (configure.Options, error) {
	var o configure.Options
	mode, err := configure.ParseApplyMode(opts.Apply)
	if err != nil {
		return o, usageErr("%v", err)
	}
	if opts.MaxUnavailable < 1 {
		return o, usageErr("--max-unavailable must be at least 1")
	}
	if opts.Timeout <= 0 {
		return o, usageErr("--ready-timeout must be positive")
	}
	inv := f.Inventory()
	mirrors, err := wantedMirrors(opts.Mirrors, inv.Mirror.URL, inv.Mirror.FQDN)
	if err != nil {
		return o, err
	}
	if len(mirrors) == 0 {
		return o, usageErr("no mirror: give --mirror URL or set mirror.url (or mirror.fqdn) in %s", opts.Global.Inventory)
	}
	ns, err := nodeSideOf(inv, mirrors, len(opts.Mirrors) > 0, &opts.Registries)
	if err != nil {
		return o, err
	}
	for _, r := range ns.noURL {
		warn(d, "upstream "+r+": no URL for the nodes (behind Traefik it needs mirror.fqdn; else mirror.url and a published port, or its own url): no node is pointed at it")
	}
	if opts.Remove {
		// Every replica's URL comes out, whichever order a node has.
		for _, u := range ns.allHubURLs() {
			if !slices.Contains(mirrors, u) {
				mirrors = append(mirrors, u)
			}
		}
	}
	settings := daemonjson.Settings{Mirrors: mirrors, Insecure: inv.Mirror.Insecure, Remove: opts.Remove}
	if opts.InsecureSet {
		settings.Insecure = opts.Insecure
	}
	if !opts.Remove || opts.ExperimentalSet {
		v := opts.Experimental
		settings.Experimental = &v
	}
	return configure.Options{
		Settings:       settings,
		Apply:          mode,
		Drain:          opts.Drain,
		MaxUnavailable: opts.MaxUnavailable,
		DaemonJSON:     opts.DaemonJSON,
		Service:        opts.Service,
		Timeout:        opts.Timeout,
		DryRun:         opts.DryRun,
		Parallel:       opts.Global.Parallel,
		FailFast:       opts.Global.FailFast,
		Now:            d.Now,
		Observers:      f.OtherManagers(),
		ForNode:        ns.forNode(opts.Remove),
	}, nil
}

func runNodesConfigure(ctx context.Context, d *Deps, opts *NodesConfigureOptions) error {
	// With --discover and --manager the swarm's members are the nodes:
	// no inventory or --host is needed (the CI job with flags only).
	f, err := openFleet(d, opts.Global, !(opts.Discover && opts.Manager != ""), opts.Discover)
	if err != nil {
		return err
	}
	defer f.Close()
	o, err := opts.configureOptions(d, f)
	if err != nil {
		return err
	}
	o.OnNode = func(r configure.NodeResult) { d.IO.Progress("%s", nodeLine(d, r)) }
	o.Warn = func(msg string) { warn(d, msg) }
	o.Progress = func(msg string) { d.IO.Progress("%s", msg) }
	if opts.Remove && opts.Global.fromEnv["remove"] {
		warn(d, "SWARMCTL_REMOVE is set: this run takes the mirror OUT of daemon.json")
	}
	cons := &consent{d: d, g: opts.Global, yes: opts.Yes, dryRun: opts.DryRun}
	o.Confirm = cons.plan
	// Without --discover configure dials each node itself, so that a
	// node's connection is open only while it is worked on.
	targets := f.Selected()
	if opts.Discover {
		var all []*member.Member
		targets, all, err = discoverForConfigure(ctx, d, f, opts.Manager, fleet.ConnectOptions{Service: opts.Service, DaemonJSON: opts.DaemonJSON})
		defer member.CloseAll(all)
		var ie *fleet.InputError
		if errors.As(err, &ie) {
			return err
		}
		if err != nil {
			return failed("--discover: " + err.Error())
		}
		if err := f.CheckLimit(); err != nil {
			return err
		}
	}
	rep := configure.Run(ctx, targets, o)
	res := configureResult(rep, opts.DryRun, opts.Remove, o.Settings.Mirrors)
	err = configureFailure(rep)
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return emit(d, opts.Global, res, func() { printConfigure(d, *res) }, err)
}

// discoverForConfigure is `nodes configure --discover` (and apply's
// configure phase, given its manager): it connects to the selected nodes,
// asks a manager for the swarm's members and returns the selected nodes
// and the members Discover found as targets, connected with their facts.
// The manager is want (any inventory node, selected or not, else an
// ad-hoc host), else the first reachable selected manager, else one of the
// inventory's managers --limit left out; it is a target only if it is
// selected. all are every member connected (the caller closes them).
func discoverForConfigure(ctx context.Context, d *Deps, f *fleet.Fleet, want string, co fleet.ConnectOptions) (targets, all []*member.Member, err error) {
	ask, err := f.ManagerToAsk(want)
	if err != nil {
		return nil, nil, err
	}
	co.Keep = true
	cs := f.Selected()
	f.Connect(ctx, cs, co)
	mgr, asked, err := f.AskManager(ctx, cs, want, ask, co)
	all = append(cs[:len(cs):len(cs)], asked...)
	if err != nil {
		return nil, all, err
	}
	if len(cs) == 0 && mgr.Facts != nil && f.LimitAllows(member.SwarmNode{Hostname: mgr.Facts.Hostname, Addr: mgr.Target.Host, Role: "manager"}) {
		// Nothing selected (no inventory, no --host): the swarm's members
		// are the nodes, the manager asked among them (--limit applies).
		cs = append(cs, mgr)
	}
	more, err := discoverMembers(ctx, d, f, mgr, append(cs[:len(cs):len(cs)], mgr), co)
	all = append(all, more...)
	if err != nil {
		return nil, all, err
	}
	return append(cs, more...), all, nil
}

// discoverMembers asks mgr for the swarm's members, connects to those
// the fleet does not have (SSH details from the inventory's defaults) and
// says so on stderr. A member that could not be reached stays, and fails
// as a target.
func discoverMembers(ctx context.Context, d *Deps, f *fleet.Fleet, mgr *member.Member, have []*member.Member, co fleet.ConnectOptions) ([]*member.Member, error) {
	more, err := f.Discover(ctx, mgr, have)
	if err != nil {
		return nil, err
	}
	co.Keep = true
	f.Connect(ctx, more, co)
	for _, m := range more {
		what := "discovered"
		if m.Err != nil {
			what += ", unreachable"
		}
		d.IO.Progress("%s (%s): %s", m.Name, m.Address(), what)
	}
	return more, nil
}

// nodeLine is the progress line printed as each node finishes.
func nodeLine(d *Deps, r configure.NodeResult) string {
	var b strings.Builder
	b.WriteString(r.Name + ": ")
	switch r.Outcome {
	case configure.Failed:
		b.WriteString(d.IO.Paint("31", "failed") + ": " + r.Error)
		if r.Journal != "" {
			b.WriteString("\n    " + strings.ReplaceAll(r.Journal, "\n", "\n    "))
		}
	case configure.Skipped:
		b.WriteString("skipped (" + r.Error + ")")
	case configure.Restarted:
		fmt.Fprintf(&b, "%s (pid %d -> %d)", d.IO.Paint("32", "restarted"), r.OldPID, r.NewPID)
	case configure.Reloaded:
		fmt.Fprintf(&b, "%s (pid %d unchanged)", d.IO.Paint("32", "reloaded"), r.NewPID)
	case configure.Written:
		b.WriteString("written " + r.Path + " (pending: takes effect at the next reload/restart)")
	case configure.Updated:
		b.WriteString(d.IO.Paint("32", "updated") + " " + fmt.Sprint(len(r.Files)) + " certs.d file(s) (read at the next pull; docker not reloaded or restarted)")
	default:
		b.WriteString(string(r.Outcome))
	}
	if r.Note != "" {
		b.WriteString("; " + r.Note)
	}
	return b.String()
}

func printConfigure(d *Deps, res NodesConfigureResult) {
	for _, n := range res.Nodes {
		if n.Diff != "" {
			fmt.Fprintf(d.IO.Out, "# %s: %s\n%s", n.Name, n.Outcome, n.Diff)
			if !strings.HasSuffix(n.Diff, "\n") {
				fmt.Fprintln(d.IO.Out)
			}
		}
		for _, op := range n.Files {
			if op.Diff == "" {
				continue
			}
			fmt.Fprintf(d.IO.Out, "# %s: %s %s\n%s", n.Name, op.Action, op.Path, op.Diff)
			if !strings.HasSuffix(op.Diff, "\n") {
				fmt.Fprintln(d.IO.Out)
			}
		}
		for _, w := range n.FileWarnings {
			warn(d, n.Name+": "+w)
		}
	}
	tw := tabwriter.NewWriter(d.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tOUTCOME\tROLE\tSERVICE\tDAEMON.JSON\tPID\tCHANGES")
	for _, n := range res.Nodes {
		pid := "-"
		switch {
		case n.NewPID != 0 && n.NewPID != n.OldPID:
			pid = fmt.Sprintf("%d->%d", n.OldPID, n.NewPID)
		case n.OldPID != 0:
			pid = fmt.Sprint(n.OldPID)
		}
		var ch []string
		for _, c := range n.Changes {
			ch = append(ch, c.Action+" "+c.Key)
		}
		for _, op := range n.Files {
			ch = append(ch, op.Action+" "+op.Path)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Outcome, dash(n.Role), dash(n.Service), dash(n.Path), pid, dash(strings.Join(ch, ", ")))
	}
	tw.Flush()
	var parts []string
	for _, o := range []configure.Outcome{configure.Unchanged, configure.Reloaded, configure.Restarted, configure.Written,
		configure.Updated, configure.WouldReload, configure.WouldRestart, configure.WouldWrite, configure.WouldUpdate, configure.Failed, configure.Skipped} {
		if c := res.Summary[o]; c > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c, o))
		}
	}
	fmt.Fprintf(d.IO.Err, "%d node(s): %s\n", len(res.Nodes), strings.Join(parts, ", "))
	if res.Remove {
		n := res.Summary[configure.Reloaded] + res.Summary[configure.Restarted] + res.Summary[configure.Written] + res.Summary[configure.Updated]
		verb := "REMOVED from"
		if res.DryRun {
			n, verb = res.Summary[configure.WouldReload]+res.Summary[configure.WouldRestart]+res.Summary[configure.WouldWrite]+res.Summary[configure.WouldUpdate], "would be REMOVED from"
		}
		fmt.Fprintf(d.IO.Err, "mirror %s %s daemon.json on %d node(s)\n", strings.Join(res.Mirrors, ", "), verb, n)
	}
	if res.DryRun {
		fmt.Fprintln(d.IO.Err, "dry run: nothing was changed")
	}
}
