// Package prove decides, from the mirror's own request log, whether each
// node's pulls go through the mirror (issue 14): a node pulls a probe
// image pinned by digest through its own dockerd, and the registry service's
// log either shows that node asking for that digest in that time window, or
// it does not.
//
// A configured mirror is not a used one: when the mirror is unreachable
// from a node, its TLS certificate is not trusted there, or a hosts.toml
// overrides daemon.json, dockerd falls back to the upstream with nothing
// but an info-level log line, and `docker info` still lists the mirror. So
// the pull succeeding proves nothing; the mirror's log is the evidence. The
// node-side facts gathered beside the pull (can the node reach the mirror,
// with TLS checked; which hosts.toml it has; which mirrors dockerd loaded)
// only explain a bypass, they never decide one.
//
// # Matching a request to a node
//
// distribution logs every request with the client's address
// (http.request.remoteaddr, which honours X-Forwarded-For behind a proxy,
// and the combined access log line). The address is matched against the
// node's own addresses (`hostname -I`, the address swarmctl dialled, its
// swarm address) and the request's time against the node's pull window
// (Slack, 2 s, either side). An address several nodes share (docker_gwbridge's
// 172.18.0.1 exists on every swarm node; a node reaching a host-published
// port on itself is seen from it) goes to the node among them that runs a
// task of the registry service, when that is exactly one. With ingress
// publishing the registry sees the ingress network's address, which is no
// node's: such requests are reported, never guessed at.
package prove

