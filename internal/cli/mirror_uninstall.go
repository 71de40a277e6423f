package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/stack"
)

// MirrorUninstallOptions are the options of `swarmctl mirror uninstall`.
type MirrorUninstallOptions struct {
	Global  *GlobalOptions
	Stack   StackFlags
	Manager string
	Purge   bool
	Wait    time.Duration
}

// MirrorUninstallResult is the JSON document of `mirror uninstall`.
type MirrorUninstallResult struct {
	SchemaVersion int                   `json:"schema_version"`
	Command       string                `json:"command"`
	Manager       string                `json:"manager"`
	Stack         string                `json:"stack"`
	Purge         bool                  `json:"purge"`
	Result        stack.UninstallResult `json:"result"`
	Error         string                `json:"error,omitempty"`
	DurationMS    int64                 `json:"duration_ms"`
}

// NewCmdMirrorUninstall builds `swarmctl mirror uninstall`.
func NewCmdMirrorUninstall(d *Deps, g *GlobalOptions, runF func(context.Context, *MirrorUninstallOptions) error) *cobra.Command {
	opts := &MirrorUninstallOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the registry stack (and with --purge its files and cached data)",
		Long: `Runs docker stack rm through a manager and waits until the stack's services
and networks are gone. With --purge it then removes the stack file, the
registry config and what the registry wrote under the data directory.

Nodes keep pointing at the mirror: dockerd falls back to the upstream when
the mirror is gone, but run swarmctl nodes configure --remove to take it out.`,
		Example: `  swarmctl mirror uninstall
  swarmctl mirror uninstall --purge`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMirrorUninstall(cmd.Context(), d, opts)
		},
	}
	opts.Stack.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&opts.Manager, "manager", "", "manager to work through (default: mirror.manager, else the first reachable manager)")
	cmd.Flags().BoolVar(&opts.Purge, "purge", false, "also remove the stack file, the registry config and the cached data")
	cmd.Flags().DurationVar(&opts.Wait, "wait", stack.DefaultWait, "how long to wait for the stack to go")
	return cmd
}

func runMirrorUninstall(ctx context.Context, d *Deps, opts *MirrorUninstallOptions) error {
	f, err := openFleet(d, opts.Global, true)
	if err != nil {
		return err
	}
	defer f.Close()
	v, err := opts.Stack.values(f.Inventory())
	if err != nil {
		return err
	}
	if opts.Wait <= 0 {
		return usageErr("--wait must be positive")
	}
	if opts.Purge {
		if err := v.CheckPurge(); err != nil {
			return usageErr("%s", listErrors(err.Error()))
		}
	}
	cs, mgr, err := connectManager(ctx, f, opts.Manager)
	defer member.CloseAll(cs)
	if err != nil {
		return err
	}
	start := d.Now()
	ur, err := stack.Uninstall(ctx, mgr.Conn, v, stack.UninstallOptions{Purge: opts.Purge, Wait: opts.Wait,
		Log: func(line string) { d.IO.Progress("%s", line) },
		NodeHost: func(hostname string) nodes.Host {
			for _, m := range cs {
				if m.Conn != nil && m.Facts != nil && m.Facts.Hostname == hostname {
					return m.Conn
				}
			}
			return nil
		}})
	res := MirrorUninstallResult{SchemaVersion: SchemaVersion, Command: "mirror uninstall", Manager: mgr.Name,
		Stack: v.StackName, Purge: opts.Purge, Result: ur, DurationMS: d.Now().Sub(start).Milliseconds()}
	if res.Result.Purged == nil {
		res.Result.Purged = []string{}
	}
	if err != nil {
		res.Error = err.Error()
	}
	if err := emit(d, opts.Global, res, func() { printUninstall(d, res) }); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if res.Error != "" {
		return failed(res.Error)
	}
	return nil
}

func printUninstall(d *Deps, res MirrorUninstallResult) {
	w := d.IO.Out
	if res.Error == "" {
		if res.Result.Removed {
			fmt.Fprintf(w, "removed stack %s (through %s)\n", res.Stack, res.Manager)
		} else {
			fmt.Fprintf(w, "no changes: stack %s is not deployed\n", res.Stack)
		}
	}
	if len(res.Result.Purged) > 0 {
		fmt.Fprintf(w, "purged %s\n", strings.Join(res.Result.Purged, ", "))
	}
	if len(res.Result.Unchecked) > 0 {
		fmt.Fprintf(d.IO.Err, "warning: not connected to %s: the registry's container there may still be stopping\n", strings.Join(res.Result.Unchecked, ", "))
	}
	for _, k := range res.Result.Kept {
		fmt.Fprintf(d.IO.Err, "kept %s: it holds files the registry did not write\n", k)
	}
}
