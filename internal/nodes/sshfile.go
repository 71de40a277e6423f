package nodes

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/pkg/sftp"
)

// ErrFileUnchanged is wrapped by WriteFile errors that happened before the
// rename: the file on the node is still the old one, whole.
var ErrFileUnchanged = errors.New("the file is unchanged")

// sftpClient starts SFTP on the node's connection on first use.
func (h *SSHHost) sftpClient() (*sftp.Client, error) {
	h.sftpMu.Lock()
	defer h.sftpMu.Unlock()
	if h.sftp != nil {
		return h.sftp, nil
	}
	select {
	case <-h.done:
		return nil, errors.New("connection closed")
	default:
	}
	c, err := sftp.NewClient(h.cl)
	if err != nil {
		return nil, fmt.Errorf("start sftp: %w", err)
	}
	h.sftp = c
	return c, nil
}

// ReadFile reads path: over SFTP when the login user may read it, else
// with `sudo -n cat`. A missing file is an error wrapping fs.ErrNotExist.
func (h *SSHHost) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !h.privileged() {
		out, err := h.Run(ctx, Cmd{Args: []string{"cat", "--", p}, Sudo: true})
		if err != nil {
			var xe *ExitError
			if errors.As(err, &xe) && bytes.Contains(xe.Stderr, []byte("No such file or directory")) {
				return nil, &fs.PathError{Op: "read", Path: h.name + ":" + p, Err: fs.ErrNotExist}
			}
			return nil, &fs.PathError{Op: "read", Path: h.name + ":" + p, Err: err}
		}
		return out.Stdout, nil
	}
	return sftpDo(ctx, h, func(c *sftp.Client) ([]byte, error) { return h.sftpRead(c, p) })
}

// sftpRead reads p, at most MaxOutput bytes.
func (h *SSHHost) sftpRead(c *sftp.Client, p string) ([]byte, error) {
	h.logf("%s: sftp read %s", h.name, p)
	f, err := c.Open(p)
	if err != nil {
		return nil, h.fileErr("read", p, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxOutput+1))
	if err != nil {
		return nil, h.fileErr("read", p, err)
	}
	if len(data) > MaxOutput {
		return nil, &OutputLimitError{Command: "read " + p, Limit: MaxOutput}
	}
	return data, nil
}

// sftpDo runs fn with the node's SFTP client, bounded by ctx: SFTP
// requests take no context, so when ctx ends first (a step deadline, an
// interrupt) sftpDo returns at once, the client is dropped (the next use
// starts a new one) and closed in the background: its requests in flight
// end when the node answers or the connection closes.
func sftpDo[T any](ctx context.Context, h *SSHHost, fn func(c *sftp.Client) (T, error)) (T, error) {
	var zero T
	c, err := h.sftpClient()
	if err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn(c)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		h.sftpMu.Lock()
		if h.sftp == c {
			h.sftp = nil
		}
		h.sftpMu.Unlock()
		go c.Close() // waits for the node to answer
		return zero, cause(ctx)
	}
}

// ReadRegularFile reads p refusing a symbolic link there; see
// nodes.ReadRegularFile.
func (h *SSHHost) ReadRegularFile(ctx context.Context, p string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !h.privileged() {
		return readRegularByScript(ctx, h, p)
	}
	return sftpDo(ctx, h, func(c *sftp.Client) ([]byte, error) {
		st, err := c.Lstat(p)
		if err != nil {
			return nil, h.fileErr("read", p, err)
		}
		if !st.Mode().IsRegular() {
			return nil, &NotRegularError{Path: p}
		}
		return h.sftpRead(c, p)
	})
}

func (h *SSHHost) fileErr(op, p string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		err = fs.ErrNotExist
	} else if errors.Is(err, os.ErrPermission) {
		err = fs.ErrPermission
	}
	return &fs.PathError{Op: op, Path: h.name + ":" + p, Err: err} // scp's node:path
}

// writeScript replaces a file atomically with its stdin.
var writeScript = MustScript(scriptFiles, "scripts/write.sh")

