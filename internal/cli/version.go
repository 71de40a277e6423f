package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set by goreleaser: -X github.com/swarmctl/swarmctl/internal/cli.version=...
var (
	version = ""
	commit  = ""
	date    = ""
)

// Version returns the build's version, falling back to module build info.
func Version() (v, c, d string) {
	v, c, d = version, commit, date
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if c == "" {
					c = s.Value
				}
			case "vcs.time":
				if d == "" {
					d = s.Value
				}
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	return v, c, d
}

// NewCmdVersion prints the version.
func NewCmdVersion(d *Deps) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print swarmctl's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v, c, dt := Version()
			fmt.Fprintf(d.IO.Out, "swarmctl %s", v)
			if c != "" {
				fmt.Fprintf(d.IO.Out, " (commit %s", c)
				if dt != "" {
					fmt.Fprintf(d.IO.Out, ", built %s", dt)
				}
				fmt.Fprint(d.IO.Out, ")")
			}
			fmt.Fprintf(d.IO.Out, " %s/%s\n", runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
