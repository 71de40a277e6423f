package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"time"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

// dialTarget is how the in-process helpers reach one node.
type dialTarget struct {
	host       string
	port       int
	key        string
	knownHosts string
}

func (t dialTarget) dial(ctx context.Context) (*nodes.SSHHost, error) {
	return nodes.Dial(ctx,
		nodes.Target{Name: t.host, Host: t.host, Port: t.port, User: "root", KeyFiles: []string{t.key}},
		nodes.DialOptions{KnownHostsFiles: []string{t.knownHosts}, SSHConfigPath: "none", KeepAlive: -1, Warn: io.Discard,
			ConnectTimeout: 2 * time.Minute}) // the latency proxy makes a handshake slow on purpose
}

// dialOnly measures nodes.Dial (TCP connect, SSH handshake, auth) and
// Close: what a node costs before any command.
func dialOnly(ctx context.Context, t dialTarget) (time.Duration, error) {
	t0 := time.Now()
	h, err := t.dial(ctx)
	if err != nil {
		return 0, err
	}
	d := time.Since(t0)
	h.Close()
	return d, nil
}

// dialAndFacts is the no-op's remote part done in-process: Dial, the one
// facts command, Close. No process start, no inventory, no merge.
func dialAndFacts(ctx context.Context, t dialTarget) (time.Duration, error) {
	t0 := time.Now()
	h, err := t.dial(ctx)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	if _, err := member.GatherFacts(ctx, h, "", ""); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// factsCommandLine is the exact command line GatherFacts sends to a root
// login, captured with a recording Host: the OpenSSH comparison runs the
// very same remote work.
func factsCommandLine() string {
	r := &recordingHost{}
	_, _ = member.GatherFacts(context.Background(), r, "", "")
	return nodes.CommandLine(r.cmd, true)
}

var errRecorded = errors.New("recorded, not run")

type recordingHost struct{ cmd nodes.Cmd }

func (r *recordingHost) Name() string { return "recorder" }
func (r *recordingHost) Addr() string { return "recorder:22" }
func (r *recordingHost) Run(_ context.Context, c nodes.Cmd) (nodes.Output, error) {
	r.cmd = c
	return nodes.Output{}, errRecorded
}
func (r *recordingHost) ReadFile(context.Context, string) ([]byte, error) { return nil, errRecorded }
func (r *recordingHost) WriteFile(context.Context, string, []byte, fs.FileMode) error {
	return errRecorded
}
func (r *recordingHost) Close() error { return nil }
