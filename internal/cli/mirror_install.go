package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/fleet"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/report"
	"github.com/swarmctl/swarmctl/internal/stack"
	"github.com/swarmctl/swarmctl/internal/status"
)

// MirrorInstallOptions are the options of `swarmctl mirror install`.
type MirrorInstallOptions struct {
	Global        *GlobalOptions
	Stack         StackFlags
	Manager       string
	CreateNetwork bool
	Wait          time.Duration
	DryRun        bool
}

// MirrorInstallResult is the JSON document of `mirror install` (and the
// install phase of `apply`). It never holds the upstream password.
type MirrorInstallResult struct {
	report.Header
	DryRun  bool                `json:"dry_run"`
	Manager string              `json:"manager"`
	Changed bool                `json:"changed"`
	Values  stack.Values        `json:"values"`
	Result  stack.InstallResult `json:"result"`
	// Endpoint is GET /v2/ through the mirror URL from where swarmctl runs.
	Endpoint *status.Endpoint `json:"endpoint,omitempty"`
	// Endpoints are GET /v2/ through every other URL nodes use (the
	// other upstreams and replicas), from where swarmctl runs.
	Endpoints []status.Endpoint `json:"endpoints,omitempty"`
	// Traefik is what mirror.traefik: auto became and why (absent when
	// the inventory or --traefik named the labels).
	Traefik *stack.TraefikDecision `json:"traefik,omitempty"`

	// failure is why the install failed ("" = it did not), redacted.
	failure string
}

// Failed is why the install failed ("" when it did not).
func (r *MirrorInstallResult) Failed() string { return r.failure }

// installError is the exit of an install that failed.
func installError(res *MirrorInstallResult) error {
	if res.failure == "" {
		return nil
	}
	return failedQuiet(report.ErrInstallFailed, "mirror install on "+res.Manager+" failed: "+res.failure)
}

