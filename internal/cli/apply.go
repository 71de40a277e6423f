package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/configure"
	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/fleet"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/report"
	"github.com/swarmctl/swarmctl/internal/stack"
	"github.com/swarmctl/swarmctl/internal/status"
)

// ApplyOptions are the options of `swarmctl apply`.
type ApplyOptions struct {
	Global         *GlobalOptions
	Stack          StackFlags // only --templates; everything else comes from the inventory
	Manager        string
	CreateNetwork  bool
	Wait           time.Duration
	Drain          bool
	MaxUnavailable int
	Timeout        time.Duration
	DryRun         bool
	Yes            bool
}

// ApplyPhase is one phase's outcome in `apply`.
type ApplyPhase struct {
	Name string `json:"name"` // install | configure | status
	// Result: changed, unchanged, failed or skipped (install, configure);
	// healthy, degraded or could-not-check (status).
	Result     string `json:"result"`
	Changed    bool   `json:"changed"`
	Summary    string `json:"summary"`
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// ApplyResult is the JSON document of `apply`: one entry per phase plus
// each phase's full document.
type ApplyResult struct {
	report.Header
	DryRun    bool                  `json:"dry_run"`
	OK        bool                  `json:"ok"`
	Changed   bool                  `json:"changed"`
	Phases    []ApplyPhase          `json:"phases"`
	Install   *MirrorInstallResult  `json:"install,omitempty"`
	Configure *NodesConfigureResult `json:"configure,omitempty"`
	Status    *status.Report        `json:"status,omitempty"`
}

// NewCmdApply builds `swarmctl apply`.
func NewCmdApply(d *Deps, g *GlobalOptions, runF func(context.Context, *ApplyOptions) error) *cobra.Command {
	opts := &ApplyOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "The whole recipe, idempotent: install the mirror, configure every node, check",
		Long: `Makes the swarm match the inventory in one command:

  1. install    mirror install through a manager (nothing redeployed when
                the stack is already right)
  2. configure  nodes configure on every inventory node and every swarm
                member the manager reports (SSH details from the inventory
                defaults); nodes already right cost one command and are not
                reloaded or restarted
  3. status     mirror status: the stack, the endpoint, every node

A second run reports "no changes". Stops after a failed install (nodes are
never pointed at a mirror that did not come up). Exit 0 when everything is
healthy, 1 when a phase failed or status is degraded, 2 on invalid input.`,
		Example: `  swarmctl apply --dry-run
  swarmctl apply
  SWARMCTL_OUTPUT=json swarmctl apply > apply.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runApply(cmd.Context(), d, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Stack.Templates, "templates", "", "`directory` with replacement stack templates")
	f.StringVar(&opts.Manager, "manager", "", "manager to deploy through and ask (default: mirror.manager, else the first)")
	f.BoolVar(&opts.CreateNetwork, "create-network", false, "create the Traefik overlay network when it is missing")
	f.DurationVar(&opts.Wait, "wait", stack.DefaultWait, "how long to wait for the registry to converge and answer (0 = do not wait)")
	f.BoolVar(&opts.Drain, "drain", false, "drain a swarm node, its tasks stopped, before restarting it")
	f.IntVar(&opts.MaxUnavailable, "max-unavailable", 1, "swarm workers restarted at once")
	f.DurationVar(&opts.Timeout, "ready-timeout", 60*time.Second, "how long a reloaded or restarted node may take to be ready again")
	deprecatedAlias(f, "timeout", "ready-timeout")
	f.BoolVar(&opts.DryRun, "dry-run", false, "show the plan, the stack and daemon.json diffs; change nothing")
	f.BoolVarP(&opts.Yes, "yes", "y", false, "restart without asking (needed without a terminal)")
	return cmd
}

func runApply(ctx context.Context, d *Deps, opts *ApplyOptions) error {
	f, err := openFleet(d, opts.Global, true, true)
	if err != nil {
		return err
	}
	defer f.Close()
	inv := f.Inventory()

	// Everything is validated before any node is touched.
	p, err := opts.Stack.prepare(inv)
	if err != nil {
		return err
	}
	if opts.Wait < 0 {
		return usageErr("--wait must not be negative (0 = do not wait)")
	}
	installWait := opts.Wait
	if installWait == 0 {
		installWait = -1 // stack.Install: do not wait
	}
	if opts.MaxUnavailable < 1 {
		return usageErr("--max-unavailable must be at least 1")
	}
	if opts.Timeout <= 0 {
		return usageErr("--ready-timeout must be positive")
	}
	urlValues := p.v
	urlValues.Defaults()
	mirrors, err := wantedMirrors(nil, urlValues.URL, "")
	if err != nil {
		return err
	}
	if len(mirrors) == 0 {
		return usageErr("no mirror URL for the nodes: set mirror.url (or mirror.fqdn) in %s", opts.Global.Inventory)
	}
	ns, err := nodeSideFromValues(urlValues, mirrors, false)
	if err != nil {
		return err
	}
	exp := true
	co := configure.Options{
		ForNode:        ns.forNode(false),
		Settings:       daemonjson.Settings{Mirrors: mirrors, Insecure: inv.Mirror.Insecure, Experimental: &exp},
		Apply:          configure.ApplyAuto,
		Drain:          opts.Drain,
		MaxUnavailable: opts.MaxUnavailable,
		Timeout:        opts.Timeout,
		DryRun:         opts.DryRun,
		Parallel:       opts.Global.Parallel,
		FailFast:       opts.Global.FailFast,
		Now:            d.Now,
		OnNode:         func(nr configure.NodeResult) { d.IO.Progress("%s", nodeLine(d, nr)) },
		Warn:           func(msg string) { warn(d, msg) },
		Progress:       func(msg string) { d.IO.Progress("%s", msg) },
	}

	res := ApplyResult{DryRun: opts.DryRun, Phases: []ApplyPhase{}}
	finish := func(cause error) error {
		res.OK = true
		var bad []string
		for _, p := range res.Phases {
			res.Changed = res.Changed || p.Changed
			if p.Result == "failed" || p.Result == "skipped" || p.Result == status.Degraded || p.Result == status.Unchecked {
				res.OK = false
				bad = append(bad, p.Name+" "+p.Result)
			}
		}
		res.collect()
		err := cause
		if err == nil && !res.OK {
			err = failedQuiet(report.ErrApplyFailed, "apply: "+strings.Join(bad, ", "))
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return emit(d, opts.Global, &res, func() { printApply(d, res) }, err)
	}

	// Read every node and ask the manager for the swarm's members first:
	// the configure phase's plan is known, and consented to, before the
	// install phase changes anything.
	start := d.Now()
	cs := f.Selected()
	f.Connect(ctx, cs, fleet.ConnectOptions{Keep: true})
	defer func() { member.CloseAll(cs) }()
	mgr, err := fleet.PickManager(cs, firstNonEmpty(opts.Manager, inv.Mirror.Manager))
	if err != nil {
		res.Phases = append(res.Phases, ApplyPhase{Name: "install", Result: "failed", Summary: "no manager to install through: " + err.Error(),
			Error: err.Error(), DurationMS: d.Now().Sub(start).Milliseconds()},
			ApplyPhase{Name: "configure", Result: "skipped", Summary: "install failed"})
		return finish(nil)
	}
	more, discoverErr := discoverMembers(ctx, d, f, mgr, append(cs[:len(cs):len(cs)], mgr), fleet.ConnectOptions{})
	targets := append(cs[:len(cs):len(cs)], more...)
	cs = targets
	cons := &consent{d: d, g: opts.Global, yes: opts.Yes, dryRun: opts.DryRun}
	if discoverErr == nil {
		if err := f.CheckLimit(); err != nil {
			return err
		}
		if !opts.DryRun {
			pre := co
			pre.DryRun, pre.OnNode, pre.Warn, pre.Confirm = true, nil, func(string) {}, nil
			pl := configure.Run(ctx, targets, pre).Plan
			if err := cons.plan(pl); err != nil {
				res.Phases = append(res.Phases,
					ApplyPhase{Name: "install", Result: "skipped", Summary: "not started: the plan was not confirmed"},
					ApplyPhase{Name: "configure", Result: "skipped", Summary: "not started: the plan was not confirmed"})
				return finish(err)
			}
			cons.approve(pl)
		}
	}
	co.Confirm = cons.plan

	// Phase 1: install.
	var opened []*member.Member
	defer func() { member.CloseAll(opened) }()
	d.IO.Progress("== install")
	ir, err := installMirror(ctx, d, mgr, p, stack.InstallOptions{Wait: installWait, CreateNetwork: opts.CreateNetwork, DryRun: opts.DryRun,
		Log: func(line string) { d.IO.Progress("%s", line) }, NodeHost: swarmNodeHosts(ctx, f, cs, &opened)})
	res.Install = &ir
	if err != nil {
		res.Phases = append(res.Phases, ApplyPhase{Name: "install", Result: "failed", Summary: "invalid mirror settings: " + firstLine(err.Error()), Error: err.Error()},
			ApplyPhase{Name: "configure", Result: "skipped", Summary: "install failed"})
		return finish(err)
	}
	res.Phases = append(res.Phases, installPhase(ir))
	if ir.Failed() != "" {
		res.Phases = append(res.Phases, ApplyPhase{Name: "configure", Result: "skipped", Summary: "install failed: nodes are not pointed at a mirror that is not up"})
		return finish(nil)
	}

	// Phase 2: configure every node, swarm members missing from the
	// inventory included. Facts gathered above are still true: install
	// does not touch daemon.json.
	d.IO.Progress("== configure")
	start = d.Now()
	if discoverErr != nil {
		res.Phases = append(res.Phases, ApplyPhase{Name: "configure", Result: "failed", Summary: "could not list the swarm's members: " + discoverErr.Error(),
			Error: discoverErr.Error(), DurationMS: d.Now().Sub(start).Milliseconds()})
		return finish(nil)
	}
	rep := configure.Run(ctx, targets, co)
	res.Configure = configureResult(rep, opts.DryRun, false, mirrors)
	res.Configure.SchemaVersion, res.Configure.Error = SchemaVersion, errorInfo(configureFailure(rep))
	res.Phases = append(res.Phases, configurePhase(rep, d.Now().Sub(start)))
	if rep.Declined != nil || opts.DryRun {
		return finish(rep.Declined)
	}
	member.CloseAll(cs)
	cs = nil
	if rep.Summary[configure.Restarted] > 0 && opts.Wait > 0 {
		// A restarted dockerd stopped its containers, the registry's
		// among them when it ran there: give the swarm time to bring it
		// back before judging.
		waitMirror(ctx, d, mirrors[0], opts.Wait)
	}

	// Phase 3: status, from fresh connections (docker may have restarted).
	d.IO.Progress("== status")
	start = d.Now()
	st := buildStatus(ctx, d, f, &MirrorStatusOptions{Manager: mgr.Name, Stack: urlValues.StackName, Timeout: 10 * time.Second}, mirrors, ns)
	st.SchemaVersion, st.Error = SchemaVersion, errorInfo(statusError(st))
	res.Status = st
	res.Phases = append(res.Phases, statusPhase(st, d.Now().Sub(start)))
	return finish(nil)
}

// waitMirror polls GET /v2/ through url until it answers or wait ends.
func waitMirror(ctx context.Context, d *Deps, url string, wait time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	start, said := d.Now(), false
	for {
		if ep := status.CheckEndpoint(ctx, url, 5*time.Second, d.Now); ep.Healthy() {
			if said {
				d.IO.Progress("mirror %s answers again after %s", url, d.Now().Sub(start).Round(time.Second))
			}
			return
		}
		if !said {
			d.IO.Progress("waiting for mirror %s to answer again (docker restarted on some nodes)", url)
			said = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func installPhase(ir MirrorInstallResult) ApplyPhase {
	p := ApplyPhase{Name: "install", Changed: ir.Changed, DurationMS: ir.DurationMS, Error: ir.Failed()}
	pl, r := ir.Result.Plan, ir.Result
	switch {
	case ir.Failed() != "":
		p.Result, p.Summary = "failed", fmt.Sprintf("stack %s through %s: %s", pl.Stack, ir.Manager, firstLine(ir.Failed()))
	case ir.DryRun && ir.Changed:
		p.Result, p.Summary = "changed", fmt.Sprintf("would change stack %s on %s: %s", pl.Stack, ir.Manager, strings.Join(pl.Reasons, "; "))
	case ir.DryRun:
		p.Result, p.Summary = "unchanged", fmt.Sprintf("stack %s on %s is up to date", pl.Stack, ir.Manager)
	case r.Deployed:
		p.Result, p.Summary = "changed", fmt.Sprintf("deployed stack %s on %s; %d/%d running", pl.Stack, ir.Manager, r.Running, r.Replicas)
	case r.Restarted:
		p.Result, p.Summary = "changed", fmt.Sprintf("restarted %s (registry config changed); %d/%d running", pl.Service, r.Running, r.Replicas)
	case ir.Changed:
		p.Result, p.Summary = "changed", fmt.Sprintf("updated stack %s files on %s; %d/%d running", pl.Stack, ir.Manager, r.Running, r.Replicas)
	default:
		p.Result, p.Summary = "unchanged", fmt.Sprintf("stack %s on %s is up to date; %d/%d running", pl.Stack, ir.Manager, r.Running, r.Replicas)
	}
	return p
}

func configurePhase(rep *configure.Report, took time.Duration) ApplyPhase {
	p := ApplyPhase{Name: "configure", Result: "unchanged", DurationMS: took.Milliseconds()}
	var parts, failedNodes []string
	for _, o := range []configure.Outcome{configure.Unchanged, configure.Reloaded, configure.Restarted, configure.Written,
		configure.Updated, configure.WouldReload, configure.WouldRestart, configure.WouldWrite, configure.WouldUpdate, configure.Failed, configure.Skipped} {
		if c := rep.Summary[o]; c > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c, o))
			if o != configure.Unchanged && o != configure.Failed && o != configure.Skipped {
				p.Changed, p.Result = true, "changed"
			}
		}
	}
	for _, n := range rep.Nodes {
		if n.Outcome == configure.Failed || n.Outcome == configure.Skipped {
			failedNodes = append(failedNodes, n.Name+": "+n.Error)
		}
	}
	p.Summary = fmt.Sprintf("%d node(s): %s", len(rep.Nodes), strings.Join(parts, ", "))
	if len(failedNodes) > 0 {
		p.Result, p.Error = "failed", strings.Join(failedNodes, "; ")
		p.Summary += " (" + cause(failedNodes) + ")"
	}
	return p
}

// cause is the first of several problems, short enough for a summary
// line, with how many more there are.
func cause(problems []string) string {
	c := firstLine(problems[0])
	if r := []rune(c); len(r) > 120 {
		c = string(r[:117]) + "..."
	}
	if len(problems) > 1 {
		c += fmt.Sprintf("; and %d more below", len(problems)-1)
	}
	return c
}

func statusPhase(st *status.Report, took time.Duration) ApplyPhase {
	p := ApplyPhase{Name: "status", Result: st.Health, DurationMS: took.Milliseconds()}
	applied := 0
	for _, n := range st.Nodes {
		if n.Mirror != nil && n.Mirror.Configured && n.Mirror.Applied {
			applied++
		}
	}
	p.Summary = fmt.Sprintf("%d/%d node(s) use the mirror", applied, len(st.Nodes))
	if e := st.Endpoint; e != nil && e.Healthy() {
		p.Summary += fmt.Sprintf("; GET %s/v2/: HTTP %d", strings.TrimRight(e.URL, "/"), e.Status)
	}
	if len(st.Problems) > 0 {
		var ps []string
		for _, pr := range st.Problems {
			ps = append(ps, pr.String())
		}
		p.Error = strings.Join(ps, "; ")
		p.Summary += " (" + cause(ps) + ")"
	}
	return p
}

// collect gathers the phases' problems and warnings into the document's
// own, so a CI job reads one list whatever phase found them.
func (res *ApplyResult) collect() {
	res.Problems, res.Warnings = []report.Problem{}, []string{}
	if i := res.Install; i != nil {
		res.Problems, res.Warnings = append(res.Problems, i.Problems...), append(res.Warnings, i.Warnings...)
	}
	if c := res.Configure; c != nil {
		res.Problems, res.Warnings = append(res.Problems, c.Problems...), append(res.Warnings, c.Warnings...)
	}
	if s := res.Status; s != nil {
		res.Problems, res.Warnings = append(res.Problems, s.Problems...), append(res.Warnings, s.Warnings...)
	}
	for _, p := range res.Phases {
		if p.Error != "" && (p.Name == "install" && res.Install == nil || p.Name == "configure" && res.Configure == nil) {
			res.Problems = append(res.Problems, report.Problem{Code: report.ProblemPhaseFailed, Message: p.Name + ": " + p.Error})
		}
	}
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func printApply(d *Deps, res ApplyResult) {
	w := d.IO.Out
	if res.DryRun {
		if res.Install != nil {
			printInstall(d, *res.Install)
		}
		if res.Configure != nil {
			for _, n := range res.Configure.Nodes {
				if n.Diff != "" {
					fmt.Fprintf(w, "# %s: %s\n%s", n.Name, n.Outcome, n.Diff)
					if !strings.HasSuffix(n.Diff, "\n") {
						fmt.Fprintln(w)
					}
				}
			}
		}
	} else if res.Install != nil {
		for _, m := range res.Install.Warnings {
			fmt.Fprintln(d.IO.Err, d.IO.Paint("33", "warning:")+" "+m)
		}
	}
	for _, p := range res.Phases {
		fmt.Fprintf(w, "%-10s %-10s %s\n", p.Name, p.Result, p.Summary)
	}
	for _, p := range res.Phases {
		if p.Error != "" {
			fmt.Fprintf(d.IO.Err, "%s %s: %s\n", d.IO.Paint("31", "problem:"), p.Name, p.Error)
		}
	}
	switch {
	case res.DryRun && !res.Changed && res.OK:
		fmt.Fprintln(w, "no changes: the mirror and every node already match the inventory")
	case res.DryRun:
		fmt.Fprintln(d.IO.Err, "dry run: nothing was changed")
	case !res.Changed && res.OK:
		fmt.Fprintln(w, "no changes: the mirror and every node already match the inventory")
	case res.OK:
		fmt.Fprintln(w, "applied: the mirror and every node match the inventory")
	}
}