// WriteFile atomically replaces path with data; see Host.WriteFile.
func (h *SSHHost) WriteFile(ctx context.Context, p string, data []byte, mode fs.FileMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !h.privileged() {
		_, err := h.Run(ctx, Cmd{Script: writeScript, ScriptArgs: []string{p, fmt.Sprintf("%o", mode.Perm())}, Sudo: true, Stdin: data})
		var xe *ExitError
		if errors.As(err, &xe) && bytes.Contains(xe.Stderr, []byte("No space left")) {
			return fmt.Errorf("write %s: no space left on device (%w)", p, ErrFileUnchanged)
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		return nil
	}
	return h.sftpWrite(ctx, p, data, mode, false, false)
}

// ReplaceFile atomically replaces p without following a symbolic link
// there; see nodes.ReplaceFile. As the login user may not write p, it
// goes through ReplaceFileScript with sudo (data on stdin).
func (h *SSHHost) ReplaceFile(ctx context.Context, p string, data []byte, mode fs.FileMode, private bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !h.privileged() {
		return replaceByScript(ctx, h, p, data, mode, private)
	}
	return h.sftpWrite(ctx, p, data, mode, true, private)
}

// sftpWrite writes p through a temp file and a rename. Without noFollow a
// symbolic link at p is written through to its target, keeping the
// target's owner and mode. With noFollow a link (or anything but a
// regular file) at p is refused, and the rename replaces p itself; with
// private the file then gets mode and owner root.
func (h *SSHHost) sftpWrite(ctx context.Context, p string, data []byte, mode fs.FileMode, noFollow, private bool) error {
	_, err := sftpDo(ctx, h, func(c *sftp.Client) (struct{}, error) {
		return struct{}{}, h.sftpWriteWith(ctx, c, p, data, mode, noFollow, private)
	})
	return err
}

func (h *SSHHost) sftpWriteWith(ctx context.Context, c *sftp.Client, p string, data []byte, mode fs.FileMode, noFollow, private bool) (err error) {
	want := mode
	h.logf("%s: sftp write %s (%d bytes)", h.name, p, len(data))
	target := p
	if !noFollow {
		if target, err = resolveLinks(c, p); err != nil {
			return h.fileErr("write", p, err)
		}
	}
	var old *sftp.FileStat
	st, err := c.Lstat(target)
	switch {
	case err == nil && noFollow && !st.Mode().IsRegular():
		return &NotRegularError{Path: p}
	case err == nil:
		if !st.Mode().IsRegular() {
			return fmt.Errorf("write %s: %s is not a regular file", p, target)
		}
		old, _ = st.Sys().(*sftp.FileStat)
		mode = st.Mode()
	case errors.Is(err, os.ErrNotExist):
	default:
		return h.fileErr("write", p, err)
	}
	if private {
		old, mode = &sftp.FileStat{UID: 0, GID: 0}, want.Perm()
	}

	var rnd [6]byte
	rand.Read(rnd[:]) // never fails (crypto/rand)
	tmp := path.Join(path.Dir(target), "."+path.Base(target)+".swarmctl-"+hex.EncodeToString(rnd[:]))
	f, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return h.fileErr("write", tmp, err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			c.Remove(tmp) //nolint:errcheck // best effort cleanup
		}
	}()
	if err := f.Chmod(mode.Perm() &^ 0o077); err != nil { // private while being written
		return h.fileErr("write", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		if noSpace(c, path.Dir(target), len(data), err) {
			return fmt.Errorf("write %s: no space left on device (%w)", p, ErrFileUnchanged)
		}
		return fmt.Errorf("write %s: %w (%w)", p, err, ErrFileUnchanged)
	}
	if err := f.Sync(); err != nil {
		// No fsync@openssh.com: sync the file with a command instead.
		if _, cerr := h.Run(ctx, Cmd{Args: []string{"sync", "--", tmp}}); cerr != nil {
			return fmt.Errorf("write %s: sync: %w", p, cerr)
		}
	}
	if err := f.Close(); err != nil {
		if noSpace(c, path.Dir(target), len(data), err) {
			return fmt.Errorf("write %s: no space left on device (%w)", p, ErrFileUnchanged)
		}
		return fmt.Errorf("write %s: %w (%w)", p, err, ErrFileUnchanged)
	}
	if old != nil {
		if err := c.Chown(tmp, int(old.UID), int(old.GID)); err != nil {
			return h.fileErr("chown", tmp, err)
		}
	}
	if err := c.Chmod(tmp, mode.Perm()|mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return h.fileErr("chmod", tmp, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.PosixRename(tmp, target); err != nil {
		if _, cerr := h.Run(ctx, Cmd{Args: []string{"mv", "-f", "--", tmp, target}}); cerr != nil {
			return fmt.Errorf("write %s: rename: %w", p, cerr)
		}
	}
	done = true
	return nil
}

// noSpace tells whether a failed SFTP write was a full disk. OpenSSH's
// sftp-server reports ENOSPC as a bare "Failure", so free space is checked
// with statvfs@openssh.com when the message does not say.
func noSpace(c *sftp.Client, dir string, need int, err error) bool {
	if strings.Contains(strings.ToLower(err.Error()), "no space left") {
		return true
	}
	vfs, verr := c.StatVFS(dir)
	return verr == nil && vfs.FreeSpace() < uint64(need)+vfs.Bsize
}

// resolveLinks follows symlinks from p to the final path (which need not
// exist yet), like readlink -f for the last component.
func resolveLinks(c *sftp.Client, p string) (string, error) {
	for range 40 {
		st, err := c.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		dst, err := c.ReadLink(p)
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(dst, "/") {
			dst = path.Join(path.Dir(p), dst)
		}
		p = dst
	}
	return "", fmt.Errorf("too many levels of symbolic links")
}