// NewCmdMirrorInstall builds `swarmctl mirror install`.
func NewCmdMirrorInstall(d *Deps, g *GlobalOptions, runF func(context.Context, *MirrorInstallOptions) error) *cobra.Command {
	opts := &MirrorInstallOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Deploy the registry pull-through cache as a swarm stack through a manager",
		Long: `Renders the stack file and the registry config (from the inventory's mirror:
section; flags win), validates every value before touching a node, then on one
manager: creates the directories, writes both files (the config 0600 when it
holds upstream credentials), runs docker stack deploy when the stack file
changed, restarts the registry when only its config changed, waits for the
service to converge and checks GET /v2/ from the manager and from here. From
the manager: through the published port; with nothing published, inside the
registry's task container on the manager (docker exec), and when no task runs
there the result says "not checked" (health.not_checked) with a warning.

Idempotent: when nothing differs nothing is redeployed. --dry-run prints the
diffs (passwords redacted) and what would run.`,
		Example: `  swarmctl mirror install --dry-run
  swarmctl mirror install --fqdn mirror.example.com --traefik v2
  swarmctl mirror install --traefik none --publish-mode host --constraint node.hostname==m1 --url http://10.0.0.5:5000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMirrorInstall(cmd.Context(), d, opts)
		},
	}
	opts.Stack.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&opts.Manager, "manager", "", "manager to deploy through (default: mirror.manager, else the first)")
	cmd.Flags().BoolVar(&opts.CreateNetwork, "create-network", false, "create the Traefik overlay network when it is missing")
	cmd.Flags().DurationVar(&opts.Wait, "wait", stack.DefaultWait, "how long to wait for the registry to run and answer (0 = do not wait)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show the diffs and what would run; change nothing")
	return cmd
}

func (opts *MirrorInstallOptions) installOptions(d *Deps) (stack.InstallOptions, error) {
	if opts.Wait < 0 {
		return stack.InstallOptions{}, usageErr("--wait must not be negative")
	}
	o := stack.InstallOptions{Wait: opts.Wait, CreateNetwork: opts.CreateNetwork, DryRun: opts.DryRun,
		Log: func(line string) { d.IO.Progress("%s", line) }}
	if opts.Wait == 0 {
		o.Wait = -1
	}
	return o, nil
}

func runMirrorInstall(ctx context.Context, d *Deps, opts *MirrorInstallOptions) error {
	f, err := openFleet(d, opts.Global, true)
	if err != nil {
		return err
	}
	defer f.Close()
	p, err := opts.Stack.prepare(f.Inventory())
	if err != nil {
		return err
	}
	iopts, err := opts.installOptions(d)
	if err != nil {
		return err
	}
	cs, mgr, err := connectManager(ctx, f, opts.Manager)
	defer member.CloseAll(cs)
	if err != nil {
		return err
	}
	var opened []*member.Member
	defer func() { member.CloseAll(opened) }()
	iopts.NodeHost = swarmNodeHosts(ctx, f, cs, &opened)
	res, err := installMirror(ctx, d, mgr, p, iopts)
	if err == nil {
		err = installError(&res)
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return emit(d, opts.Global, &res, func() { printInstall(d, res) }, err)
}

// swarmNodeHosts gives install and uninstall a connection to a swarm node
// by its hostname: a member already connected whose facts (or inventory
// name) say so, else the selected node of that inventory name or host,
// else, once, every other selected node, matched by the hostname its facts
// report. Members it connects are added to *opened (the caller closes
// them). nil when no selected node is that swarm node.
func swarmNodeHosts(ctx context.Context, f *fleet.Fleet, have []*member.Member, opened *[]*member.Member) func(string) nodes.Host {
	var rest []*member.Member
	restDone := false
	match := func(ms []*member.Member, name string, byInventory bool) nodes.Host {
		for _, m := range ms {
			if m.Conn == nil {
				continue
			}
			if (m.Facts != nil && m.Facts.Hostname == name) || (byInventory && (m.Name == name || m.Target.Host == name)) {
				return m.Conn
			}
		}
		return nil
	}
	connected := func(m *member.Member) bool {
		for _, c := range append(have[:len(have):len(have)], *opened...) {
			if c.Name == m.Name && c.Conn != nil {
				return true
			}
		}
		return false
	}
	return func(name string) nodes.Host {
		if h := match(have, name, true); h != nil {
			return h
		}
		if h := match(*opened, name, true); h != nil {
			return h
		}
		for _, m := range f.Selected() {
			if (m.Name == name || m.Target.Host == name) && !connected(m) {
				f.Connect(ctx, []*member.Member{m}, fleet.ConnectOptions{Keep: true})
				*opened = append(*opened, m)
				if m.Conn != nil {
					return m.Conn
				}
			}
		}
		if !restDone {
			restDone = true
			for _, m := range f.Selected() {
				if !connected(m) {
					rest = append(rest, m)
				}
			}
			f.Connect(ctx, rest, fleet.ConnectOptions{Keep: true})
			*opened = append(*opened, rest...)
		}
		return match(*opened, name, false)
	}
}

// connectManager connects to the manager to work through: --manager,
// else the inventory's mirror.manager, else the first reachable manager
// (see fleet.ConnectManager). Not reaching one fails the command (exit 1).
func connectManager(ctx context.Context, f *fleet.Fleet, flag string) ([]*member.Member, *member.Member, error) {
	cs, mgr, err := f.ConnectManager(ctx, firstNonEmpty(flag, f.Inventory().Mirror.Manager))
	var ie *fleet.InputError
	if err != nil && !errors.As(err, &ie) {
		err = failed(err.Error())
	}
	return cs, mgr, err
}

// installMirror decides traefik auto through mgr, installs the rendered
// stack through it and checks the mirror URL from here. Problems end up
// in the result (failure, Problems, Warnings); the error is set only when
// the values turned out invalid once Traefik was decided (exit 2,
// nothing changed).
func installMirror(ctx context.Context, d *Deps, mgr *member.Member, p preparedStack, o stack.InstallOptions) (MirrorInstallResult, error) {
	start := d.Now()
	res := MirrorInstallResult{DryRun: o.DryRun, Manager: mgr.Name, Values: p.v}
	res.Command, res.SchemaVersion, res.Warnings, res.Problems = "mirror install", SchemaVersion, []string{}, []report.Problem{}
	res.Warnings = append(res.Warnings, p.warnings...)
	r, dec, err := p.resolve(ctx, mgr.Conn)
	res.Traefik = dec
	if dec != nil {
		d.IO.Progress("traefik: auto -> %s: %s", dec.Mode, dec.Reason)
		res.Warnings = append(res.Warnings, dec.Warnings...)
	}
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return res, withHint(err, "traefik auto chose "+traefikMode(dec)+"; set mirror.traefik (or --traefik) and the settings it needs")
		}
		res.failure = err.Error()
		res.Problems = append(res.Problems, report.Problem{Code: report.ProblemInstallFailed, Node: mgr.Name, Message: res.failure})
		res.Error = errorInfo(installError(&res))
		return res, nil
	}
	res.Values = r.Redacted().Values
	ir, err := stack.Install(ctx, mgr.Conn, r, o)
	res.Result = ir
	if ir.Wrote == nil {
		res.Result.Wrote = []string{}
	}
	res.Changed = ir.Plan.Changed() || ir.Deployed || ir.Restarted || ir.NetworkCreated || len(ir.Wrote) > 0
	if err != nil {
		var pe *stack.PlacementError
		if errors.As(err, &pe) {
			// A replica node the swarm cannot place a cache on: nothing changed.
			return res, &exitError{code: ExitError, kind: report.ErrInput, err: errors.New(r.Redact(err.Error()))}
		}
		res.failure = r.Redact(err.Error())
		res.Problems = append(res.Problems, report.Problem{Code: report.ProblemInstallFailed, Node: mgr.Name, Message: res.failure})
		res.Error = errorInfo(installError(&res))
	}
	res.Warnings = append(res.Warnings, ir.Warnings...)
	for _, sr := range ir.Services {
		for _, hl := range sr.Health {
			if w := notCheckedWarning(mgr.Name, &hl); err == nil && w != "" {
				res.Warnings = append(res.Warnings, w)
			}
		}
	}
	if err == nil && !o.DryRun && o.Wait >= 0 {
		first := true
		for _, e := range r.Endpoints {
			for _, u := range e.URLs {
				ep := status.CheckEndpoint(ctx, u, 10*time.Second, d.Now)
				if first {
					res.Endpoint = &ep
					first = false
				} else {
					res.Endpoints = append(res.Endpoints, ep)
				}
				if ep.Healthy() {
					continue
				}
				why := ep.Error
				if why == "" {
					why = fmt.Sprintf("HTTP %d", ep.Status)
				}
				msg := fmt.Sprintf("mirror URL %s (%s) does not answer GET /v2/ from here (%s): nodes use this URL", u, e.Registry, why)
				if r.Values.PublishMode == stack.PublishHost && !r.Values.PerNode() {
					msg += "; with --publish-mode host it must point at the node running the task (pin it with --constraint node.hostname==...)"
				}
				res.Warnings = append(res.Warnings, msg)
			}
		}
	}
	res.DurationMS = d.Now().Sub(start).Milliseconds()
	return res, nil
}

func traefikMode(d *stack.TraefikDecision) string {
	if d == nil {
		return "nothing"
	}
	return d.Mode
}

// notCheckedWarning says that install could not check the registry from
// the manager (nothing published and no task there): the result is not a
// health check that passed.
func notCheckedWarning(manager string, h *stack.Health) string {
	if h == nil || h.NotChecked == "" {
		return ""
	}
	return fmt.Sprintf("registry not checked from the manager %s: %s", manager, h.NotChecked)
}

func printInstall(d *Deps, res MirrorInstallResult) {
	w := d.IO.Out
	p := res.Result.Plan
	if res.DryRun {
		for _, f := range p.Files {
			switch {
			case f.Diff != "":
				fmt.Fprint(w, f.Diff)
				if !strings.HasSuffix(f.Diff, "\n") {
					fmt.Fprintln(w)
				}
			case f.Hidden && f.Changed:
				fmt.Fprintf(w, "# %s: the TLS key would be written (never shown)\n", f.Path)
			case f.SecretChanged:
				fmt.Fprintf(w, "# %s: only a secret value changes (not shown)\n", f.Path)
			}
			if f.ModeWrong {
				fmt.Fprintf(w, "# %s: mode %s would become 0600\n", f.Path, f.RemoteMode)
			}
		}
		if pl := p.Placement; pl != nil {
			for _, n := range pl.Label {
				fmt.Fprintf(w, "would label node %s %s=true (a replica node)\n", n, pl.LabelKey)
			}
			for _, n := range pl.Unlabel {
				fmt.Fprintf(w, "would remove label %s from node %s (no longer a replica node)\n", pl.LabelKey, n)
			}
		}
		for _, dp := range p.DataDirs {
			if !dp.Exists {
				fmt.Fprintf(w, "would create data directory %s on %s\n", dp.Path, firstNonEmpty(dp.Node, res.Manager))
			}
		}
		for _, svc := range p.Recreate {
			fmt.Fprintf(w, "would remove service %s and create it again (its mode changes; the data stays)\n", svc)
		}
		switch {
		case p.Deploy:
			fmt.Fprintf(w, "would run docker stack deploy --prune %s on %s: %s\n", p.Stack, res.Manager, strings.Join(p.Reasons, "; "))
		case p.Restart:
			fmt.Fprintf(w, "would restart %s on %s: %s\n", strings.Join(p.RestartServices, ", "), res.Manager, strings.Join(p.Reasons, "; "))
		}
		for _, f := range p.OrphanFiles {
			fmt.Fprintf(w, "would delete %s once the new stack runs (its upstream is no longer mirrored)\n", f)
		}
		if p.Network != "" && !p.NetworkExists {
			fmt.Fprintf(w, "would create network %s\n", p.Network)
		}
		if !p.Changed() {
			fmt.Fprintf(w, "no changes: stack %s on %s is up to date\n", p.Stack, res.Manager)
		}
		fmt.Fprintln(d.IO.Err, "dry run: nothing was changed")
	} else {
		ir := res.Result
		switch {
		case res.failure != "":
			fmt.Fprintf(w, "mirror install on %s failed\n", res.Manager)
		case !res.Changed:
			fmt.Fprintf(w, "no changes: stack %s on %s is up to date", p.Stack, res.Manager)
		case ir.Deployed:
			fmt.Fprintf(w, "deployed stack %s on %s", p.Stack, res.Manager)
		case ir.Restarted:
			fmt.Fprintf(w, "restarted %s on %s (registry config changed)", strings.Join(p.RestartServices, ", "), res.Manager)
		default:
			fmt.Fprintf(w, "updated files of stack %s on %s", p.Stack, res.Manager)
		}
		if res.failure == "" {
			if len(ir.Services) == 1 && ir.Converged {
				fmt.Fprintf(w, "; %s %d/%d running", p.Service, ir.Running, ir.Replicas)
			}
			if h := ir.Health; len(ir.Services) == 1 && h != nil && h.OK && h.Via == stack.HealthViaTask {
				fmt.Fprintf(w, "; GET /v2/ inside task container %s: HTTP %d", h.Container, h.Status)
			}
			if e := res.Endpoint; len(ir.Services) == 1 && e != nil && e.Healthy() {
				fmt.Fprintf(w, "; GET %s/v2/: HTTP %d in %d ms", strings.TrimRight(e.URL, "/"), e.Status, e.LatencyMS)
			}
			fmt.Fprintln(w)
			if len(ir.Services) > 1 {
				printServices(d, res)
			}
		}
		for _, rm := range p.Removed {
			if ir.Deployed {
				fmt.Fprintf(w, "removed service %s (no longer mirrored); kept its data directory %s\n", rm.Service, orNone(rm.DataDir))
			}
		}
		for _, c := range ir.Cleaned {
			fmt.Fprintf(d.IO.Err, "cleaned up %s\n", c)
		}
	}
	for _, m := range res.Warnings {
		fmt.Fprintln(d.IO.Err, d.IO.Paint("33", "warning:")+" "+m)
	}
	if res.failure != "" {
		fmt.Fprintln(d.IO.Err, d.IO.Paint("31", "Error:")+" "+res.failure)
	}
}

// printServices prints one line per upstream's service: tasks running and
// each replica's GET /v2/ from the manager.
func printServices(d *Deps, res MirrorInstallResult) {
	w := d.IO.Out
	for _, sr := range res.Result.Services {
		fmt.Fprintf(w, "  %-12s %s %d/%d running", sr.Registry, sr.Service, sr.Running, sr.Desired)
		for _, h := range sr.Health {
			switch {
			case h.OK:
				fmt.Fprintf(w, "; GET %s: HTTP %d", h.URL, h.Status)
			case h.NotChecked != "":
				fmt.Fprintf(w, "; not checked from the manager")
			}
		}
		fmt.Fprintln(w)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
