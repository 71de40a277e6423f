package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/fleet"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/regmetrics"
	"github.com/swarmctl/swarmctl/internal/report"
	"github.com/swarmctl/swarmctl/internal/stack"
	"github.com/swarmctl/swarmctl/internal/warm"
)

// MirrorWarmOptions are the options of `swarmctl mirror warm`.
type MirrorWarmOptions struct {
	Global    *GlobalOptions
	Images    []string
	StackFile string
	Platforms []string
	Manager   string
	Parallel  int
	Timeout   time.Duration
}

// WarmImage is one image (through one cache replica) in the JSON document.
type WarmImage struct {
	warm.Result
	// Platforms are the platforms warmed, "os/arch[/variant]".
	Platforms []string `json:"platforms"`
}

// MirrorWarmResult is the JSON document of `mirror warm`.
type MirrorWarmResult struct {
	report.Header
	Manager   string      `json:"manager"`
	Platforms []string    `json:"platforms"`
	Images    []WarmImage `json:"images"`
	Summary   WarmSummary `json:"summary"`
}

// WarmSummary counts the images.
type WarmSummary struct {
	Images        int   `json:"images"`
	Done          int   `json:"done"`
	Failed        int   `json:"failed"`
	AlreadyCached int   `json:"already_cached"`
	FetchedBytes  int64 `json:"fetched_bytes"`
}

// NewCmdMirrorWarm builds `swarmctl mirror warm`.
func NewCmdMirrorWarm(d *Deps, g *GlobalOptions, runF func(context.Context, *MirrorWarmOptions) error) *cobra.Command {
	opts := &MirrorWarmOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "warm [IMAGE...]",
		Short: "Fill the mirror's cache with images before a rollout",
		Long: `Reads each image's manifests and blobs through the mirror of its registry once,
so the cache holds them before any node pulls: the tag is resolved to a
digest, a multi-platform index is narrowed to the platforms the fleet's nodes
run (from docker info on each node, or --platform), and every blob is read
whole and checked against its digest. Blobs the mirror already held are not
fetched from the upstream again; the report says which.

Every request goes through the SSH connection to a manager (--manager, else
mirror.manager, else the first reachable manager): nothing needs to be
reachable from where swarmctl runs, and no port is opened.

Exit codes: 0 every image is in the cache; 1 at least one image failed (not
found, refused by the upstream, mirror unreachable, ...), or no manager
could be reached; 2 bad input (an image reference, the stack file, an image
of a registry without a mirror): nothing was fetched.`,
		Example: `  swarmctl mirror warm nginx:1.27 ghcr.io/acme/api:2.3
  swarmctl mirror warm --stack-file compose.yml -o json
  swarmctl mirror warm --platform linux/amd64 --platform linux/arm64 redis:7`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Images = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMirrorWarm(cmd.Context(), d, opts)
		},
	}
	cmd.Flags().StringVar(&opts.StackFile, "stack-file", "", "warm every service's image of this compose/stack `FILE` too")
	cmd.Flags().StringArrayVar(&opts.Platforms, "platform", nil, "`os/arch[/variant]` to warm (repeatable; default: those the nodes run)")
	cmd.Flags().StringVar(&opts.Manager, "manager", "", "manager to reach the mirror through (default: mirror.manager, else any)")
	cmd.Flags().IntVar(&opts.Parallel, "blobs", 4, "blobs read at once per image")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 30*time.Minute, "deadline of the whole warm-up")
	return cmd
}

// warmInput is what the command line and the stack file ask for, checked
// before anything is dialled.
type warmInput struct {
	refs      []string
	platforms []warm.Platform
}

