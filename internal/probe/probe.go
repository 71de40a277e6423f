// Package probe is how swarmctl asks whether a registry answers: GET /v2/,
// where 200 (serving) or 401 (serving, with auth on) means it does. From a
// node the question is asked by one script, probe.sh (curl, else wget);
// from where swarmctl runs, status asks it in Go. Both judge the answer
// with Answers.
package probe

import (
	"embed"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

//go:embed scripts/probe.sh
var scriptFiles embed.FS

// Script GETs a URL from a node: `probe.sh URL SECONDS`.
var Script = nodes.MustScript(scriptFiles, "scripts/probe.sh")

// NoToolStatus is probe.sh's exit status when the node has neither curl
// nor wget.
const NoToolStatus = 127

// Answers is the one rule for "the registry answers": GET /v2/ gave 200,
// or 401 when it requires auth.
func Answers(status int) bool { return status == 200 || status == 401 }

// Result is one probe.sh run.
type Result struct {
	// Status is the HTTP status the server answered with (0: no answer).
	Status int
	// Latency is the request's duration as curl timed it; negative when
	// wget ran (it cannot time a request).
	Latency time.Duration
	// Err says why there is no answer.
	Err string
	// NoTool: the node has neither curl nor wget (nothing was asked).
	NoTool bool
}

// Answers reports whether the registry answered (see Answers).
func (r Result) Answers() bool { return Answers(r.Status) }

// Cmd is the command that probes url from a node, giving up after timeout.
func Cmd(url string, timeout time.Duration) nodes.Cmd {
	return nodes.Cmd{Script: Script, ScriptArgs: []string{url, Seconds(timeout)}}
}

// Seconds is timeout as probe.sh takes it: whole seconds, at least 1.
func Seconds(timeout time.Duration) string {
	return strconv.Itoa(max(1, int(timeout.Round(time.Second)/time.Second)))
}

// Output is what probe.sh prints when curl got an answer: test fakes
// answer the probe with it.
func Output(status int, latency time.Duration) string {
	return strconv.Itoa(status) + " " + strconv.FormatFloat(latency.Seconds(), 'f', 6, 64) + "\n"
}

// Parse reads what probe.sh printed (stdout, or stdout and stderr
// together) and its exit status.
func Parse(out string, exit int) Result {
	last := ""
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			last = l
		}
	}
	switch {
	case exit == NoToolStatus:
		return Result{NoTool: true, Err: last}
	case exit != 0:
		if last == "" {
			last = "probe.sh exited with status " + strconv.Itoa(exit)
		}
		return Result{Err: last}
	}
	f := strings.Fields(last)
	code, err := strconv.Atoi(firstOr(f, ""))
	if err != nil || code <= 0 || len(f) != 2 {
		return Result{Err: "unexpected answer " + strconv.Quote(last)}
	}
	r := Result{Status: code, Latency: -1}
	if secs, err := strconv.ParseFloat(f[1], 64); err == nil {
		r.Latency = time.Duration(secs * float64(time.Second))
	}
	return r
}

// Of reads a finished nodes.Run of Cmd. ran is false when the script did
// not run to an exit status (the connection failed, the run was
// cancelled): err then says why, and r is empty.
func Of(out nodes.Output, err error) (r Result, ran bool) {
	if err == nil {
		return Parse(string(out.Stdout), 0), true
	}
	var xe *nodes.ExitError
	if errors.As(err, &xe) {
		return Parse(string(xe.Stdout)+"\n"+string(xe.Stderr), xe.Status), true
	}
	return Result{}, false
}

func firstOr(f []string, def string) string {
	if len(f) > 0 {
		return f[0]
	}
	return def
}
