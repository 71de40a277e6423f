package cli

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/fleet"
	"github.com/swarmctl/swarmctl/internal/report"
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
	report.Header
	Values    stack.Values     `json:"values"`
	Endpoints []stack.Endpoint `json:"endpoints"`
	Files     []RenderedFile   `json:"files"`
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
TLS certificate and key when the registry serves HTTPS itself. Without
--out-dir they are printed as one YAML stream, the stack file first (so the
output is a stack file docker stack deploy takes), each file named with its
install path, any password redacted and the key never shown. With --out-dir
DIR every file is written there (a config holding upstream credentials and
the key 0600).`,
		Example: `  swarmctl mirror render
  swarmctl mirror render --out-dir ./stack && docker stack deploy -c ./stack/registry.yml registry`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMirrorRender(d, opts)
		},
	}
	opts.Stack.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&opts.Out, "out-dir", "", "write the files into this `directory` (created if missing)")
	deprecatedAlias(cmd.Flags(), "out", "out-dir")
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
	p, err := opts.Stack.prepare(inv)
	if err != nil {
		return err
	}
	r, note, err := p.local()
	if err != nil {
		return err
	}
	shown := r.Redacted()
	res := MirrorRenderResult{Values: shown.Values, Endpoints: shown.Endpoints, Files: []RenderedFile{}}
	res.Warnings = append(res.Warnings, p.warnings...)
	if note != "" {
		res.Warnings = append(res.Warnings, note)
	}
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
			return fmt.Errorf("--out-dir: %w", err)
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
	return emit(d, g, &res, func() {
		for _, w := range res.Warnings {
			warn(d, w)
		}
		if opts.Out == "" {
			fmt.Fprint(d.IO.Out, renderStream(shown))
			return
		}
		for _, f := range res.Files {
			fmt.Fprintf(d.IO.Out, "%s (mode %s; installs as %s)\n", f.Wrote, f.Mode, f.Path)
		}
	}, nil)
}

// renderStream is every file as one YAML stream: the stack file first,
// so `swarmctl mirror render > registry.yml` is a file docker stack
// deploy takes (docker reads the first document), then `---` and each
// registry config and the TLS certificate; each starts with a comment
// naming it and where install puts it. The TLS key is named, never shown.
func renderStream(r stack.Rendered) string {
	var b strings.Builder
	files := append([]stack.File{r.Stack}, r.Configs...)
	files = append(files, r.TLS...)
	for i, f := range files {
		if i > 0 {
			b.WriteString("---\n")
		}
		what := "TLS certificate"
		switch {
		case i == 0:
			what = "stack file"
		case f.Registry != "":
			what = "registry config"
		case f.Hidden:
			fmt.Fprintf(&b, "# swarmctl mirror render: TLS key %s; mirror install writes it to %s (mode %04o): the TLS key, never shown\n", path.Base(f.Path), f.Path, f.Mode)
			continue
		}
		fmt.Fprintf(&b, "# swarmctl mirror render: %s %s; mirror install writes it to %s (mode %04o)\n", what, path.Base(f.Path), f.Path, f.Mode)
		b.Write(f.Data)
		if len(f.Data) > 0 && f.Data[len(f.Data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.String()
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
