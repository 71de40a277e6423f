// Package doctor checks, without changing anything, what a run needs on
// each node: sudo, docker, daemon.json, the unit's flags, the swarm role,
// free disk, the engine, and the mirror as the node sees it. It reuses
// what the commands themselves run (the facts script, configure's merge
// and unit check, the probe script), so a check passes exactly when the
// run would get past that point.
package doctor

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/swarmctl/swarmctl/internal/configure"
	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/probe"
	"github.com/swarmctl/swarmctl/internal/report"
)

// Statuses of a check.
const (
	OK   = "ok"
	Warn = "warn" // worth knowing; does not fail
	Fail = "fail" // a run would fail (or do harm) here
	Skip = "skip" // not checked: an earlier check failed, or nothing to check
)

// Check is one line of the report.
type Check struct {
	// Node is "" for a check of the machine swarmctl runs on.
	Node    string `json:"node"`
	Check   string `json:"check"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// Options are what the node checks compare against.
type Options struct {
	// Settings are what nodes configure would write (the unit's flags are
	// checked against these keys, the file merged with them).
	Settings daemonjson.Settings
	// MirrorURL is GET from each node ("" = not checked).
	MirrorURL string
	// Timeout bounds the mirror check from a node.
	Timeout time.Duration
}

// Disk thresholds: below FailBytes free a write or docker's start may
// fail; below WarnBytes pulls through the mirror will soon.
const (
	FailBytes = 100 << 20
	WarnBytes = 2 << 30
)

//go:embed scripts/*.sh
var scriptFiles embed.FS

var diskScript = nodes.MustScript(scriptFiles, "scripts/disk.sh")

// Node runs every check on a member the fleet connected (Conn open, Facts
// gathered, or Err): one line per check, in a fixed order.
func Node(ctx context.Context, m *member.Member, o Options) []Check {
	var out []Check
	add := func(check, status, msg, hint string) {
		out = append(out, Check{Node: m.Name, Check: check, Status: status, Message: msg, Hint: hint})
	}
	skipRest := func(why string, checks ...string) {
		for _, c := range checks {
			add(c, Skip, why, "")
		}
	}
	later := []string{"docker", "daemon-json", "unit-flags", "swarm", "disk", "engine", "mirror"}
	if !m.Reached {
		add("ssh", Fail, errText(m), sshHint(m.Err))
		skipRest("not connected", append([]string{"sudo"}, later...)...)
		return out
	}
	add("ssh", OK, fmt.Sprintf("connected to %s as %s", m.Address(), loginUser(m)), "")
	if m.Conn == nil {
		skipRest("the connection closed", append([]string{"sudo"}, later...)...)
		return out
	}
	sudoOK := checkSudo(ctx, m, add)
	f := m.Facts
	if f == nil {
		why := "facts not gathered: " + errText(m)
		if !sudoOK {
			why = "needs sudo"
		}
		skipRest(why, later...)
		return out
	}

	switch {
	case f.Service == "":
		add("docker", Fail, "no docker service found (docker-latest.service or docker.service)", "install docker, or name the unit with --service")
	case !f.ServiceActive:
		add("docker", Fail, f.Service+".service is not active", "start it (systemctl start "+f.Service+")")
	case f.DockerError != "":
		add("docker", Fail, "docker info did not answer: "+f.DockerError, "")
	default:
		add("docker", OK, fmt.Sprintf("%s.service active, Docker %s", f.Service, f.DockerVersion), "")
	}

	changes, fileErr, unitErr := configure.Preview(f, o.Settings)
	switch {
	case f.Service == "":
		add("daemon-json", Skip, "no docker service", "")
	case fileErr != nil:
		add("daemon-json", Fail, fileErr.Error(), "")
	case !f.DaemonJSONExists:
		add("daemon-json", OK, f.DaemonJSONPath+" does not exist yet: nodes configure creates it", "")
	case len(changes) == 0:
		add("daemon-json", OK, f.DaemonJSONPath+" parses and already has the mirror settings", "")
	default:
		var cs []string
		for _, c := range changes {
			cs = append(cs, c.Action+" "+c.Key)
		}
		add("daemon-json", OK, f.DaemonJSONPath+" parses; nodes configure would "+strings.Join(cs, ", "), "")
	}
	switch {
	case f.Service == "":
		add("unit-flags", Skip, "no docker service", "")
	case unitErr != nil:
		add("unit-flags", Fail, unitErr.Error(), "")
	default:
		add("unit-flags", OK, "no dockerd flag in "+f.Service+".service sets a key swarmctl writes", "")
	}

	switch f.Role() {
	case "none":
		add("swarm", Warn, "not in a swarm ("+dash(f.SwarmState)+"): configured as a plain docker host", "")
	default:
		add("swarm", OK, f.Role(), "")
	}

	checkDisk(ctx, m, add)
	checkEngine(f, add)
	checkMirror(ctx, m, o, add)
	return out
}

func loginUser(m *member.Member) string {
	if m.Facts != nil && m.Facts.User != "" {
		return m.Facts.User
	}
	return m.Target.User
}

func errText(m *member.Member) string {
	if m.Err == nil {
		return "not reached"
	}
	return nodes.Unnamed(m.Name, m.Err).Error()
}

// sshHint says what to do about a failed connection.
func sshHint(err error) string {
	var hk *nodes.HostKeyError
	switch {
	case errors.As(err, &hk) && hk.Changed:
		return "verify the new fingerprint out of band before removing the old entry"
	case errors.As(err, &hk):
		return "check the fingerprint, then swarmctl init (or --host-key-policy accept-new once) records it"
	case err != nil && strings.Contains(err.Error(), "authentication failed"):
		return "the node does not accept any key offered: see the ssh-key check"
	}
	return ""
}

// checkSudo: root needs no sudo; otherwise `sudo -n true` must pass,
// unless privileged steps are off (--sudo=false).
func checkSudo(ctx context.Context, m *member.Member, add func(check, status, msg, hint string)) bool {
	if loginUser(m) == "root" {
		add("sudo", OK, "the login user is root: no sudo needed", "")
		return true
	}
	if !m.Target.Sudo {
		add("sudo", Warn, "sudo is off (--sudo=false / sudo: false): privileged steps run as "+loginUser(m), "")
		return true
	}
	_, err := m.Conn.Run(ctx, nodes.Cmd{Args: []string{"sudo", "-n", "true"}})
	var sp *nodes.SudoPasswordError
	var ee *nodes.ExitError
	switch {
	case err == nil:
		add("sudo", OK, "sudo -n works for "+loginUser(m), "")
		return true
	case errors.As(err, &sp), errors.As(err, &ee) && (strings.Contains(string(ee.Stderr), "password") || strings.Contains(string(ee.Stderr), "terminal")):
		add("sudo", Fail, "sudo needs a password for "+loginUser(m), "configure NOPASSWD for swarmctl's commands, or connect as root")
	default:
		add("sudo", Fail, "sudo -n true: "+err.Error(), "")
	}
	return false
}

// checkDisk reads the free space where daemon.json is written and where
// docker keeps images.
func checkDisk(ctx context.Context, m *member.Member, add func(check, status, msg, hint string)) {
	out, err := m.Conn.Run(ctx, nodes.Cmd{Script: diskScript, ScriptArgs: []string{m.Facts.DaemonJSONPath}, Sudo: true})
	if err != nil {
		add("disk", Skip, "could not read the free space: "+err.Error(), "")
		return
	}
	worst, worstPath, parts := int64(-1), "", []string(nil)
	for _, l := range strings.Split(strings.TrimSpace(string(out.Stdout)), "\n") {
		kib, p, ok := strings.Cut(l, " ")
		n, err := strconv.ParseInt(kib, 10, 64)
		if !ok || err != nil {
			continue
		}
		b := n * 1024
		parts = append(parts, report.HumanBytes(b)+" free on "+p)
		if worst < 0 || b < worst {
			worst, worstPath = b, p
		}
	}
	switch {
	case worst < 0:
		add("disk", Skip, "df gave no answer", "")
	case worst < FailBytes:
		add("disk", Fail, strings.Join(parts, ", "), "free space on "+worstPath+": a new daemon.json or docker's start may fail")
	case worst < WarnBytes:
		add("disk", Warn, strings.Join(parts, ", "), "pulls through the mirror need room on "+worstPath)
	default:
		add("disk", OK, strings.Join(parts, ", "), "")
	}
}

// checkEngine says what the engine means for the mirror: engines before
// 23 have no dockerd --validate (a bad file is found only by restarting).
func checkEngine(f *member.Facts, add func(check, status, msg, hint string)) {
	v := f.DockerVersion
	if v == "" {
		add("engine", Skip, "docker did not say its version", "")
		return
	}
	major, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	msg := "Docker " + v
	switch {
	case major > 0 && major < 23:
		add("engine", Warn, msg+": no dockerd --validate, so a new daemon.json is checked only by reloading or restarting docker (swarmctl rolls back on failure)", "")
	default:
		add("engine", OK, msg+"; registry-mirrors covers Docker Hub images only", "")
	}
}

// checkMirror GETs the mirror's /v2/ from the node, as its docker would.
func checkMirror(ctx context.Context, m *member.Member, o Options, add func(check, status, msg, hint string)) {
	if o.MirrorURL == "" {
		add("mirror", Skip, "no mirror URL (mirror.url, mirror.fqdn or --mirror)", "")
		return
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	target := strings.TrimRight(o.MirrorURL, "/") + "/v2/"
	out, err := m.Conn.Run(ctx, probe.Cmd(target, timeout))
	exit := 0
	var ee *nodes.ExitError
	text := string(out.Stdout)
	if errors.As(err, &ee) {
		exit, text = ee.Status, string(ee.Stdout)+string(ee.Stderr)
	} else if err != nil {
		add("mirror", Skip, "could not run the check: "+err.Error(), "")
		return
	}
	r := probe.Parse(text, exit)
	switch {
	case r.NoTool:
		add("mirror", Warn, "no curl or wget on the node: GET "+target+" not checked from it", "")
	case r.Err != "":
		add("mirror", Fail, "GET "+target+" from the node: "+r.Err, "a node that cannot reach the mirror falls back to Docker Hub silently (once installed: mirror install)")
	case !r.Answers():
		add("mirror", Fail, fmt.Sprintf("GET %s from the node: HTTP %d", target, r.Status), "")
	case r.Latency >= 0:
		add("mirror", OK, fmt.Sprintf("GET %s from the node: HTTP %d in %d ms", target, r.Status, r.Latency.Milliseconds()), "")
	default:
		add("mirror", OK, fmt.Sprintf("GET %s from the node: HTTP %d", target, r.Status), "")
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Summary counts checks by status.
func Summary(cs []Check) map[string]int {
	s := map[string]int{OK: 0, Warn: 0, Fail: 0, Skip: 0}
	for _, c := range cs {
		s[c.Status]++
	}
	return s
}
