package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/report"
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

// versionString is the one line `swarmctl version` and `swarmctl
// --version` print.
func versionString() string {
	v, c, dt := Version()
	s := "swarmctl " + v
	if c != "" {
		s += " (commit " + c
		if dt != "" {
			s += ", built " + dt
		}
		s += ")"
	}
	return s + " " + runtime.GOOS + "/" + runtime.GOARCH
}

// VersionResult is the JSON document of `swarmctl version`.
type VersionResult struct {
	report.Header
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	BuiltAt   string `json:"built_at,omitempty"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// NewCmdVersion prints the version.
func NewCmdVersion(d *Deps, g *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print swarmctl's version",
		Example: `  swarmctl version
  swarmctl version -o json
  swarmctl --version`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{globalsAnnotation: globalsOutput},
		RunE: func(*cobra.Command, []string) error {
			if err := g.validateOutput(); err != nil {
				return err
			}
			v, c, dt := Version()
			res := &VersionResult{Version: v, Commit: c, BuiltAt: dt, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
			return emit(d, g, res, func() { fmt.Fprintln(d.IO.Out, versionString()) }, nil)
		},
	}
}
