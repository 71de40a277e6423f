package certsd

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"path"
	"strconv"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

//go:embed scripts/*.sh
var scriptFiles embed.FS

var (
	prepareScript = nodes.MustScript(scriptFiles, "scripts/prepare.sh")
	deleteScript  = nodes.MustScript(scriptFiles, "scripts/delete.sh")
)

// KeepBackups is how many backups of a hosts.toml are kept next to it.
const KeepBackups = 5

// Apply makes the plan's changes on h (the caller holds the node's
// configure lock), in order. ts names backups. On a failure the files
// already changed are put back as they were, so the node is left as it
// was; the error names the file. done are the ops made (for Undo when a
// later step fails).
func Apply(ctx context.Context, h nodes.Host, p Plan, ts string) (done []Op, err error) {
	for _, op := range p.Ops {
		if err := do(ctx, h, op, ts); err != nil {
			if rerr := Undo(ctx, h, done); rerr != nil {
				return nil, fmt.Errorf("%w; putting back the certs.d files already changed FAILED, check the node by hand: %v", err, rerr)
			}
			if len(done) > 0 {
				return nil, fmt.Errorf("%w (the %d certs.d file(s) changed before it were put back)", err, len(done))
			}
			return nil, err
		}
		done = append(done, op)
	}
	return done, nil
}

func do(ctx context.Context, h nodes.Host, op Op, ts string) error {
	if op.Action == ActDelete {
		return remove(ctx, h, op.Path, op.Kind == KindHostsTOML)
	}
	keep := 0
	if op.Kind == KindHostsTOML {
		keep = KeepBackups
	}
	return put(ctx, h, op.Path, op.New, op.Kind == KindCA, keep, ts)
}

// put writes data to p atomically, never through a symbolic link; a CA
// file is root's, 0644 (private), a hosts.toml keeps its owner and mode
// (0644 when new).
func put(ctx context.Context, h nodes.Host, p string, data []byte, private bool, keep int, ts string) error {
	_, err := h.Run(ctx, nodes.Cmd{Script: prepareScript, ScriptArgs: []string{p, ts, strconv.Itoa(keep)}, Sudo: true})
	var xe *nodes.ExitError
	if errors.As(err, &xe) && xe.Status == 3 {
		return fmt.Errorf("%s or %s is a symbolic link or not a directory: refusing to write through it", path.Dir(p), path.Dir(path.Dir(p)))
	}
	if err != nil {
		return fmt.Errorf("prepare %s: %w", path.Dir(p), err)
	}
	return nodes.ReplaceFile(ctx, h, p, data, 0o644, private)
}

func remove(ctx context.Context, h nodes.Host, p string, backups bool) error {
	args := []string{p}
	if backups {
		args = append(args, "backups")
	}
	_, err := h.Run(ctx, nodes.Cmd{Script: deleteScript, ScriptArgs: args, Sudo: true})
	var xe *nodes.ExitError
	if errors.As(err, &xe) && xe.Status == 3 {
		return &nodes.NotRegularError{Path: p}
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	return nil
}

// Undo puts the files of done back as they were, newest first.
func Undo(ctx context.Context, h nodes.Host, done []Op) error {
	var errs []error
	for i := len(done) - 1; i >= 0; i-- {
		op := done[i]
		var err error
		switch {
		case !op.Existed:
			err = remove(ctx, h, op.Path, false)
		default:
			err = put(ctx, h, op.Path, op.Old, op.Kind == KindCA, 0, "")
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
