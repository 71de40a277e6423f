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
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/report"
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
	root, g := newRoot(d)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCodeOf(err)
	if ctx.Err() != nil {
		code = ExitInterrupted
		if errorKind(err) == report.ErrFailed {
			err = &exitError{code: code, kind: report.ErrInterrupted, err: errors.New("interrupted; connections closed, remote locks released")}
		}
	}
	if !g.emitted {
		// Failed before it had a result (flags, inventory, consent): the
		// JSON document still says why, for a CI job's artifact.
		errorDoc(d, g, root, args, err)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(d.IO.Err, "swarmctl: interrupted; connections closed, remote locks released")
		return ExitInterrupted
	}
	var ee *exitError
	if !errors.As(err, &ee) || !ee.quiet {
		fmt.Fprintln(d.IO.Err, d.IO.Paint("31", "Error:")+" "+err.Error())
		if h := errorHint(err); h != "" {
			fmt.Fprintln(d.IO.Err, "Hint: "+h)
		}
	}
	return code
}

// errorDoc writes the header-only document of a command that failed
// before emitting its own, when JSON was asked for (by flag or variable:
// a bad flag may stop parsing before -o).
func errorDoc(d *Deps, g *GlobalOptions, root *cobra.Command, args []string, err error) {
	pf := root.PersistentFlags()
	if f := pf.Lookup("output"); f != nil && !f.Changed {
		if v := d.Getenv(EnvName("output")); v == "json" {
			g.Output = v
		}
	}
	if f := pf.Lookup("output-file"); f != nil && !f.Changed && g.OutputFile == "" {
		g.OutputFile = d.Getenv(EnvName("output-file"))
	}
	if g.Output != "json" && g.OutputFile == "" {
		return
	}
	if g.command == "" {
		if c, _, ferr := root.Find(args); ferr == nil {
			g.command = commandName(c)
		}
	}
	doc := &errorDocument{}
	// Text output is printed by Run; only the JSON is written here.
	out := g.Output
	_ = emit(d, g, doc, func() {}, err)
	g.Output = out
}

// commandName is c's path without "swarmctl ": "nodes configure".
func commandName(c *cobra.Command) string {
	return strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), c.Root().Name()), " ")
}

// NewRootCmd builds the whole command tree.
func NewRootCmd(d *Deps) *cobra.Command {
	root, _ := newRoot(d)
	return root
}

// newRoot builds the command tree and returns the global options it
// fills, so Run can report a failure that happened before a command ran.
func newRoot(d *Deps) (*cobra.Command, *GlobalOptions) {
	g := &GlobalOptions{}
	root := &cobra.Command{
		Use:   "swarmctl",
		Short: "Point every node of a Docker Swarm at a registry mirror, safely",
		Long: `swarmctl deploys a registry pull-through cache as a swarm stack and configures
every node's daemon.json to use it, over SSH: quorum-safe, verified, rolled
back on failure.

Every flag can also be set with an environment variable SWARMCTL_<FLAG>
(upper snake case: --dry-run is SWARMCTL_DRY_RUN); a flag given wins.`,
		Example: `  swarmctl init --manager root@10.0.0.11 --fqdn mirror.example.com   # write swarmctl.yaml
  swarmctl doctor                       # can every node be reached and changed?
  swarmctl apply --dry-run              # the plan and every diff; nothing changes
  swarmctl apply                        # install the mirror, configure every node, check
  swarmctl mirror status -o json        # later: one honest view, for CI too`,
		Version:       versionString(),
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.command, g.start = commandName(cmd), d.Now()
			deprecated := deprecationWarnings(cmd.Flags())
			var err error
			var fromEnv []string
			if g.fromEnv, fromEnv, err = applyEnvNames(cmd.Flags(), d.Getenv); err != nil {
				return usageErr("%v", err)
			}
			deprecated = append(deprecated, fromEnv...)
			for _, w := range deprecated {
				warn(d, w)
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
	root.SetFlagErrorFunc(flagError)
	groupCommand(root)
	g.addFlags(root.PersistentFlags())
	setUsage(root)

	root.SetVersionTemplate("{{.Version}}\n")
	nodesCmd := groupCommand(&cobra.Command{Use: "nodes", Short: "Inspect and configure the swarm's nodes",
		Example: `  swarmctl nodes list
  swarmctl nodes configure --dry-run`})
	nodesCmd.AddCommand(NewCmdNodesList(d, g, nil))
	nodesCmd.AddCommand(NewCmdNodesConfigure(d, g, nil))
	mirrorCmd := groupCommand(&cobra.Command{Use: "mirror", Short: "Deploy and check the registry mirror",
		Example: `  swarmctl mirror render
  swarmctl mirror install --dry-run
  swarmctl mirror status`})
	mirrorCmd.AddCommand(NewCmdMirrorStatus(d, g, nil), NewCmdMirrorWarm(d, g, nil), NewCmdMirrorProve(d, g, nil))
	mirrorCmd.AddCommand(NewCmdMirrorInstall(d, g, nil), NewCmdMirrorRender(d, g, nil), NewCmdMirrorUninstall(d, g, nil))
	root.AddCommand(NewCmdInit(d, g, nil), NewCmdDoctor(d, g, nil), NewCmdApply(d, g, nil), nodesCmd, mirrorCmd, NewCmdVersion(d, g))
	completionCommand(root, d)

	for _, c := range root.Commands() {
		annotateAll(c)
	}
	annotateEnv(root.PersistentFlags())
	return root, g
}

func annotateAll(c *cobra.Command) {
	annotateEnv(c.Flags())
	for _, sub := range c.Commands() {
		annotateAll(sub)
	}
}
