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
	SchemaVersion int            `json:"schema_version"`
	Command       string         `json:"command"`
	Values        stack.Values   `json:"values"`
	Files         []RenderedFile `json:"files"`
}

// RenderedFile is one file render wrote (or would install).
type RenderedFile struct {
	// Path is where install puts it on the manager; Wrote where render
	// wrote it ("" without --out).
	Path   string `json:"path"`
	Wrote  string `json:"wrote,omitempty"`
	Mode   string `json:"mode"`
	Secret bool   `json:"secret,omitempty"`
}

// NewCmdMirrorRender builds `swarmctl mirror render`.
func NewCmdMirrorRender(d *Deps, g *GlobalOptions, runF func(context.Context, *MirrorRenderOptions) error) *cobra.Command {
	opts := &MirrorRenderOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Render the stack file and registry config locally; no node is touched",
		Long: `Renders exactly what mirror install would write on the manager, from the same
inventory and flags. With --out DIR both files are written there (the config
0600 when it holds upstream credentials); without it they are printed with
any password redacted.`,
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
	res := MirrorRenderResult{SchemaVersion: SchemaVersion, Command: "mirror render", Values: r.Redacted().Values, Files: []RenderedFile{}}
	if opts.Out != "" {
		// Each file goes to --out under its base name: two that share one
		// would overwrite each other.
		seen := map[string]string{}
		for _, f := range r.Files() {
			b := path.Base(f.Path)
			if prev, ok := seen[b]; ok {
				return usageErr("--out: %s and %s would both be written as %s: give them different file names", prev, f.Path, filepath.Join(opts.Out, b))
			}
			seen[b] = f.Path
		}
		if err := os.MkdirAll(opts.Out, 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	for _, f := range r.Files() {
		rf := RenderedFile{Path: f.Path, Mode: fmt.Sprintf("%04o", f.Mode), Secret: f.Secret}
		if opts.Out != "" {
			rf.Wrote = filepath.Join(opts.Out, path.Base(f.Path))
			if err := writeLocal(rf.Wrote, f.Data, f.Mode); err != nil {
				return err
			}
		}
		res.Files = append(res.Files, rf)
	}
	shown := r.Redacted()
	return emit(d, g, res, func() {
		if opts.Out == "" {
			for _, f := range shown.Files() {
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
