package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/configure"
	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

// NodesListOptions are the options of `swarmctl nodes list`.
type NodesListOptions struct {
	Global  *GlobalOptions
	Service string
	Mirrors []string
}

// NodeInfo is one node in `nodes list` JSON output.
type NodeInfo struct {
	Name          string                 `json:"name"`
	Address       string                 `json:"address"`
	Reachable     bool                   `json:"reachable"`
	Error         string                 `json:"error,omitempty"`
	OS            string                 `json:"os,omitempty"`
	User          string                 `json:"user,omitempty"`
	Service       string                 `json:"service,omitempty"`
	ServiceActive bool                   `json:"service_active"`
	DaemonJSON    string                 `json:"daemon_json,omitempty"`
	DockerVersion string                 `json:"docker_version,omitempty"`
	Role          string                 `json:"role,omitempty"`
	SwarmAddr     string                 `json:"swarm_addr,omitempty"`
	Mirror        *configure.MirrorState `json:"mirror,omitempty"`
	// NotAttempted: the node was not checked (--fail-fast after an
	// earlier failure, or an interrupt); it is not counted as unreachable.
	NotAttempted bool `json:"not_attempted,omitempty"`
}

// NodesListResult is the JSON document of `nodes list`.
type NodesListResult struct {
	SchemaVersion int        `json:"schema_version"`
	Command       string     `json:"command"`
	Nodes         []NodeInfo `json:"nodes"`
	Reachable     int        `json:"reachable"`
	Unreachable   int        `json:"unreachable"`
	NotAttempted  int        `json:"not_attempted,omitempty"`
}

// NewCmdNodesList builds `swarmctl nodes list`.
func NewCmdNodesList(d *Deps, g *GlobalOptions, runF func(context.Context, *cobra.Command, *NodesListOptions) error) *cobra.Command {
	opts := &NodesListOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Connect to every node and show its docker service, swarm role and mirror state",
		Long: `Connects to every selected node (one SSH round trip each) and shows: reachable
or the error, OS, the docker service in use (docker-latest or docker), the
daemon.json path it reads, docker version, swarm role, and whether the mirror
is configured in daemon.json and applied in the running daemon.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), cmd, opts)
			}
			return runNodesList(cmd.Context(), cmd, d, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Service, "service", "", "docker unit to inspect (default: docker-latest if present, else docker)")
	mirrorsVar(cmd.Flags(), &opts.Mirrors, "mirror", "mirror URL to look for (default: the inventory's mirror.url)")
	return cmd
}

func runNodesList(ctx context.Context, cmd *cobra.Command, d *Deps, opts *NodesListOptions) error {
	s, err := newSession(cmd, opts.Global, d, true)
	if err != nil {
		return err
	}
	defer s.close()
	want, err := wantedMirrors(opts.Mirrors, s.inv.Mirror.URL, s.inv.Mirror.FQDN)
	if err != nil {
		return err
	}
	results := nodes.Parallel(ctx, s.nodes, s.g.Parallel, s.g.FailFast, func(ctx context.Context, n Node) (NodeInfo, error) {
		info := NodeInfo{Name: n.Name, Address: address(n.Target)}
		h, err := s.dial(ctx, n)
		if err != nil {
			return info, err
		}
		defer h.Close()
		info.Reachable = true
		f, err := nodes.GatherFacts(ctx, h, opts.Service, "")
		if err != nil {
			return info, err
		}
		st := configure.Evaluate(f, want, len(want) > 0)
		info.OS, info.User, info.Service, info.ServiceActive = f.OS, f.User, f.Service, f.ServiceActive
		info.DaemonJSON, info.DockerVersion, info.Role, info.SwarmAddr = f.DaemonJSONPath, f.DockerVersion, f.Role(), f.SwarmAddr
		info.Mirror = &st
		if f.Service == "" {
			return info, fmt.Errorf("no docker service found (docker-latest.service or docker.service)")
		}
		return info, nil
	})
	res := NodesListResult{SchemaVersion: SchemaVersion, Command: "nodes list", Nodes: []NodeInfo{}}
	why := "--fail-fast after an earlier failure"
	if ctx.Err() != nil {
		why = "interrupted"
	}
	for _, r := range results {
		info := r.Value
		started := info.Name != "" // the check sets it first thing
		if !started {
			info.Name, info.Address = s.nodes[r.Index].Name, address(s.nodes[r.Index].Target)
		}
		// cut: stopped by --fail-fast or an interrupt, not by the node.
		cut := r.Err != nil && errors.Is(r.Err, context.Canceled) && (s.g.FailFast || ctx.Err() != nil)
		switch {
		case !started:
			info.NotAttempted, info.Error = true, "not attempted: "+why
		case cut && !info.Reachable:
			info.NotAttempted, info.Error = true, "not attempted: connecting abandoned ("+why+")"
		case cut:
			info.Error = "facts not gathered: " + why
		case r.Err != nil:
			info.Error = r.Err.Error()
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
	err = emit(d, s.g, res, func() { printNodesTable(d, res) })
	if err != nil {
		return err
	}
	for _, n := range res.Nodes {
		if n.Error != "" {
			return failed("")
		}
	}
	return nil
}

func printNodesTable(d *Deps, res NodesListResult) {
	tw := tabwriter.NewWriter(d.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tSTATE\tOS\tSERVICE\tDAEMON.JSON\tDOCKER\tROLE\tMIRROR")
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Address, state, dash(n.OS), dash(n.Service),
			dash(n.DaemonJSON), dash(n.DockerVersion), dash(n.Role), mirror)
	}
	tw.Flush()
	for _, n := range res.Nodes {
		if n.Error != "" {
			fmt.Fprintf(d.IO.Err, "%s: %s\n", n.Name, n.Error)
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

func address(t nodes.Target) string {
	if t.Port == 0 {
		return t.Host
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
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