func (opts *MirrorWarmOptions) input() (warmInput, error) {
	var in warmInput
	for _, a := range opts.Images {
		if _, err := warm.ParseRef(a); err != nil {
			return in, usageErr("%v", err)
		}
		in.refs = append(in.refs, a)
	}
	if opts.StackFile != "" {
		b, err := os.ReadFile(opts.StackFile)
		if err != nil {
			return in, inputErr("", "--stack-file: %v", err)
		}
		imgs, err := warm.ParseStackFile(opts.StackFile, b)
		if err != nil {
			return in, inputErr("fix the stack file at the line named; nothing was fetched", "%v", err)
		}
		for _, r := range warm.StackImageRefs(imgs) {
			if !slices.Contains(in.refs, r) {
				in.refs = append(in.refs, r)
			}
		}
	}
	if len(in.refs) == 0 {
		return in, usageErr("no image: give IMAGE arguments or --stack-file")
	}
	for _, p := range opts.Platforms {
		pl, err := warm.ParsePlatform(p)
		if err != nil {
			return in, usageErr("--platform: %v", err)
		}
		in.platforms = append(in.platforms, pl)
	}
	if opts.Parallel < 1 {
		return in, usageErr("--blobs must be at least 1")
	}
	if opts.Timeout <= 0 {
		return in, usageErr("--timeout must be positive")
	}
	return in, nil
}

func runMirrorWarm(ctx context.Context, d *Deps, opts *MirrorWarmOptions) error {
	res := &MirrorWarmResult{Images: []WarmImage{}, Platforms: []string{}}
	fail := func(err error) error { return emit(d, opts.Global, res, func() {}, err) }
	in, err := opts.input()
	if err != nil {
		return fail(err)
	}
	f, err := openFleet(d, opts.Global, true)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	eps, v, err := endpointsOf(f.Inventory())
	if err != nil {
		return fail(err)
	}
	// Every image needs a cache for its registry: a typo'd registry is
	// input, found before anything is fetched.
	for _, r := range in.refs {
		ref, _ := warm.ParseRef(r)
		e, ok := endpointFor(eps, ref.Registry)
		if !ok {
			return fail(inputErr("add the registry to mirror.registries and run mirror install, or warm only images of: "+registryNames(eps),
				"image %s: no mirror for registry %s (the inventory mirrors: %s)", r, ref.Registry, registryNames(eps)))
		}
		if len(e.URLs) == 0 {
			return fail(inputErr(stackURLHint, "image %s: the mirror of %s has no URL", r, e.Registry))
		}
	}

	cs, mgr, err := connectManager(ctx, f, opts.Manager)
	defer func() { member.CloseAll(cs) }()
	if err != nil {
		if exitCodeOf(err) == ExitFailed {
			err = withKind(err, report.ErrNoManager)
		}
		return fail(err)
	}
	res.Manager = mgr.Name
	rt, err := tunnelTransport(mgr, v.CAPEM)
	if err != nil {
		var ee *exitError
		if !errors.As(err, &ee) {
			err = failed(err.Error())
		}
		return fail(err)
	}

	platforms := in.platforms
	known := cs // members whose facts are in: where a cache's task may run
	if len(platforms) == 0 {
		var all []*member.Member
		platforms, all, res.Warnings = fleetPlatforms(ctx, f, cs)
		known = all
	}
	var opened []*member.Member
	defer func() { member.CloseAll(opened) }()
	for _, p := range platforms {
		res.Platforms = append(res.Platforms, p.String())
	}

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	// One pass per cache replica: with replica_nodes every node runs its
	// own cache, and each must hold the images.
	rounds := replicaRounds(eps, mgr)
	if v.RegistryV3() && len(rounds) == 1 {
		// registry:3 counts what it pulls from its upstream: read its
		// counters before and after each image (one cache per upstream).
		for _, e := range eps {
			if m, ok := rounds[0][warm.RegistryKey(e.Registry)]; ok {
				m.Stats = metricsReader(mgr, known, e.Service, &opened)
				rounds[0][warm.RegistryKey(e.Registry)] = m
			}
		}
	}
	for _, mirrors := range rounds {
		results, _ := warm.Warm(ctx, in.refsFor(mirrors), warm.Options{
			Mirrors: mirrors, Platforms: platforms, Transport: rt, Parallel: opts.Parallel,
			Progress: func(e warm.Event) {
				switch e.Step {
				case "resolve":
					d.IO.Progress("warming %s through %s", e.Image, mirrors[mustRegistry(e.Image)].URL)
				case "done":
					d.IO.Progress("warmed %s (%s read)", e.Image, report.HumanBytes(e.Bytes))
				}
			},
		})
		for _, r := range results {
			wi := WarmImage{Result: r, Platforms: []string{}}
			for _, m := range r.Manifests {
				wi.Platforms = append(wi.Platforms, m.Platform.String())
			}
			res.Images = append(res.Images, wi)
		}
	}
	for _, im := range res.Images {
		res.Summary.Images++
		switch {
		case im.Done:
			res.Summary.Done++
			res.Summary.FetchedBytes += im.FetchedBytes
			if im.AlreadyCached {
				res.Summary.AlreadyCached++
			}
		default:
			res.Summary.Failed++
			res.Problems = append(res.Problems, report.Problem{Code: warmProblemCode(im.Err), Message: im.Error})
		}
	}
	var exit error
	if res.Summary.Failed > 0 {
		exit = failedQuiet("warm-failed", fmt.Sprintf("%d of %d image(s) not warmed", res.Summary.Failed, res.Summary.Images))
	}
	return emit(d, opts.Global, res, func() { printWarm(d, res) }, exit)
}

