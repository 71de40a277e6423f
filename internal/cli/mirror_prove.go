package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/fleet"
	"github.com/swarmctl/swarmctl/internal/hoststoml"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/prove"
	"github.com/swarmctl/swarmctl/internal/report"
	"github.com/swarmctl/swarmctl/internal/stack"
	"github.com/swarmctl/swarmctl/internal/warm"
)

// DefaultProbeImages are the probe images of the upstreams that have one:
// small, public, multi-platform. Any other upstream needs --image.
var DefaultProbeImages = map[string]string{hoststoml.DockerHub: "busybox:latest"}

// MirrorProveOptions are the options of `swarmctl mirror prove`.
type MirrorProveOptions struct {
	Global      *GlobalOptions
	Images      []string
	Manager     string
	NodeTimeout time.Duration
}

// ProbeImage is one probe in the JSON document.
type ProbeImage struct {
	Image    string `json:"image"`    // as given
	Registry string `json:"registry"` // upstream
	Pinned   string `json:"pinned"`   // what the nodes pulled: repo@digest
	Digest   string `json:"digest"`
	// ResolvedVia is where the tag was resolved: "mirror", "upstream"
	// (the mirror did not answer), or "given" (pinned already).
	ResolvedVia string `json:"resolved_via"`
	Service     string `json:"service"` // the registry service whose log was read
	Mirror      string `json:"mirror"`
	LogError    string `json:"log_error,omitempty"` // the log could not be read: why
	// Unmatched counts requests for the probe the log has from addresses
	// of no single node (see prove's package doc).
	Unmatched int `json:"unmatched"`
}

// ProveNode is one node and probe in the JSON document.
type ProveNode struct {
	Name       string `json:"name"`
	Address    string `json:"address"`
	Registry   string `json:"registry"`
	Image      string `json:"image"`
	Mirror     string `json:"mirror"`
	Verdict    string `json:"verdict"` // via-mirror, bypassed, failed
	ReasonCode string `json:"reason_code,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Evidence   string `json:"evidence,omitempty"`
	PullMS     int64  `json:"pull_ms"`
	// Cleanup: "removed" (the node did not have the image before),
	// "kept: ..." (a container uses it), "" (it had it: left alone).
	Cleanup string `json:"cleanup,omitempty"`
	// Reload is the node's last reload as its daemon reload events show
	// it: supporting evidence, never part of the verdict (nil: the node
	// was not reached).
	Reload *ProveReload `json:"reload,omitempty"`
}

// ProveReload is a node's last reload in the JSON document.
type ProveReload struct {
	// Status: confirmed (its registry-mirrors list the mirror),
	// other-mirrors, none-since-start (a restart loaded the configuration:
	// normal), not-available (detail says why).
	Status  string   `json:"status"`
	Time    string   `json:"time,omitempty"`    // the last reload, RFC 3339
	Mirrors []string `json:"mirrors,omitempty"` // its registry-mirrors
	// DaemonStarted is when the running dockerd started, RFC 3339.
	DaemonStarted string `json:"daemon_started,omitempty"`
	Detail        string `json:"detail"`
}

// MirrorProveResult is the JSON document of `mirror prove`.
type MirrorProveResult struct {
	report.Header
	Manager string         `json:"manager"`
	Probes  []ProbeImage   `json:"probes"`
	Nodes   []ProveNode    `json:"nodes"`
	Summary map[string]int `json:"summary"`
}

// NewCmdMirrorProve builds `swarmctl mirror prove`.
func NewCmdMirrorProve(d *Deps, g *GlobalOptions, runF func(context.Context, *MirrorProveOptions) error) *cobra.Command {
	opts := &MirrorProveOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "prove",
		Short: "Prove every node pulls through the mirror, from the mirror's own log",
		Long: `Every node pulls a small probe image, pinned by digest, through its own dockerd
(in parallel, each bounded by --node-timeout), and the registry service's
request log (docker service logs, read through a manager) decides: the node's
address asking for that digest during its pull means "via mirror"; a pull that
succeeded without such a request means "bypassed", with the likely reason
(mirror unreachable from the node, TLS not trusted, a hosts.toml override, not
configured); a pull that failed means "failed", with why.

The probe is --image (repeatable; each goes to the mirror of its registry),
else busybox:latest when Docker Hub is the first upstream. Its tag is resolved
through the mirror (through the upstream when the mirror does not answer).
Nodes are left as they were: an image a node did not have is removed after
the pull (never forced: one a container uses stays).

Beside the verdict, never changing it: each node's last reload, from dockerd's
own reload events (which list the registry mirrors it loaded; a restart
instead of a reload is normal).

Exit codes: 0 every node pulled through the mirror; 1 at least one bypassed
or failed; 2 could not check (no manager, the log unreadable, the probe not
resolvable) or bad input.`,
		Example: `  swarmctl mirror prove
  swarmctl mirror prove --image ghcr.io/acme/probe:1 -o json
  swarmctl mirror prove --limit worker1 --node-timeout 5m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMirrorProve(cmd.Context(), d, opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.Images, "image", nil, "probe `IMAGE` (repeatable; default: busybox:latest for docker.io)")
	cmd.Flags().StringVar(&opts.Manager, "manager", "", "manager to read the registry's log through (default: mirror.manager)")
	cmd.Flags().DurationVar(&opts.NodeTimeout, "node-timeout", 2*time.Minute, "deadline of each node's pull")
	return cmd
}

