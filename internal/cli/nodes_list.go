package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/fleet"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/report"
)

// NodesListOptions are the options of `swarmctl nodes list`.
type NodesListOptions struct {
	Global     *GlobalOptions
	Service    string
	Mirrors    []string
	Registries RegistryFlag
}

// NodeInfo is one node in `nodes list` JSON output.
type NodeInfo struct {
	Name          string              `json:"name"`
	Address       string              `json:"address"`
	Reachable     bool                `json:"reachable"`
	Error         string              `json:"error,omitempty"`
	OS            string              `json:"os,omitempty"`
	User          string              `json:"user,omitempty"`
	Service       string              `json:"service,omitempty"`
	ServiceActive bool                `json:"service_active"`
	DaemonJSON    string              `json:"daemon_json,omitempty"`
	DockerVersion string              `json:"docker_version,omitempty"`
	Role          string              `json:"role,omitempty"`
	SwarmAddr     string              `json:"swarm_addr,omitempty"`
	Mirror        *member.MirrorState `json:"mirror,omitempty"`
	// NotAttempted: the node was not checked (--fail-fast after an
	// earlier failure, or an interrupt); it is not counted as unreachable.
	NotAttempted bool `json:"not_attempted,omitempty"`

	// What the node's dockerd reports besides its version: containerd's
	// version, the image store ("classic" or "containerd") and the
	// storage driver (graphdriver or snapshotter).
	ContainerdVersion string `json:"containerd_version,omitempty"`
	ImageStore        string `json:"image_store,omitempty"`
	StorageDriver     string `json:"storage_driver,omitempty"`

	// Registries: per upstream of the inventory, how this node pulls it
	// through the mirror (hosts.toml or daemon.json), whether that is in
	// effect, or why it is not possible here.
	Registries []RegistryState `json:"registries,omitempty"`
	// CA: with mirror.ca_file, "ok" when every mirror host's ca.crt on
	// the node holds it, else "missing: <paths>".
	CA string `json:"ca,omitempty"`
}

// NodesListResult is the JSON document of `nodes list`.
type NodesListResult struct {
	report.Header
	Nodes        []NodeInfo `json:"nodes"`
	Reachable    int        `json:"reachable"`
	Unreachable  int        `json:"unreachable"`
	NotAttempted int        `json:"not_attempted,omitempty"`
}

// NewCmdNodesList builds `swarmctl nodes list`.
func NewCmdNodesList(d *Deps, g *GlobalOptions, runF func(context.Context, *NodesListOptions) error) *cobra.Command {
	opts := &NodesListOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Connect to every node and show its docker service, swarm role and mirror state",
		Long: `Connects to every selected node (one SSH round trip each) and shows: reachable
or the error, OS, the docker service in use (docker-latest or docker), the
daemon.json path it reads, docker and containerd versions, the image store
(classic or containerd), swarm role, and whether the mirror is configured in
daemon.json and applied in the running daemon.`,
		Example: `  swarmctl nodes list
  swarmctl nodes list --limit manager -o json
  swarmctl nodes list --host ops@10.0.0.21 --ssh-key ~/.ssh/swarm_ed25519`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runNodesList(cmd.Context(), d, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Service, "service", "", "docker unit (default: docker-latest if present, else docker)")
	mirrorsVar(cmd.Flags(), &opts.Mirrors, "mirror", "mirror `URL` to look for (default: the inventory's mirror)")
	opts.Registries.addFlag(cmd.Flags())
	return cmd
}