// refsFor keeps the images whose registry has a cache in this round.
func (in warmInput) refsFor(mirrors map[string]warm.Mirror) []string {
	var out []string
	for _, r := range in.refs {
		if _, ok := mirrors[mustRegistry(r)]; ok {
			out = append(out, r)
		}
	}
	return out
}

func mustRegistry(image string) string {
	r, _ := warm.ParseRef(image)
	return r.Registry
}

// replicaRounds maps each registry to one cache URL per round: the
// manager's own replica first, then the others.
func replicaRounds(eps []stack.Endpoint, mgr *member.Member) []map[string]warm.Mirror {
	var rounds []map[string]warm.Mirror
	for _, e := range eps {
		for i, u := range e.URLsFor(memberNames(mgr)...) {
			for len(rounds) <= i {
				rounds = append(rounds, map[string]warm.Mirror{})
			}
			rounds[i][warm.RegistryKey(e.Registry)] = warm.Mirror{URL: u}
		}
	}
	return rounds
}

// fleetPlatforms are the distinct platforms the selected nodes' engines
// run (docker info's OSType and Architecture); nodes not reached are
// warned about, and with none known linux/amd64 is warmed.
func fleetPlatforms(ctx context.Context, f *fleet.Fleet, have []*member.Member) ([]warm.Platform, []*member.Member, []string) {
	var rest []*member.Member
	var all []*member.Member
	for _, m := range f.Selected() {
		done := false
		for _, h := range have {
			if h.Name == m.Name && h.Facts != nil {
				all, done = append(all, h), true
			}
		}
		if !done {
			rest = append(rest, m)
		}
	}
	f.Connect(ctx, rest, fleet.ConnectOptions{})
	all = append(all, rest...)
	var ps []warm.Platform
	var warnings []string
	for _, m := range all {
		if m.Facts == nil || m.Facts.OSType == "" {
			why := "its engine did not say"
			if m.Err != nil {
				why = m.Err.Error()
			}
			warnings = append(warnings, fmt.Sprintf("%s: platform unknown (%s); its platform may not be warmed", m.Name, why))
			continue
		}
		p, err := warm.PlatformFromDockerInfo(m.Facts.OSType, m.Facts.Architecture)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("%s: %v", m.Name, err))
			continue
		}
		if !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		ps = []warm.Platform{warm.DefaultPlatform}
		warnings = append(warnings, "no node's platform is known: warming "+warm.DefaultPlatform.String())
	}
	return ps, all, warnings
}

