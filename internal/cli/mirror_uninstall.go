package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/report"
	"github.com/swarmctl/swarmctl/internal/stack"
)

// MirrorUninstallOptions are the options of `swarmctl mirror uninstall`.
type MirrorUninstallOptions struct {
	Global  *GlobalOptions
	Stack   StackFlags
	Manager string
	Purge   bool
	Wait    time.Duration
	DryRun  bool
	Yes     bool
}

// MirrorUninstallResult is the JSON document of `mirror uninstall`.
type MirrorUninstallResult struct {
	report.Header
	DryRun  bool                  `json:"dry_run"`
	Manager string                `json:"manager"`
	Stack   string                `json:"stack"`
	Purge   bool                  `json:"purge"`
	Result  stack.UninstallResult `json:"result"`
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
		Example: `  swarmctl mirror uninstall --dry-run --purge   # what would go
  swarmctl mirror uninstall
  swarmctl mirror uninstall --purge --yes        # also the files and the cache, no question`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMirrorUninstall(cmd.Context(), d, opts)
		},
	}
	opts.Stack.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&opts.Manager, "manager", "", "manager to work through (default: mirror.manager, else the first)")
	cmd.Flags().BoolVar(&opts.Purge, "purge", false, "also delete the stack file, the registry config and the cache (asks)")
	cmd.Flags().DurationVar(&opts.Wait, "wait", stack.DefaultWait, "how long to wait for the stack to go (0 = do not wait)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show what would be removed; change nothing")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "purge without asking (needed without a terminal)")
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
	if opts.Wait < 0 {
		return usageErr("--wait must not be negative (0 = do not wait)")
	}
	if opts.Wait == 0 && opts.Purge {
		return usageErr("--purge waits for the registry to stop before deleting its files: give --wait a duration")
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
	if opts.Purge && !opts.DryRun {
		c := &consent{d: d, g: opts.Global, yes: opts.Yes}
		what := fmt.Sprintf("remove stack %s and DELETE %s, %s and the cached images in %s on %s", v.StackName, v.StackFile, v.ConfigFile, v.DataDir, mgr.Name)
		if err := c.ask(what); err != nil {
			res := MirrorUninstallResult{Manager: mgr.Name, Stack: v.StackName, Purge: true, Result: stack.UninstallResult{Purged: []string{}}}
			return emit(d, opts.Global, &res, func() {}, err)
		}
	}
	wait := opts.Wait
	if wait == 0 {
		wait = -1
	}
	var opened []*member.Member
	defer func() { member.CloseAll(opened) }()
	ur, err := stack.Uninstall(ctx, mgr.Conn, v, stack.UninstallOptions{Purge: opts.Purge, Wait: wait, DryRun: opts.DryRun,
		Log:      func(line string) { d.IO.Progress("%s", line) },
		NodeHost: swarmNodeHosts(ctx, f, cs, &opened)})
	res := MirrorUninstallResult{DryRun: opts.DryRun, Manager: mgr.Name, Stack: v.StackName, Purge: opts.Purge, Result: ur}
	if res.Result.Purged == nil {
		res.Result.Purged = []string{}
	}
	for _, n := range ur.Unchecked {
		res.Warnings = append(res.Warnings, "not connected to "+n+": the registry's container there may still be stopping")
	}
	var fail error
	if err != nil {
		res.Problems = append(res.Problems, report.Problem{Code: report.ProblemUninstallFailed, Node: mgr.Name, Message: err.Error()})
		fail = &exitError{code: ExitFailed, kind: report.ErrUninstallFailed, err: err}
	}
	if ctx.Err() != nil {
		fail = ctx.Err()
	}
	return emit(d, opts.Global, &res, func() { printUninstall(d, res) }, fail)
}

func printUninstall(d *Deps, res MirrorUninstallResult) {
	w := d.IO.Out
	if res.DryRun {
		switch {
		case res.Result.Removed:
			fmt.Fprintf(w, "would remove stack %s through %s: services %s; networks %s\n", res.Stack, res.Manager,
				dash(strings.Join(res.Result.Services, ", ")), dash(strings.Join(res.Result.Networks, ", ")))
		default:
			fmt.Fprintf(w, "no changes: stack %s is not deployed\n", res.Stack)
		}
		if len(res.Result.WouldPurge) > 0 {
			fmt.Fprintf(w, "would delete on %s: %s (only what the registry wrote in the data directory)\n", res.Manager, strings.Join(res.Result.WouldPurge, ", "))
		}
		fmt.Fprintln(d.IO.Err, "dry run: nothing was changed")
		return
	}
	if res.Error == nil {
		if res.Result.Removed {
			fmt.Fprintf(w, "removed stack %s (through %s)\n", res.Stack, res.Manager)
		} else {
			fmt.Fprintf(w, "no changes: stack %s is not deployed\n", res.Stack)
		}
	}
	if len(res.Result.Unlabelled) > 0 {
		fmt.Fprintf(w, "removed the replica label from %s\n", strings.Join(res.Result.Unlabelled, ", "))
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