import (
	"embed"
	"encoding/base64"
	"encoding/json"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

//go:embed scripts/*.sh
var scriptFiles embed.FS

// PullScript pulls the probe on a node: `probe-pull.sh REF SECONDS
// MIRROR_URL REGISTRY`.
var PullScript = nodes.MustScript(scriptFiles, "scripts/probe-pull.sh")

// LogScript reads the registry service's log on a manager:
// `registry-log.sh SERVICE SINCE_UNIX PATTERN`.
var LogScript = nodes.MustScript(scriptFiles, "scripts/registry-log.sh")

// Slack is how far outside a node's pull window a request still counts
// (clocks of the node and of the registry's node differ a little). Kept
// short: a request of an earlier proof must not count for this one.
const Slack = 2 * time.Second

// Pull is what probe-pull.sh reports from one node.
type Pull struct {
	Addrs      []string
	HadImage   bool // the node had the image before: it is left in place
	Start, End time.Time
	ExitCode   int      // docker pull's exit status (124: timed out)
	Output     []string // docker pull's last lines
	Cleanup    string   // "removed", "kept: <why>", or ""
	// MirrorCurl is curl's exit status for GET <mirror>/v2/ from the node
	// (-1: not known, 127: no curl); MirrorHTTP the status it got.
	MirrorCurl int
	MirrorHTTP int
	HostsTOML  []byte // the node's hosts.toml for the registry, nil when none
	Complete   bool   // the script ran to its end
}

// Ok reports whether the pull succeeded.
func (p Pull) Ok() bool { return p.Complete && p.ExitCode == 0 }

// ParsePull reads probe-pull.sh's output.
func ParsePull(out []byte) Pull {
	sec := nodes.ParseSections(out)
	p := Pull{Complete: sec.Has("end"), MirrorCurl: -1, ExitCode: -1}
	p.Addrs = sec.NonBlank("addrs")
	p.HadImage = strings.TrimSpace(sec.First("had")) != ""
	p.Start = unix(sec.First("start"))
	p.End = unix(sec.First("finish"))
	if pl := sec["pull"]; len(pl) > 0 {
		if n, err := strconv.Atoi(strings.TrimSpace(pl[0])); err == nil {
			p.ExitCode = n
		}
		for _, l := range pl[1:] {
			if strings.TrimSpace(l) != "" {
				p.Output = append(p.Output, strings.TrimSpace(l))
			}
		}
	}
	p.Cleanup = strings.TrimSpace(sec.First("cleanup"))
	if f := strings.Fields(sec.First("mirror")); len(f) > 0 {
		p.MirrorCurl, _ = strconv.Atoi(f[0])
		if len(f) > 1 {
			p.MirrorHTTP, _ = strconv.Atoi(f[1])
		}
	}
	if h := strings.TrimSpace(sec.First("hoststoml")); h != "" {
		if b, err := base64.StdEncoding.DecodeString(h); err == nil {
			p.HostsTOML = b
		}
	}
	return p
}

// unix reads date's "%s.%N" (a date without %N prints "%s.N": whole
// seconds then).
func unix(s string) time.Time {
	sec, frac, _ := strings.Cut(strings.TrimSpace(s), ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	ns, err := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	if err != nil {
		ns = 0
	}
	return time.Unix(n, ns).UTC()
}

// Request is one request the registry logged.
type Request struct {
	Time   time.Time
	Client string // address without port
	Method string
	URI    string
	Status int
}

// RegistryLog is what registry-log.sh reports.
type RegistryLog struct {
	TaskNodes []string // hostnames of the nodes running a task
	Requests  []Request
	Err       string // docker service logs failed: why
	Complete  bool
}

// ParseRegistryLog reads registry-log.sh's output.
func ParseRegistryLog(out []byte) RegistryLog {
	sec := nodes.ParseSections(out)
	l := RegistryLog{Complete: sec.Has("end"), TaskNodes: sec.NonBlank("tasks")}
	if rc := strings.TrimSpace(sec.First("rc")); rc != "0" {
		l.Err = strings.Join(sec.NonBlank("error"), "; ")
		if l.Err == "" {
			l.Err = "docker service logs exited " + rc
		}
	}
	for _, line := range sec["log"] {
		if r, ok := ParseLogLine(line); ok {
			l.Requests = append(l.Requests, r)
		}
	}
	return l
}

var (
	combinedLine = regexp.MustCompile(`^(\S+) - \S+ \[[^\]]*\] "([A-Z]+) (\S+) [^"]*" (\d{3}) `)
	logrusField  = regexp.MustCompile(`(http\.request\.remoteaddr|http\.request\.uri|http\.request\.method|http\.response\.status)=("(?:[^"\\]|\\.)*"|\S+)`)
)

// ParseLogLine reads one line of `docker service logs --raw --timestamps`
// of a distribution registry: the timestamp docker adds, then either the
// access log's combined line, a logrus text line with http.request.* and
// http.response.status fields, or the same fields as a JSON object.
func ParseLogLine(line string) (Request, bool) {
	ts, rest, ok := strings.Cut(strings.TrimSpace(line), " ")
	if !ok {
		return Request{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Request{}, false
	}
	r := Request{Time: t.UTC()}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.HasPrefix(rest, "{"):
		var m map[string]any
		if json.Unmarshal([]byte(rest), &m) != nil {
			return Request{}, false
		}
		r.Client, _ = m["http.request.remoteaddr"].(string)
		r.URI, _ = m["http.request.uri"].(string)
		r.Method, _ = m["http.request.method"].(string)
		if s, ok := m["http.response.status"].(float64); ok {
			r.Status = int(s)
		}
	case combinedLine.MatchString(rest):
		m := combinedLine.FindStringSubmatch(rest)
		r.Client, r.Method, r.URI = m[1], m[2], m[3]
		r.Status, _ = strconv.Atoi(m[4])
	default:
		for _, m := range logrusField.FindAllStringSubmatch(rest, -1) {
			v := m[2]
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
			switch m[1] {
			case "http.request.remoteaddr":
				r.Client = v
			case "http.request.uri":
				r.URI = v
			case "http.request.method":
				r.Method = v
			case "http.response.status":
				r.Status, _ = strconv.Atoi(v)
			}
		}
	}
	if r.Client == "" || r.URI == "" || r.Status == 0 {
		return Request{}, false
	}
	r.Client = hostOnly(r.Client)
	return r, true
}

// hostOnly drops a port (and the brackets of an IPv6 address); of an
// X-Forwarded-For list the first address is the client.
func hostOnly(a string) string {
	a = strings.TrimSpace(strings.Split(a, ",")[0])
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return strings.Trim(a, "[]")
}

// Probe is one node's pull, as the judge sees it.
type Probe struct {
	Node     string
	Hostname string   // the node's own name, as swarm shows it for tasks
	Addrs    []string // every address the node may be seen from
	Pull     Pull
}

// Evidence is what the log shows for one node.
type Evidence struct {
	Requests []Request // the node's requests for the probe's manifest
}

// Served reports whether the mirror answered the node's request with the
// manifest (any status below 400).
func (e Evidence) Served() bool {
	return slices.ContainsFunc(e.Requests, func(r Request) bool { return r.Status < 400 })
}

// FirstStatus is the status of the node's first request (0: none).
func (e Evidence) FirstStatus() int {
	if len(e.Requests) == 0 {
		return 0
	}
	return e.Requests[0].Status
}

// Attribute sorts the log's requests for the probe's manifest (repo at
// digest) to the probes they came from (see the package doc); unmatched
// are the requests no node could be tied to.
func Attribute(log RegistryLog, repo, digest string, probes []Probe) (byNode map[string]Evidence, unmatched []Request) {
	byNode = map[string]Evidence{}
	want := "/v2/" + repo + "/manifests/" + digest
	for _, r := range log.Requests {
		// containerd asks a mirror with ?ns=<registry> appended.
		if path, _, _ := strings.Cut(r.URI, "?"); path != want {
			continue
		}
		var cands []Probe
		for _, p := range probes {
			if slices.Contains(p.Addrs, r.Client) && inWindow(r.Time, p.Pull) {
				cands = append(cands, p)
			}
		}
		if len(cands) > 1 {
			var onTask []Probe
			for _, p := range cands {
				if p.Hostname != "" && slices.Contains(log.TaskNodes, p.Hostname) {
					onTask = append(onTask, p)
				}
			}
			cands = onTask
		}
		if len(cands) != 1 {
			unmatched = append(unmatched, r)
			continue
		}
		ev := byNode[cands[0].Node]
		ev.Requests = append(ev.Requests, r)
		byNode[cands[0].Node] = ev
	}
	return byNode, unmatched
}

func inWindow(t time.Time, p Pull) bool {
	if p.Start.IsZero() || p.End.IsZero() {
		return false
	}
	return !t.Before(p.Start.Add(-Slack)) && !t.After(p.End.Add(Slack))
}