// probeTarget is one probe image with the cache it should go through.
type probeTarget struct {
	ref warm.Ref
	ep  stack.Endpoint
	out *ProbeImage
}

func runMirrorProve(ctx context.Context, d *Deps, opts *MirrorProveOptions) error {
	res := &MirrorProveResult{Probes: []ProbeImage{}, Nodes: []ProveNode{}, Summary: map[string]int{}}
	fail := func(err error) error { return emit(d, opts.Global, res, func() {}, err) }
	if opts.NodeTimeout < time.Second {
		return fail(usageErr("--node-timeout must be at least 1s"))
	}
	f, err := openFleet(d, opts.Global, true)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	inv := f.Inventory()
	eps, v, err := endpointsOf(inv)
	if err != nil {
		return fail(err)
	}
	targets, err := probeTargets(opts.Images, eps)
	if err != nil {
		return fail(err)
	}

	rows := f.Selected()
	co := fleet.ConnectOptions{Keep: true}
	f.Connect(ctx, rows, co)
	defer func() { member.CloseAll(rows) }()
	wantMgr := firstNonEmpty(opts.Manager, inv.Mirror.Manager)
	ask, err := f.ManagerToAsk(wantMgr)
	var mgr *member.Member
	var asked []*member.Member
	if err == nil {
		mgr, asked, err = f.AskManager(ctx, rows, wantMgr, ask, co)
	}
	defer func() { member.CloseAll(asked) }()
	if err != nil {
		return fail(couldNotCheck("no manager to read the registry's log through: %v", err))
	}
	res.Manager = mgr.Name
	for _, t := range targets {
		err := resolveProbe(ctx, d, t, mgr, v.CAPEM)
		res.Probes = append(res.Probes, *t.out)
		if err != nil {
			return fail(err)
		}
	}

	// Every reachable node pulls every probe, nodes in parallel.
	type nodePulls struct {
		pulls   []prove.Pull
		reloads prove.Reloads
	}
	secs := int(opts.NodeTimeout.Round(time.Second) / time.Second)
	for _, t := range targets {
		d.IO.Progress("probing %d node(s): docker pull %s (%s)", len(rows), t.out.Pinned, t.out.Image)
	}
	pulled := nodes.Parallel(ctx, rows, f.Parallel(), false, func(ctx context.Context, m *member.Member) (nodePulls, error) {
		var np nodePulls
		if m.Conn == nil || m.Facts == nil {
			return np, nil
		}
		np.reloads = readReloads(ctx, m)
		for _, t := range targets {
			cctx, cancel := context.WithTimeout(ctx, opts.NodeTimeout+30*time.Second)
			out, err := m.Conn.Run(cctx, nodes.Cmd{Script: prove.PullScript, Sudo: true,
				ScriptArgs: []string{t.out.Pinned, strconv.Itoa(secs), nodeMirrorURL(t.ep, m), t.ep.Registry}})
			cancel()
			var ee *nodes.ExitError
			if err != nil && errors.As(err, &ee) {
				out.Stdout = ee.Stdout
			}
			p := prove.ParsePull(out.Stdout)
			if err != nil && !p.Complete {
				p.Output = append(p.Output, nodes.Unnamed(m.Name, err).Error())
			}
			np.pulls = append(np.pulls, p)
		}
		return np, nil
	})

	// One read of each registry's log, over every node's window.
	couldNot := false
	for ti, t := range targets {
		var probes []prove.Probe
		var since time.Time
		for i, m := range rows {
			if len(pulled[i].Value.pulls) <= ti {
				continue
			}
			p := pulled[i].Value.pulls[ti]
			probes = append(probes, prove.Probe{Node: m.Name, Hostname: m.Facts.Hostname, Addrs: nodeAddrs(m, p), Pull: p})
			if !p.Start.IsZero() && (since.IsZero() || p.Start.Before(since)) {
				since = p.Start
			}
		}
		var log prove.RegistryLog
		if since.IsZero() {
			log.Err = "no node started the pull"
		} else {
			log = readRegistryLog(ctx, mgr, t, since.Add(-prove.Slack-time.Second))
		}
		if log.Err != "" {
			t.out.LogError = log.Err
			couldNot = true
		}
		byNode, unmatched := prove.Attribute(log, t.ref.Repo, t.ref.Digest, probes)
		t.out.Unmatched = len(unmatched)
		for i, m := range rows {
			pn := ProveNode{Name: m.Name, Address: m.Address(), Registry: t.ep.Registry, Image: t.out.Pinned, Mirror: nodeMirrorURL(t.ep, m)}
			switch {
			case m.Conn == nil || m.Facts == nil:
				pn.Verdict, pn.ReasonCode = string(prove.Failed), report.ProblemUnreachable
				pn.Reason = "unreachable: " + nodes.Unnamed(m.Name, m.Err).Error()
			case len(pulled[i].Value.pulls) <= ti:
				pn.Verdict, pn.ReasonCode = string(prove.Failed), report.ProblemNotAttempted
				pn.Reason = "not probed (interrupted)"
			case log.Err != "":
				pn.Verdict, pn.ReasonCode = string(prove.Failed), prove.ReasonNoEvidence
				pn.Reason = "no evidence: the registry's log could not be read: " + log.Err
			default:
				p := pulled[i].Value.pulls[ti]
				o := prove.Judge(prove.Probe{Node: m.Name, Pull: p}, byNode[m.Name], unmatched, nodeSetup(m, t.ep), secs)
				pn.Verdict, pn.ReasonCode, pn.Reason, pn.Evidence = string(o.Verdict), o.ReasonCode, o.Reason, o.Evidence
				if !p.Start.IsZero() && !p.End.IsZero() {
					pn.PullMS = p.End.Sub(p.Start).Milliseconds()
				}
			}
			if m.Conn != nil && m.Facts != nil && len(pulled[i].Value.pulls) > ti {
				pn.Reload = proveReload(pulled[i].Value.reloads, m, t.ep)
			}
			if len(pulled[i].Value.pulls) > ti {
				pn.Cleanup = pulled[i].Value.pulls[ti].Cleanup
				if strings.HasPrefix(pn.Cleanup, "kept") {
					res.Warnings = append(res.Warnings, fmt.Sprintf("%s: the probe %s was not removed (%s)", m.Name, t.out.Pinned, pn.Cleanup))
				}
			}
			res.Summary[pn.Verdict]++
			if pn.Verdict != string(prove.ViaMirror) {
				res.Problems = append(res.Problems, report.Problem{Code: pn.ReasonCode, Node: m.Name,
					Message: fmt.Sprintf("%s %s: %s", t.ep.Registry, prove.Verdict(pn.Verdict).Text(), pn.Reason)})
			}
			res.Nodes = append(res.Nodes, pn)
		}
	}
	res.Probes = res.Probes[:0]
	for _, t := range targets {
		res.Probes = append(res.Probes, *t.out)
	}
	var exit error
	total, via := len(res.Nodes), res.Summary[string(prove.ViaMirror)]
	switch {
	case couldNot:
		exit = couldNotCheck("the registry's log could not be read: nothing proven")
	case via != total:
		exit = failedQuiet("not-via-mirror", fmt.Sprintf("%d of %d node probe(s) did not pull through the mirror", total-via, total))
	}
	return emit(d, opts.Global, res, func() { printProve(d, res) }, exit)
}