func runNodesList(ctx context.Context, d *Deps, opts *NodesListOptions) error {
	f, err := openFleet(d, opts.Global, true)
	if err != nil {
		return err
	}
	defer f.Close()
	inv := f.Inventory()
	want, err := wantedMirrors(opts.Mirrors, inv.Mirror.URL, inv.Mirror.FQDN)
	if err != nil {
		return err
	}
	ns, err := nodeSideOf(inv, want, len(opts.Mirrors) > 0, &opts.Registries)
	if err != nil {
		return err
	}
	// The same path as every command: dial and gather facts in parallel;
	// each connection closes as soon as its facts are in.
	ms := f.Selected()
	f.Connect(ctx, ms, fleet.ConnectOptions{Service: opts.Service, FailFast: opts.Global.FailFast, Check: func(m *member.Member) error {
		if m.Facts.Service == "" {
			return errors.New("no docker service found (docker-latest.service or docker.service)")
		}
		return nil
	}})
	res := NodesListResult{Nodes: []NodeInfo{}}
	why := "--fail-fast after an earlier failure"
	if ctx.Err() != nil {
		why = "interrupted"
	}
	for _, m := range ms {
		info := NodeInfo{Name: m.Name, Address: m.Address(), Reachable: m.Reached}
		if fa := m.Facts; fa != nil {
			st := member.Evaluate(fa, want, len(want) > 0)
			info.OS, info.User, info.Service, info.ServiceActive = fa.OS, fa.User, fa.Service, fa.ServiceActive
			info.DaemonJSON, info.DockerVersion, info.Role, info.SwarmAddr = fa.DaemonJSONPath, fa.DockerVersion, fa.Role(), fa.SwarmAddr
			info.ContainerdVersion, info.ImageStore, info.StorageDriver = fa.ContainerdVersion, fa.ImageStore, fa.StorageDriver
			info.Mirror = &st
			info.Registries = ns.registryStates(m, fa, st.Applied && st.Configured)
			info.CA = ns.caState(fa)
		}
		// cut: stopped by --fail-fast or an interrupt, not by the node.
		cut := m.Err != nil && errors.Is(m.Err, context.Canceled) && (opts.Global.FailFast || ctx.Err() != nil)
		switch {
		case m.NotAttempted:
			info.NotAttempted, info.Error = true, "not attempted: "+why
		case cut && !info.Reachable:
			info.NotAttempted, info.Error = true, "not attempted: connecting abandoned ("+why+")"
		case cut:
			info.Error = "facts not gathered: " + why
		case m.Err != nil:
			info.Error = nodes.Unnamed(m.Name, m.Err).Error() // printed under its name
		}
		switch {
		case info.NotAttempted:
			res.NotAttempted++
		case info.Reachable:
			res.Reachable++
		default:
			res.Unreachable++
		}
		res.Nodes = append(res.Nodes, info)
	}
	var bad error
	for _, n := range res.Nodes {
		code := report.ProblemNodeError
		switch {
		case n.Error == "":
			continue
		case n.NotAttempted:
			code = report.ProblemNotAttempted
		case !n.Reachable:
			code = report.ProblemUnreachable
		}
		res.Problems = append(res.Problems, report.Problem{Code: code, Node: n.Name, Message: n.Error})
	}
	if len(res.Problems) > 0 {
		bad = failedQuiet(report.ErrNodesFailed, fmt.Sprintf("%d of %d node(s) not checked: unreachable or in error", len(res.Problems), len(res.Nodes)))
	}
	return emit(d, opts.Global, &res, func() { printNodesTable(d, res) }, bad)
}

func printNodesTable(d *Deps, res NodesListResult) {
	tw := tabwriter.NewWriter(d.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tSTATE\tOS\tSERVICE\tDAEMON.JSON\tDOCKER\tCONTAINERD\tSTORE\tROLE\tMIRROR\tREGISTRIES\tCA")
	for _, n := range res.Nodes {
		state := "ok"
		if n.NotAttempted {
			state = "not attempted"
		} else if !n.Reachable {
			state = "unreachable"
		} else if n.Error != "" {
			state = "error"
		}
		mirror := "-"
		if n.Mirror != nil {
			switch {
			case n.Mirror.FileError != "":
				mirror = "daemon.json invalid"
			case n.Mirror.Applied && n.Mirror.Configured:
				mirror = "applied"
			case n.Mirror.Pending:
				mirror = "pending reload/restart"
			case n.Mirror.Configured:
				mirror = "configured"
			default:
				mirror = "not configured"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Address, state, dash(n.OS), dash(n.Service),
			dash(n.DaemonJSON), dash(n.DockerVersion), dash(n.ContainerdVersion), dash(n.ImageStore), dash(n.Role), mirror, dash(registriesCell(n.Registries)), dash(caCell(n.CA)))
	}
	tw.Flush()
	for _, n := range res.Nodes {
		if n.Error != "" {
			fmt.Fprintf(d.IO.Err, "%s: %s\n", n.Name, n.Error)
		}
		for _, r := range n.Registries {
			switch r.State {
			case RegNotPossible:
				fmt.Fprintf(d.IO.Err, "%s: %s not possible: %s; to make it possible: %s\n", n.Name, r.Registry, r.Reason, r.Fix)
			case RegError:
				fmt.Fprintf(d.IO.Err, "%s: %s: %s\n", n.Name, r.Registry, r.Reason)
			}
		}
		if strings.HasPrefix(n.CA, "missing") {
			fmt.Fprintf(d.IO.Err, "%s: mirror CA %s (nodes configure puts it there)\n", n.Name, n.CA)
		}
	}
	summary := fmt.Sprintf("%d reachable, %d unreachable", res.Reachable, res.Unreachable)
	if res.NotAttempted > 0 {
		summary += fmt.Sprintf(", %d not attempted", res.NotAttempted)
	}
	fmt.Fprintln(d.IO.Err, summary)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// wantedMirrors validates --mirror values, else derives the inventory's.
func wantedMirrors(flags []string, invURL, invFQDN string) ([]string, error) {
	raw := flags
	if len(raw) == 0 {
		switch {
		case invURL != "":
			raw = []string{invURL}
		case invFQDN != "":
			raw = []string{"https://" + invFQDN}
		}
	}
	var out []string
	for _, m := range raw {
		norm, err := daemonjson.ValidateMirror(strings.TrimSpace(m))
		if err != nil {
			return nil, usageErr("%v", err) // names the URL and the rule
		}
		out = append(out, norm)
	}
	return out, nil
}
