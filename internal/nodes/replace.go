package nodes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// replaceScript replaces a file with stdin without following a symbolic
// link at its path.
var replaceScript = MustScript(scriptFiles, "scripts/replace.sh")

// ReplaceFile atomically replaces p with data on h, refusing a symbolic
// link (or anything but a regular file) at p instead of writing through
// it: whoever can write p's directory can plant one to read what is
// written or to clobber another file. With private the file gets mode
// (0600 for a secret) and, as root, owner root; otherwise an existing
// file keeps its owner and mode (mode is used for a new file). data goes
// on stdin, never on a command line; the temp file is mode 0600 (mktemp)
// while data is written.
func ReplaceFile(ctx context.Context, h Host, p string, data []byte, mode fs.FileMode, private bool) error {
	if fr, ok := h.(FileReplacer); ok {
		return fr.ReplaceFile(ctx, p, data, mode, private)
	}
	return replaceByScript(ctx, h, p, data, mode, private)
}

// FileReplacer is implemented by hosts that replace a file without
// following a symbolic link at its path themselves (over SFTP, say);
// ReplaceFile runs replaceScript on the others.
type FileReplacer interface {
	ReplaceFile(ctx context.Context, path string, data []byte, mode fs.FileMode, private bool) error
}

// replaceByScript runs replaceScript with data on stdin.
func replaceByScript(ctx context.Context, h Host, p string, data []byte, mode fs.FileMode, private bool) error {
	priv := ""
	if private {
		priv = "private"
	}
	_, err := h.Run(ctx, Cmd{Script: replaceScript, ScriptArgs: []string{p, fmt.Sprintf("%o", mode.Perm()), priv}, Sudo: true, Stdin: data})
	var xe *ExitError
	if errors.As(err, &xe) && xe.Status == 3 {
		return &NotRegularError{Path: p}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// NotRegularError is a path ReadRegularFile or ReplaceFile refused: a
// symbolic link, or something else than a regular file. Like the other
// errors of a Host it leaves naming the node to the caller.
type NotRegularError struct{ Path string }

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is a symbolic link or not a regular file: refusing to read or write through it", e.Path)
}

// readRegularScript prints a file unless it is a symbolic link or not a
// regular file.
var readRegularScript = MustScript(scriptFiles, "scripts/read-regular.sh")

// ReadRegularFile reads p on h like Host.ReadFile, but refuses a symbolic
// link (or anything but a regular file) there with a *NotRegularError
// instead of reading what it points at. A missing file is an error
// wrapping fs.ErrNotExist.
func ReadRegularFile(ctx context.Context, h Host, p string) ([]byte, error) {
	if r, ok := h.(RegularFileReader); ok {
		return r.ReadRegularFile(ctx, p)
	}
	return readRegularByScript(ctx, h, p)
}

// RegularFileReader is implemented by hosts that read a file refusing a
// symbolic link themselves (over SFTP, say); ReadRegularFile runs a
// script on the others.
type RegularFileReader interface {
	ReadRegularFile(ctx context.Context, path string) ([]byte, error)
}

func readRegularByScript(ctx context.Context, h Host, p string) ([]byte, error) {
	out, err := h.Run(ctx, Cmd{Script: readRegularScript, ScriptArgs: []string{p}, Sudo: true})
	var xe *ExitError
	switch {
	case errors.As(err, &xe) && xe.Status == 3:
		return nil, &NotRegularError{Path: p}
	case errors.As(err, &xe) && strings.Contains(string(xe.Stderr), "No such file or directory"):
		return nil, &fs.PathError{Op: "read", Path: h.Name() + ":" + p, Err: fs.ErrNotExist}
	case err != nil:
		return nil, err
	}
	return out.Stdout, nil
}