func couldNotCheck(format string, args ...any) error {
	return &exitError{code: ExitError, kind: report.ErrCouldNotCheck, err: fmt.Errorf(format, args...)}
}

// probeTargets are the probe images, each with its registry's cache.
func probeTargets(images []string, eps []stack.Endpoint) ([]*probeTarget, error) {
	if len(images) == 0 {
		def, ok := DefaultProbeImages[warm.RegistryKey(eps[0].Registry)]
		if !ok {
			return nil, usageErr("no default probe image for %s (the first upstream): give --image IMAGE, a small image of it", eps[0].Registry)
		}
		images = []string{def}
	}
	var out []*probeTarget
	for _, im := range images {
		ref, err := warm.ParseRef(im)
		if err != nil {
			return nil, usageErr("--image: %v", err)
		}
		ep, ok := endpointFor(eps, ref.Registry)
		if !ok {
			return nil, inputErr("probe an image of a mirrored registry", "--image %s: no mirror for registry %s (the inventory mirrors: %s)", im, ref.Registry, registryNames(eps))
		}
		if len(ep.URLs) == 0 {
			return nil, inputErr(stackURLHint, "--image %s: the mirror of %s has no URL", im, ep.Registry)
		}
		out = append(out, &probeTarget{ref: ref, ep: ep, out: &ProbeImage{Image: im, Registry: ep.Registry, Service: ep.Service}})
	}
	return out, nil
}

