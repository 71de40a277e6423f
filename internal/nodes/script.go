package nodes

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"sync"
)

// Script is a named shell program that runs on nodes. Every one is a file
// (scripts/NAME.sh beside the package that runs it, embedded with go:embed)
// so shellcheck reads it, a diff shows it and a test can run it in a real
// sh. It runs as `sh -c TEXT NAME ARGS...`: the name is the script's $0, so
// the shell's own error messages, -v output, step timings and test fakes
// all say which script it was. User-supplied values only ever travel as
// quoted ARGS.
type Script struct {
	name string
	text string
}

// The transport's own scripts (write.sh, lock.sh).
//
//go:embed scripts/*.sh
var scriptFiles embed.FS

// Name is the script's file name, e.g. "facts.sh".
func (s Script) Name() string { return s.name }

// Text is the program.
func (s Script) Text() string { return s.text }

// IsZero reports whether s is no script (a Cmd that runs Args).
func (s Script) IsZero() bool { return s.name == "" }

var (
	scriptsMu sync.Mutex
	scripts   = map[string]Script{}
)

// MustScript loads the script file p from fsys (an embed.FS) and records
// it under its base name, which must be unique across swarmctl: fakes and
// the benchmark's virtual nodes answer a command by that name. It panics
// when the file is missing or a different script already has the name,
// which is a build mistake found by any test of the package.
func MustScript(fsys fs.FS, p string) Script {
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		panic(fmt.Sprintf("nodes: script %s: %v", p, err))
	}
	s := Script{name: path.Base(p), text: string(b)}
	scriptsMu.Lock()
	defer scriptsMu.Unlock()
	if old, ok := scripts[s.name]; ok && old.text != s.text {
		panic(fmt.Sprintf("nodes: two different scripts are named %s", s.name))
	}
	scripts[s.name] = s
	return s
}

// ScriptNamed returns the loaded script with this name.
func ScriptNamed(name string) (Script, bool) {
	scriptsMu.Lock()
	defer scriptsMu.Unlock()
	s, ok := scripts[name]
	return s, ok
}

// ScriptNames lists the names of every loaded script, sorted.
func ScriptNames() []string {
	scriptsMu.Lock()
	defer scriptsMu.Unlock()
	out := make([]string, 0, len(scripts))
	for n := range scripts {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

type scriptLogKey struct{}

type scriptLog struct {
	mu    sync.Mutex
	names []string
}

// WithScriptLog returns a context under which every script run through a
// Host is noted (see NoteScript), and a function listing their names in
// the order they first ran: the step timings of a run name them.
func WithScriptLog(ctx context.Context) (context.Context, func() []string) {
	l := &scriptLog{}
	return context.WithValue(ctx, scriptLogKey{}, l), func() []string {
		l.mu.Lock()
		defer l.mu.Unlock()
		return append([]string(nil), l.names...)
	}
}

// NoteScript records that c runs a script, for the WithScriptLog of ctx
// (if any). Every Host implementation calls it from Run.
func NoteScript(ctx context.Context, c Cmd) {
	l, ok := ctx.Value(scriptLogKey{}).(*scriptLog)
	if !ok || c.Script.IsZero() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.names {
		if n == c.Script.Name() {
			return
		}
	}
	l.names = append(l.names, c.Script.Name())
}
