package cli

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/fleet"
	"github.com/swarmctl/swarmctl/internal/stack"
)

// MirrorRenderOptions are the options of `swarmctl mirror render`.
type MirrorRenderOptions struct {
	Global *GlobalOptions
	Stack  StackFlags
	Out    string
}

// MirrorRenderResult is the JSON document of `mirror render`.
type MirrorRenderResult struct {
	SchemaVersion int              `json:"schema_version"`
	Command       string           `json:"command"`
	Values        stack.Values     `json:"values"`
	Endpoints     []stack.Endpoint `json:"endpoints"`
	Files         []RenderedFile   `json:"files"`
}

// RenderedFile is one file render wrote (or would install).
type RenderedFile struct {
	// Path is where install puts it on the manager; Wrote where render
	// wrote it ("" without --out).
	Path   string `json:"path"`
	Wrote  string `json:"wrote,omitempty"`
	Mode   string `json:"mode"`
	Secret bool   `json:"secret,omitempty"`
	// Hidden: never printed (the TLS key).
	Hidden bool `json:"hidden,omitempty"`
	// SwarmName is the swarm config or secret made of it.
	SwarmName string `json:"swarm_name,omitempty"`
	// Registry is the upstream whose config it is.
	Registry string `json:"registry,omitempty"`
}

// NewCmdMirrorRender builds `swarmctl mirror render`.
func NewCmdMirrorRender(d *Deps, g *GlobalOptions, runF func(context.Context, *MirrorRenderOptions) error) *cobra.Command {
	opts := &MirrorRenderOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Render the stack file, the registry configs and TLS files locally; no node is touched",
		Long: `Renders exactly what mirror install would write on the manager, from the same
inventory and flags: the stack file, one registry config per upstream, and the
TLS certificate and key when the registry serves HTTPS itself. With --out DIR
every file is written there (a config holding upstream credentials and the
key 0600); without it they are printed with any password redacted and the key
never shown.`,
		Example: `  swarmctl mirror render
  swarmctl mirror render --out ./stack && docker stack deploy -c ./stack/registry.yml registry`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMirrorRender(d, opts)
		},
	}
	opts.Stack.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&opts.Out, "out", "", "write the files into this `directory` (created if missing)")
	return cmd
}

func runMirrorRender(d *Deps, opts *MirrorRenderOptions) error {
	g := opts.Global
	if err := g.validate(); err != nil {
		return err
	}
	inv, err := fleet.LoadInventory(g.fleetOptions(d)) // nothing is dialled
	if err != nil {
		return err
	}
	r, err := opts.Stack.render(inv)
	if err != nil {
		return err
	}
	shown := r.Redacted()
	res := MirrorRenderResult{SchemaVersion: SchemaVersion, Command: "mirror render", Values: shown.Values, Endpoints: shown.Endpoints, Files: []RenderedFile{}}
	if opts.Out != "" {
		if err := os.MkdirAll(opts.Out, 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	for _, f := range r.Files() {
		rf := RenderedFile{Path: f.Path, Mode: fmt.Sprintf("%04o", f.Mode), Secret: f.Secret, Hidden: f.Hidden, SwarmName: f.SwarmName, Registry: f.Registry}
		if opts.Out != "" {
			rf.Wrote = filepath.Join(opts.Out, path.Base(f.Path))
			if err := writeLocal(rf.Wrote, f.Data, f.Mode); err != nil {
				return err
			}
		}
		res.Files = append(res.Files, rf)
	}
	return emit(d, g, res, func() {
		if opts.Out == "" {
			for _, f := range shown.Files() {
				if f.Hidden {
					fmt.Fprintf(d.IO.Out, "# %s (mode %04o): the TLS key, never shown\n", f.Path, f.Mode)
					continue
				}
				fmt.Fprintf(d.IO.Out, "# %s (mode %04o)\n%s", f.Path, f.Mode, f.Data)
			}
			return
		}
		for _, f := range res.Files {
			fmt.Fprintf(d.IO.Out, "%s (mode %s; installs as %s)\n", f.Wrote, f.Mode, f.Path)
		}
	})
}

// writeLocal replaces path with data, mode applied even to an existing file
// (a secret must not stay world-readable).
func writeLocal(p string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), ".swarmctl-render-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}
