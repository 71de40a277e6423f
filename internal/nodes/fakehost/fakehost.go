// Package fakehost is an in-memory nodes.Host for unit tests of logic that
// runs on nodes. Files live in a map; commands go to a handler the test
// writes; every command and write is recorded.
package fakehost

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// Handler answers one command. Return a *nodes.ExitError for a failure.
type Handler func(h *Host, c nodes.Cmd) (nodes.Output, error)

// Host is a fake node.
type Host struct {
	NameV   string
	Handler Handler
	// WriteErr, when set, makes WriteFile fail for that path (e.g. a full disk).
	WriteErr map[string]error
	// WriteErrAfter makes the next WriteFile of that path fail after
	// replacing the file (the connection lost before the answer).
	WriteErrAfter map[string]error
	// ReadErr makes ReadFile fail for that path (e.g. a symbolic link loop).
	ReadErr map[string]error
	// Links are paths that are symbolic links: ReplaceFile refuses them.
	Links map[string]bool
	// Cancellable: Run returns when its context ends, leaving a handler
	// that has not returned (a hung command) running.
	Cancellable bool
	// Replaced, when set, is told the mode of each file ReplaceFile wrote.
	Replaced func(path string, mode fs.FileMode)

	mu       sync.Mutex
	files    map[string]file
	Commands []nodes.Cmd
	// Deadlines[i] is the deadline Commands[i] ran under (zero: none).
	Deadlines []time.Time
	Writes    []string
	locked    bool
	closed    bool
}

type file struct {
	data []byte
	mode fs.FileMode
}

// New returns a fake host with the given files.
func New(name string, files map[string]string, h Handler) *Host {
	fh := &Host{NameV: name, Handler: h, files: map[string]file{}, WriteErr: map[string]error{}, WriteErrAfter: map[string]error{}, ReadErr: map[string]error{}}
	for p, d := range files {
		fh.files[p] = file{data: []byte(d), mode: 0o644}
	}
	return fh
}

func (h *Host) Name() string { return h.NameV }
func (h *Host) Addr() string { return h.NameV + ":22" }

// Run records c (and its deadline) and answers with the handler. With
// Cancellable it returns when ctx ends, with context.Cause, as the SSH
// transport does, even if the handler never does (a hung command).
func (h *Host) Run(ctx context.Context, c nodes.Cmd) (nodes.Output, error) {
	if err := ctx.Err(); err != nil {
		return nodes.Output{}, context.Cause(ctx)
	}
	nodes.NoteScript(ctx, c)
	dl, _ := ctx.Deadline()
	h.mu.Lock()
	h.Commands = append(h.Commands, c)
	h.Deadlines = append(h.Deadlines, dl)
	handler := h.Handler
	h.mu.Unlock()
	if handler == nil {
		return nodes.Output{}, &nodes.ExitError{Host: h.NameV, Command: nodes.CommandLine(c, true), Status: 127, Stderr: []byte("fakehost: no handler")}
	}
	if !h.Cancellable {
		return handler(h, c)
	}
	type result struct {
		out nodes.Output
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := handler(h, c)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		return r.out, r.err
	case <-ctx.Done():
		return nodes.Output{}, context.Cause(ctx)
	}
}

func (h *Host) ReadFile(ctx context.Context, path string) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.ReadErr[path]; err != nil {
		return nil, err
	}
	f, ok := h.files[path]
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: h.NameV + ":" + path, Err: fs.ErrNotExist}
	}
	return append([]byte(nil), f.data...), nil
}

func (h *Host) WriteFile(ctx context.Context, path string, data []byte, mode fs.FileMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.WriteErr[path]; err != nil {
		return err
	}
	if old, ok := h.files[path]; ok {
		mode = old.mode
	}
	h.files[path] = file{data: append([]byte(nil), data...), mode: mode}
	h.Writes = append(h.Writes, path)
	if err := h.WriteErrAfter[path]; err != nil {
		delete(h.WriteErrAfter, path) // once
		return err
	}
	return nil
}

// ReadRegularFile implements nodes.RegularFileReader: a path in Links
// is refused.
func (h *Host) ReadRegularFile(ctx context.Context, path string) ([]byte, error) {
	h.mu.Lock()
	link := h.Links[path]
	h.mu.Unlock()
	if link {
		return nil, &nodes.NotRegularError{Path: path}
	}
	return h.ReadFile(ctx, path)
}

// ReplaceFile implements nodes.FileReplacer: a path in Links is refused;
// private sets mode even on an existing file.
func (h *Host) ReplaceFile(ctx context.Context, path string, data []byte, mode fs.FileMode, private bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Links[path] {
		return &nodes.NotRegularError{Path: path}
	}
	if err := h.WriteErr[path]; err != nil {
		return err
	}
	if old, ok := h.files[path]; ok && !private {
		mode = old.mode
	}
	h.files[path] = file{data: append([]byte(nil), data...), mode: mode}
	h.Writes = append(h.Writes, path)
	if h.Replaced != nil {
		h.Replaced(path, mode)
	}
	return nil
}

func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	return nil
}

// Lock implements nodes.Locker; a second Lock without unlock fails.
func (h *Host) Lock(ctx context.Context, name string) (func() error, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.locked {
		return nil, fmt.Errorf("%s: another swarmctl run holds the lock", h.NameV)
	}
	h.locked = true
	return func() error { h.mu.Lock(); h.locked = false; h.mu.Unlock(); return nil }, nil
}

// File returns a file's content and whether it exists.
func (h *Host) File(path string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.files[path]
	return string(f.data), ok
}

// Mode returns a file's mode.
func (h *Host) Mode(path string) fs.FileMode {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.files[path].mode
}

// SetFile creates or replaces a file directly (test setup).
func (h *Host) SetFile(path, data string, mode fs.FileMode) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.files[path] = file{data: []byte(data), mode: mode}
}

// Closed reports whether Close was called.
func (h *Host) Closed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

var (
	_ nodes.Host              = (*Host)(nil)
	_ nodes.FileReplacer      = (*Host)(nil)
	_ nodes.RegularFileReader = (*Host)(nil)
)
var _ nodes.Locker = (*Host)(nil)

// Paths lists the files whose path starts with prefix, sorted.
func (h *Host) Paths(prefix string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for p := range h.files {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// RemoveFile deletes a file directly (a test's delete.sh).
func (h *Host) RemoveFile(path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.files, path)
}