// resolveProbe pins the probe's tag to a digest: through the mirror, else
// (the mirror does not answer: the case the proof must still report) the
// upstream, both reached from the manager.
func resolveProbe(ctx context.Context, d *Deps, t *probeTarget, mgr *member.Member, caPEM []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	mirror := nodeMirrorURL(t.ep, mgr)
	t.out.Mirror = mirror
	if t.ref.Digest != "" {
		t.out.ResolvedVia = "given"
	} else {
		rt, err := tunnelTransport(mgr, caPEM)
		if err != nil {
			return couldNotCheck("probe image %s: resolving its tag: %v", t.ref.Given, err)
		}
		r, err := warm.Resolve(ctx, t.ref, mirror, rt, nil)
		t.out.ResolvedVia = "mirror"
		if err != nil && !errors.Is(err, warm.ErrNotFound) && t.ep.RemoteURL != "" {
			d.IO.Progress("%s: resolving %s through the mirror failed (%v); asking the upstream %s", mgr.Name, t.ref.Given, err, t.ep.RemoteURL)
			var uerr error
			r, uerr = warm.Resolve(ctx, t.ref, t.ep.RemoteURL, rt, nil)
			t.out.ResolvedVia = "upstream"
			if uerr != nil {
				err = fmt.Errorf("through the mirror: %v; through the upstream: %w", err, uerr)
			} else {
				err = nil
			}
		}
		if errors.Is(err, warm.ErrNotFound) {
			return inputErr("give --image an image that exists", "probe image %s: %v", t.ref.Given, err)
		}
		if err != nil {
			return couldNotCheck("probe image %s: cannot resolve its tag to a digest: %v", t.ref.Given, err)
		}
		t.ref = r
	}
	t.out.Digest = t.ref.Digest
	t.out.Pinned = t.ref.Pinned()
	return nil
}

// nodeMirrorURL is the cache URL a node uses for the endpoint: its own
// replica first.
func nodeMirrorURL(e stack.Endpoint, m *member.Member) string {
	if us := e.URLsFor(memberNames(m)...); len(us) > 0 {
		return us[0]
	}
	return ""
}

