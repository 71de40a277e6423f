// Package cli is swarmctl's command tree. Each command is
// flags -> options -> fleet/engine -> print: its RunE turns flag state into
// an options struct (run functions never see cobra), the fleet layer
// (internal/fleet) selects, connects and discovers the nodes, the engines
// (configure, stack, status) do the work, and this package prints the
// result, text or JSON, and turns errors into exit codes in one place.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// Deps is what commands need from the outside world; tests hand in fakes.
type Deps struct {
	IO     *IOStreams
	Dial   func(ctx context.Context, t nodes.Target, o nodes.DialOptions) (nodes.Host, error)
	Now    func() time.Time
	Getenv func(string) string
}

// DefaultDeps are the real streams, SSH dialer, clock and environment.
func DefaultDeps() *Deps {
	return &Deps{
		IO: System(),
		Dial: func(ctx context.Context, t nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
			h, err := nodes.Dial(ctx, t, o)
			if err != nil {
				return nil, err
			}
			return h, nil
		},
		Now:    time.Now,
		Getenv: os.Getenv,
	}
}

// Main runs swarmctl with os.Args and returns the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, DefaultDeps(), os.Args[1:])
}

// Run executes one command line and returns its exit code. Errors are
// printed here, once.
func Run(ctx context.Context, d *Deps, args []string) int {
	// Everything printed passes terminalSafe: text from nodes cannot
	// drive the terminal.
	streams := *d.IO
	streams.Out, streams.Err = terminalSafe(streams.Out), terminalSafe(streams.Err)
	dc := *d
	dc.IO = &streams
	d = &dc
	root := NewRootCmd(d)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if ctx.Err() != nil {
		fmt.Fprintln(d.IO.Err, "swarmctl: interrupted; connections closed, remote locks released")
		return ExitInterrupted
	}
	var ee *exitError
	if !errors.As(err, &ee) || ee.err != nil {
		fmt.Fprintln(d.IO.Err, d.IO.Paint("31", "Error:")+" "+err.Error())
	}
	return exitCodeOf(err)
}

// NewRootCmd builds the whole command tree.
func NewRootCmd(d *Deps) *cobra.Command {
	g := &GlobalOptions{}
	root := &cobra.Command{
		Use:   "swarmctl",
		Short: "Point every node of a Docker Swarm at a registry mirror, safely",
		Long: `swarmctl deploys a registry pull-through cache as a swarm stack and configures
every node's daemon.json to use it, over SSH: quorum-safe, verified, rolled
back on failure.

Every flag can also be set with an environment variable SWARMCTL_<FLAG>
(upper snake case), e.g. --ssh-key -> SWARMCTL_SSH_KEY.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), d.Getenv); err != nil {
				return usageErr("%v", err)
			}
			g.InventorySet = cmd.Flags().Changed("inventory")
			g.SudoSet = cmd.Flags().Changed("sudo")
			if g.NoColor {
				d.IO.NoColor = true
			}
			// Every remote step below gets its deadline (nodes.Step).
			cmd.SetContext(nodes.WithStepTimeout(cmd.Context(), g.StepTimeout))
			return nil
		},
	}
	root.SetOut(d.IO.Out)
	root.SetErr(d.IO.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%v", err) })
	g.addFlags(root.PersistentFlags())
	root.SetUsageTemplate(root.UsageTemplate() + "\n" + exitCodesHelp + "\n")

	nodesCmd := &cobra.Command{Use: "nodes", Short: "Inspect and configure the swarm's nodes"}
	nodesCmd.AddCommand(NewCmdNodesList(d, g, nil))
	nodesCmd.AddCommand(NewCmdNodesConfigure(d, g, nil))
	mirrorCmd := &cobra.Command{Use: "mirror", Short: "Deploy and check the registry mirror"}
	mirrorCmd.AddCommand(NewCmdMirrorStatus(d, g, nil))
	mirrorCmd.AddCommand(NewCmdMirrorInstall(d, g, nil), NewCmdMirrorRender(d, g, nil), NewCmdMirrorUninstall(d, g, nil))
	root.AddCommand(NewCmdApply(d, g, nil), nodesCmd, mirrorCmd, NewCmdVersion(d))

	for _, c := range root.Commands() {
		annotateAll(c)
	}
	annotateEnv(root.PersistentFlags())
	return root
}

func annotateAll(c *cobra.Command) {
	annotateEnv(c.Flags())
	for _, sub := range c.Commands() {
		annotateAll(sub)
	}
}
