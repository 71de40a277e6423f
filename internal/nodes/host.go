// Package nodes reaches hosts: it dials them over SSH, runs quoted commands
// (through sudo where needed), reads and atomically writes files, and runs
// work on many hosts in parallel.
package nodes

import (
	"context"
	"io/fs"
	"strings"
)

// Host is one node reached over a single connection. Every command and file
// operation on a node goes through it, so logic above this package can be
// tested with a fake Host and runs unchanged over SSH.
type Host interface {
	// Name is the node's display name (inventory name, else host).
	Name() string
	// Addr is host:port as dialled.
	Addr() string
	// Run runs one command on the node. The command line is built from
	// Cmd.Args with shell quoting (never from raw strings); with Cmd.Sudo
	// and a non-root user it is wrapped in `sudo -n`. A non-zero exit is
	// returned as *ExitError carrying stdout/stderr.
	Run(ctx context.Context, c Cmd) (Output, error)
	// ReadFile returns the file's bytes, or an error wrapping fs.ErrNotExist.
	// Privileged reads go through sudo when the user is not root. Errors
	// say "read <node>:<path>: ..." (scp's notation); the other errors of a
	// Host do not name the node, but SudoPasswordError and LockBusyError:
	// the caller does, once (see Unnamed).
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// WriteFile atomically replaces path with data: temp file in the same
	// directory, fsync, rename. The owner and mode of an existing file are
	// kept (mode is used for a new file); a symlink is written through to its
	// target. data never appears on a command line. Errors say
	// "write <path>: ..." (or "write <node>:<path>: ..." from SFTP).
	WriteFile(ctx context.Context, path string, data []byte, mode fs.FileMode) error
	// Close closes the connection. Safe to call more than once.
	Close() error
}

// Cmd is one remote command.
type Cmd struct {
	// Args is the argv; each element is shell-quoted. Use Script instead
	// for a shell program.
	Args []string
	// Script is one of swarmctl's script files, run as
	// `sh -c TEXT NAME ScriptArgs...`; user-supplied values go in
	// ScriptArgs (positional parameters), which are quoted.
	Script     Script
	ScriptArgs []string
	// Sudo runs the command as root (sudo -n) when the user is not root.
	Sudo bool
	// Stdin is fed to the command (secrets go here, never in Args).
	Stdin []byte
	// Redact lists strings to hide in logs of this command (-v output).
	Redact []string
}

// Output is what a finished command printed.
type Output struct {
	Stdout []byte
	Stderr []byte
}

// ExitError is a command that ran and exited non-zero.
type ExitError struct {
	Host    string
	Command string // as logged: redacted
	Status  int
	Stdout  []byte
	Stderr  []byte
}

func (e *ExitError) Error() string {
	msg := string(trimTail(e.Stderr, 400))
	if msg == "" {
		msg = string(trimTail(e.Stdout, 400))
	}
	if msg == "" {
		return "command exited with status " + itoa(e.Status)
	}
	return "command exited with status " + itoa(e.Status) + ": " + msg
}

// Locker is implemented by hosts that can hold a remote lock for the length
// of a run, so two swarmctl runs never interleave on one node. The lock is
// released by unlock or when the connection drops.
type Locker interface {
	Lock(ctx context.Context, name string) (unlock func() error, err error)
}

// Unnamed is err as the caller reports it under the node's own name: every
// "<node>: " its message starts a part of the chain with (as
// SudoPasswordError and LockBusyError do) is left out, so the node is
// named once. errors.Is and errors.As still see err.
func Unnamed(node string, err error) error {
	if err == nil || node == "" {
		return err
	}
	msg, p := err.Error(), node+": "
	short := strings.ReplaceAll(strings.TrimPrefix(msg, p), ": "+p, ": ")
	if short == msg {
		return err
	}
	return &unnamedError{msg: short, err: err}
}

type unnamedError struct {
	msg string
	err error
}

func (e *unnamedError) Error() string { return e.msg }
func (e *unnamedError) Unwrap() error { return e.err }