// metricsReader reads the counters of service's registry on the node
// running its task: the manager, or another member whose facts are known
// (dialled once, closed by the caller through opened).
func metricsReader(mgr *member.Member, known []*member.Member, service string, opened *[]*member.Member) func(context.Context) (regmetrics.Stats, error) {
	var host nodes.Host
	return func(ctx context.Context) (regmetrics.Stats, error) {
		if host == nil {
			ns, err := stack.TaskNodes(ctx, mgr.Conn, service)
			if err != nil {
				return regmetrics.Stats{}, err
			}
			if len(ns) != 1 {
				return regmetrics.Stats{}, fmt.Errorf("%d running tasks of %s, want 1", len(ns), service)
			}
			if mgr.Facts != nil && mgr.Facts.Hostname == ns[0] {
				host = mgr.Conn
			}
			for _, m := range known {
				if host == nil && m.Facts != nil && m.Facts.Hostname == ns[0] {
					if m.Conn == nil {
						if err := m.Connect(ctx, "", ""); err != nil {
							return regmetrics.Stats{}, fmt.Errorf("%s runs %s: %w", m.Name, service, err)
						}
						*opened = append(*opened, m)
					}
					host = m.Conn
				}
			}
			if host == nil {
				return regmetrics.Stats{}, fmt.Errorf("%s runs on %s, which is not among the reachable inventory nodes", service, ns[0])
			}
		}
		return stack.ReadMetrics(ctx, host, service)
	}
}

// warmProblemCode names what went wrong with an image.
func warmProblemCode(err error) string {
	switch {
	case errors.Is(err, warm.ErrNotFound):
		return "image-not-found"
	case errors.Is(err, warm.ErrRefused):
		return "upstream-refused"
	case errors.Is(err, warm.ErrUnreachable):
		return "mirror-unreachable"
	case errors.Is(err, warm.ErrNoPlatform):
		return "no-platform"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "warm-failed"
}

func printWarm(d *Deps, res *MirrorWarmResult) {
	tw := tabwriter.NewWriter(d.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tDIGEST\tPLATFORMS\tFETCHED\tCACHED\tTIME")
	for _, im := range res.Images {
		if !im.Done {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t%s\n", im.Image, "failed", (time.Duration(im.DurationMS) * time.Millisecond).Round(time.Millisecond))
			continue
		}
		cached := "no"
		switch {
		case im.AlreadyCached:
			cached = "all"
		case im.BlobsCached > 0:
			cached = fmt.Sprintf("%d/%d blobs", im.BlobsCached, im.Blobs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", im.Image, shortDigest(im.Digest), strings.Join(im.Platforms, ","),
			report.HumanBytes(im.FetchedBytes), cached, (time.Duration(im.DurationMS) * time.Millisecond).Round(time.Millisecond))
	}
	tw.Flush()
	for _, p := range res.Problems {
		fmt.Fprintln(d.IO.Err, d.IO.Paint("31", "problem:")+" "+p.String())
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(d.IO.Err, d.IO.Paint("33", "warning:")+" "+w)
	}
	fmt.Fprintf(d.IO.Err, "%d of %d image(s) in the cache (%d already), %s fetched from upstream\n",
		res.Summary.Done, res.Summary.Images, res.Summary.AlreadyCached, report.HumanBytes(res.Summary.FetchedBytes))
}

// shortDigest is sha256: and 12 hex digits, as docker prints image IDs.
func shortDigest(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}

// withKind sets the JSON error code of an exit error.
func withKind(err error, kind string) error {
	var ee *exitError
	if errors.As(err, &ee) {
		c := *ee
		c.kind = kind
		return &c
	}
	return err
}

const stackURLHint = "set mirror.url (or mirror.fqdn), or the registry's url in mirror.registries"