// nodeAddrs are the addresses a node's requests may come from.
func nodeAddrs(m *member.Member, p prove.Pull) []string {
	addrs := append([]string(nil), p.Addrs...)
	for _, a := range []string{m.Target.Host, m.Facts.SwarmAddr} {
		if a != "" && net.ParseIP(a) != nil {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// nodeSetup is how the node is meant to reach the cache.
func nodeSetup(m *member.Member, e stack.Endpoint) prove.Setup {
	s := prove.Setup{Registry: e.Registry, MirrorURL: nodeMirrorURL(e, m), LiveMirrors: m.Facts.LiveMirrors}
	if dec, err := hoststoml.Decide(m.Facts.DockerVersion, hoststoml.ImageStore(m.Facts.ImageStore), e.Registry); err == nil {
		s.Route, s.RouteReason = dec.Route, dec.Reason
	}
	return s
}

// readRegistryLog reads the cache service's log lines for the probe's
// digest through the manager.
func readRegistryLog(ctx context.Context, mgr *member.Member, t *probeTarget, since time.Time) prove.RegistryLog {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := mgr.Conn.Run(ctx, nodes.Cmd{Script: prove.LogScript, Sudo: true,
		ScriptArgs: []string{t.ep.Service, strconv.FormatInt(since.Unix(), 10), t.ref.Digest}})
	if err != nil {
		return prove.RegistryLog{Err: "on " + mgr.Name + ": " + nodes.Unnamed(mgr.Name, err).Error()}
	}
	l := prove.ParseRegistryLog(out.Stdout)
	if !l.Complete && l.Err == "" {
		l.Err = "on " + mgr.Name + ": the output was cut short"
	}
	if l.Err != "" && !strings.HasPrefix(l.Err, "on ") {
		l.Err = "docker service logs " + t.ep.Service + " on " + mgr.Name + ": " + l.Err
	}
	return l
}

// readReloads reads the node's daemon reload events (before its pulls:
// dockerd holds only its last events).
func readReloads(ctx context.Context, m *member.Member) prove.Reloads {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := m.Conn.Run(ctx, nodes.Cmd{Script: prove.ReloadScript, Sudo: true, ScriptArgs: []string{strconv.Itoa(m.Facts.DaemonPID)}})
	if err != nil {
		var ee *nodes.ExitError
		if errors.As(err, &ee) {
			if r := prove.ParseReloads(ee.Stdout); r.Complete {
				return r
			}
		}
		return prove.Reloads{Err: nodes.Unnamed(m.Name, err).Error()}
	}
	return prove.ParseReloads(out.Stdout)
}

// proveReload is the node's last reload for the endpoint's mirror.
func proveReload(r prove.Reloads, m *member.Member, e stack.Endpoint) *ProveReload {
	var c prove.ReloadCheck
	if warm.RegistryKey(e.Registry) != hoststoml.DockerHub {
		// registry-mirrors, what a reload loads, is Docker Hub's only.
		c = prove.Unavailable("a reload loads registry-mirrors, which serve Docker Hub only; " + e.Registry + " is mirrored through hosts.toml, read at each pull (no reload)")
	} else {
		c = prove.CheckReload(r, nodeMirrorURL(e, m))
	}
	pr := &ProveReload{Status: c.Status, Mirrors: c.Mirrors, Detail: c.Detail}
	if !c.Time.IsZero() {
		pr.Time = c.Time.Format(time.RFC3339Nano)
	}
	if !c.Started.IsZero() {
		pr.DaemonStarted = c.Started.Format(time.RFC3339)
	}
	return pr
}

func printProve(d *Deps, res *MirrorProveResult) {
	w := d.IO.Out
	for _, p := range res.Probes {
		fmt.Fprintf(w, "Probe %s (%s, resolved via %s), evidence: the log of %s\n", p.Pinned, p.Image, p.ResolvedVia, p.Service)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tREGISTRY\tVERDICT\tPULL\tWHY")
	for _, n := range res.Nodes {
		why := n.Reason
		if n.Verdict == string(prove.ViaMirror) {
			why = n.Evidence
		}
		pull := "-"
		if n.PullMS > 0 || n.Verdict != string(prove.Failed) {
			pull = (time.Duration(n.PullMS) * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name, n.Registry, prove.Verdict(n.Verdict).Text(), pull, why)
	}
	tw.Flush()
	// Each node's last reload: supporting evidence, not part of the verdict.
	var lines []string
	for _, n := range res.Nodes {
		if n.Reload == nil {
			continue
		}
		if l := n.Name + "\t" + n.Reload.Detail; !slices.Contains(lines, l) {
			lines = append(lines, l)
		}
	}
	if len(lines) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tLAST RELOAD (dockerd's reload events: supporting evidence, not part of the verdict)")
		for _, l := range lines {
			fmt.Fprintln(tw, l)
		}
		tw.Flush()
	}
	for _, p := range res.Warnings {
		fmt.Fprintln(d.IO.Err, d.IO.Paint("33", "warning:")+" "+p)
	}
	fmt.Fprintf(d.IO.Err, "proof: %d via mirror, %d bypassed, %d failed\n",
		res.Summary[string(prove.ViaMirror)], res.Summary[string(prove.Bypassed)], res.Summary[string(prove.Failed)])
}
