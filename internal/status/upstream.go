package status

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	yaml "go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/probe"
	"github.com/swarmctl/swarmctl/internal/regmetrics"
	"github.com/swarmctl/swarmctl/internal/report"
	"github.com/swarmctl/swarmctl/internal/stack"
	"github.com/swarmctl/swarmctl/internal/upcheck"
)

// Upstream is one pull-through cache seen past the mirror: from each of
// its running tasks, the upstream it pulls from (reachable, certificate,
// credentials, pull allowance), the room left on the disk holding its
// cache, and its own counters.
type Upstream struct {
	Registry  string         `json:"registry"`
	Service   string         `json:"service"`
	RemoteURL string         `json:"remote_url"`
	Tasks     []UpstreamTask `json:"tasks"`
	// NotChecked says why no task of it was looked at.
	NotChecked string `json:"not_checked,omitempty"`
}

// UpstreamTask is what one running task of a cache sees.
type UpstreamTask struct {
	Node      string `json:"node"`
	Container string `json:"container,omitempty"`
	// Username is the user the cache's config gives the upstream ("" for
	// anonymous). The password is never read into the report.
	Username string `json:"username,omitempty"`
	// FromTask is GET <remote>/v2/ run inside the task's container.
	FromTask *FromTask `json:"from_task,omitempty"`
	// Check is the upstream asked from the task's node (through its SSH
	// connection) with the container's trust store and the cache's
	// credentials: latency, certificate, credentials, pull allowance.
	Check *upcheck.Result `json:"check,omitempty"`
	// CheckNotDone says why Check is missing.
	CheckNotDone string     `json:"check_not_done,omitempty"`
	Disk         *CacheDisk `json:"disk,omitempty"`
	// Metrics are the cache's own counters (registry:3 Prometheus page
	// read inside the task); MetricsError says why they are missing.
	Metrics      *Metrics `json:"metrics,omitempty"`
	MetricsError string   `json:"metrics_error,omitempty"`
	// Error: the task could not be looked at.
	Error string `json:"error,omitempty"`
}

// FromTask is the upstream's answer to GET /v2/ inside the container.
type FromTask struct {
	Status int    `json:"http_status,omitempty"`
	Error  string `json:"error,omitempty"`
	// NotChecked: the image has no sh, curl or wget to ask with.
	NotChecked string `json:"not_checked,omitempty"`
}

// CacheDisk is the filesystem holding a cache's data directory, on the
// task's node.
type CacheDisk struct {
	Path        string  `json:"path"`
	Filesystem  string  `json:"filesystem,omitempty"`
	TotalBytes  int64   `json:"total_bytes"`
	UsedBytes   int64   `json:"used_bytes"`
	FreeBytes   int64   `json:"free_bytes"`
	FreePercent float64 `json:"free_percent"`
	Error       string  `json:"error,omitempty"`
}

// Metrics are a cache's registry:3 proxy counters since its start, with
// the hit ratio of blobs and manifests (null until a request was served).
type Metrics struct {
	regmetrics.Stats
	BlobHitRatio     *float64 `json:"blob_hit_ratio"`
	ManifestHitRatio *float64 `json:"manifest_hit_ratio"`
}

// Thresholds of the disk and pull-allowance verdicts.
const (
	DiskWarnPercent     = 10.0 // free under this: warning
	DiskDegradedPercent = 2.0  // free under this: degraded
	AllowanceWarnRatio  = 0.10 // remaining under this share of the limit: warning
	// UpstreamStallSeconds is about how long a pull of a cached tag waits
	// for a silent upstream before the cache serves its copy: the
	// registry's HTTP client gives up on the connection after 30 s
	// (distribution#3705; measured 30.4 s on the lab).
	UpstreamStallSeconds = 30
)

// Problem codes of the upstream checks.
const (
	ProblemUpstreamUnreachable = "upstream-unreachable"
	ProblemUpstreamTLS         = "upstream-tls"
	ProblemUpstreamCredentials = "upstream-credentials"
	ProblemPullAllowance       = "pull-allowance"
	ProblemDiskLow             = "disk-low"
)

var (
	upstreamTasksScript = nodes.MustScript(scriptFiles, "scripts/upstream-tasks.sh")
	upstreamTaskScript  = nodes.MustScript(scriptFiles, "scripts/upstream-task.sh")
)

// CheckUpstreams looks at every cache in eps from its running tasks: the
// manager says where they run; each task's node (among members, matched by
// swarm hostname) runs the checks.
func CheckUpstreams(ctx context.Context, mgr nodes.Host, members []*member.Member, eps []stack.Endpoint, timeout time.Duration, clock func() time.Time) []Upstream {
	if len(eps) == 0 {
		return nil
	}
	now := now(clock)
	out := make([]Upstream, len(eps))
	var svcs []string
	for i, e := range eps {
		out[i] = Upstream{Registry: e.Registry, Service: e.Service, RemoteURL: e.RemoteURL, Tasks: []UpstreamTask{}}
		svcs = append(svcs, e.Service)
	}
	sctx, cancel := nodes.Step(ctx, "upstream tasks", nodes.DefaultStepTimeout)
	res, err := mgr.Run(sctx, nodes.Cmd{Script: upstreamTasksScript, ScriptArgs: svcs, Sudo: true})
	cancel()
	if err != nil {
		for i := range out {
			out[i].NotChecked = "the query on " + mgr.Name() + " failed: " + nodes.Unnamed(mgr.Name(), err).Error()
		}
		return out
	}
	sec := nodes.ParseSections(res.Stdout)
	var wg sync.WaitGroup
	for i, e := range eps {
		var tasks []TaskRecord
		for _, l := range sec.NonBlank("s" + strconv.Itoa(i+1)) {
			var t TaskRecord
			if json.Unmarshal([]byte(l), &t) == nil && strings.HasPrefix(t.CurrentState, "Running") {
				tasks = append(tasks, t)
			}
		}
		if len(tasks) == 0 {
			out[i].NotChecked = "no running task of " + e.Service
			continue
		}
		out[i].Tasks = make([]UpstreamTask, len(tasks))
		for j, t := range tasks {
			ut := &out[i].Tasks[j]
			ut.Node = t.Node
			m := memberOn(members, t.Node)
			if m == nil {
				ut.Error = "not checked: no connection to node " + t.Node
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				checkTask(ctx, m.Conn, e, dataDirOn(e, t.Node), ut, timeout, now)
			}()
		}
	}
	wg.Wait()
	return out
}

// now is clock's time, or the time when there is no clock.
func now(clock func() time.Time) time.Time {
	if clock != nil {
		return clock()
	}
	return time.Now()
}

// memberOn is the connected member whose swarm hostname is node.
func memberOn(members []*member.Member, node string) *member.Member {
	for _, m := range members {
		if m.Conn != nil && m.Facts != nil && m.Facts.Hostname == node {
			return m
		}
	}
	return nil
}

// dataDirOn is the cache's data directory on node.
func dataDirOn(e stack.Endpoint, node string) string {
	for _, r := range e.Replicas {
		if r.Node == node {
			return r.DataDir
		}
	}
	if len(e.Replicas) > 0 && e.Replicas[0].Node == "" {
		return e.Replicas[0].DataDir
	}
	return e.DataDir
}

// checkTask runs upstream-task.sh on the task's node, then asks the
// upstream from that node.
func checkTask(ctx context.Context, h nodes.Host, e stack.Endpoint, dir string, ut *UpstreamTask, timeout time.Duration, now time.Time) {
	sctx, cancel := nodes.Step(ctx, "upstream check", nodes.DefaultStepTimeout)
	defer cancel()
	res, err := h.Run(sctx, nodes.Cmd{Script: upstreamTaskScript, Sudo: true,
		ScriptArgs: []string{e.Service, dir, e.RemoteURL, probe.Script.Text(), stack.MetricsURLInTask, VarsURLInTask}})
	if err != nil {
		// Never the output in the message: it may hold the config.
		var xe *nodes.ExitError
		if errors.As(err, &xe) {
			err = fmt.Errorf("exit status %d: %s", xe.Status, strings.TrimSpace(string(xe.Stderr)))
		}
		ut.Error = "the check on " + h.Name() + " failed: " + nodes.Unnamed(h.Name(), err).Error()
		return
	}
	sec := nodes.ParseSections(res.Stdout)
	ut.Container = sec.First("container")
	ut.Disk = parseDF(dir, sec.First("df"))
	if ut.Container == "" {
		ut.Error = "no running container of " + e.Service + " on " + h.Name()
		return
	}
	// The in-task GET /v2/.
	exit, aerr := strconv.Atoi(sec.First("v2exit"))
	if aerr != nil {
		exit = -1
	}
	switch pr := probe.Parse(strings.Join(sec["v2"], "\n"), exit); {
	case pr.NoTool:
		ut.FromTask = &FromTask{NotChecked: "the registry image has neither curl nor wget"}
	case pr.Err != "" && tlsTalk(pr.Err):
		// Busybox's own TLS (Debian's 1.35) cannot agree on a cipher with
		// many servers: that says nothing about the upstream. The node's
		// check below judges it.
		ut.FromTask = &FromTask{NotChecked: "the image's wget cannot speak TLS with the upstream: " + pr.Err}
	case pr.Err != "":
		ut.FromTask = &FromTask{Error: pr.Err}
	default:
		ut.FromTask = &FromTask{Status: pr.Status}
	}
	ut.Metrics, ut.MetricsError = readMetrics(sec)
	// The cache's own config: the remote URL and credentials it really
	// uses (the deployed config, not the inventory's).
	remote, user, pass := e.RemoteURL, "", ""
	if cfg, err := decode64(sec.First("config")); err == nil && len(cfg) > 0 {
		var doc struct {
			Proxy struct {
				RemoteURL string `yaml:"remoteurl"`
				Username  string `yaml:"username"`
				Password  string `yaml:"password"`
			} `yaml:"proxy"`
		}
		if yaml.Unmarshal(cfg, &doc) == nil && doc.Proxy.RemoteURL != "" {
			remote, user, pass = doc.Proxy.RemoteURL, doc.Proxy.Username, doc.Proxy.Password
		}
	}
	ut.Username = user
	roots, _ := decode64(sec.First("roots"))
	dial := dialerOf(h)
	if dial == nil {
		ut.CheckNotDone = "no SSH connection to " + h.Name() + " to reach the upstream through"
		return
	}
	repo := ""
	if e.Registry == stack.DockerHub {
		repo = upcheck.DockerHubProbe
	}
	r := upcheck.Check(ctx, upcheck.Input{RemoteURL: remote, Username: user, Password: pass, Roots: roots,
		Repository: repo, Dial: dial, Timeout: timeout, Now: now})
	if !r.Reachable && strings.Contains(r.Error, "administratively prohibited") {
		// The node's sshd refused the tunnel: nothing is known about the
		// upstream from here.
		ut.CheckNotDone = "the sshd of " + h.Name() + " does not forward TCP connections (AllowTcpForwarding): " + r.Error
		return
	}
	ut.Check = &r
}

// VarsURLInTask is the registry's expvar page inside its task: registry:2's
// only proxy counters (its Prometheus page has none).
const VarsURLInTask = "http://127.0.0.1:5001/debug/vars"

// readMetrics reads the cache's counters: registry:3's Prometheus page,
// else the expvar page (registry:2: blob counts unknown, manifests
// corrected; see internal/regmetrics).
func readMetrics(sec nodes.Sections) (*Metrics, string) {
	page, _ := decode64(sec.First("metrics"))
	st, err := regmetrics.Parse(bytes.NewReader(page), "")
	if err == nil {
		return metricsOf(st), ""
	}
	vars, verr := decode64(sec.First("vars"))
	if !sec.Has("vars") || verr != nil || len(vars) == 0 {
		if len(page) == 0 {
			return nil, "no metrics page at " + stack.MetricsURLInTask + " inside the task"
		}
		return nil, err.Error()
	}
	v := regmetrics.Registry2
	if sec.First("v3") == "yes" {
		v = regmetrics.Registry3
	}
	st, err = regmetrics.ParseExpvar(bytes.NewReader(vars), v)
	if err != nil {
		return nil, err.Error()
	}
	return metricsOf(st), ""
}

// tlsTalk reports a wget error about the TLS conversation itself.
func tlsTalk(msg string) bool {
	l := strings.ToLower(msg)
	return strings.Contains(l, "tls error") || strings.Contains(l, "handshake") || strings.Contains(l, "ssl_client") || strings.Contains(l, "connection reset by peer")
}

// dialerOf dials through h's SSH connection (the node's sshd opens the
// connection, so the upstream sees the node); nil when h is not SSH. A
// host with its own DialContext (a test's) dials with that.
func dialerOf(h nodes.Host) upcheck.DialFunc {
	if d, ok := h.(interface {
		DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	}); ok {
		return d.DialContext
	}
	c, ok := h.(interface{ Client() *ssh.Client })
	if !ok || c.Client() == nil {
		return nil
	}
	cl := c.Client()
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return cl.DialContext(ctx, network, addr)
	}
}

func decode64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(strings.TrimSpace(s)) }

// parseDF reads `df -Pk`'s line: filesystem, 1K-blocks, used, available,
// capacity, mount point.
func parseDF(dir, line string) *CacheDisk {
	d := &CacheDisk{Path: dir}
	f := strings.Fields(line)
	if len(f) < 6 {
		d.Error = strings.TrimSpace(line)
		if d.Error == "" {
			d.Error = "df printed nothing"
		}
		return d
	}
	total, e1 := strconv.ParseInt(f[1], 10, 64)
	used, e2 := strconv.ParseInt(f[2], 10, 64)
	avail, e3 := strconv.ParseInt(f[3], 10, 64)
	if e1 != nil || e2 != nil || e3 != nil || total <= 0 {
		d.Error = "df: " + strings.TrimSpace(line)
		return d
	}
	d.Filesystem = f[0]
	d.TotalBytes, d.UsedBytes, d.FreeBytes = total*1024, used*1024, avail*1024
	d.FreePercent = float64(int(float64(avail)/float64(total)*1000)) / 10
	return d
}

func metricsOf(st regmetrics.Stats) *Metrics {
	m := &Metrics{Stats: st}
	if r, ok := st.Blob.HitRatio(); ok && st.BlobKnown {
		m.BlobHitRatio = &r
	}
	if r, ok := st.Manifest.HitRatio(); ok {
		m.ManifestHitRatio = &r
	}
	return m
}

// judgeUpstreams adds the upstream checks' problems and warnings.
func (r *Report) judgeUpstreams(problem func(code, node, format string, a ...any)) {
	for _, u := range r.Upstreams {
		if u.NotChecked != "" {
			r.Warnings = append(r.Warnings, fmt.Sprintf("upstream %s (%s): not checked: %s", u.Registry, u.Service, u.NotChecked))
		}
		for _, t := range u.Tasks {
			who := "the cache on " + t.Node
			if t.Error != "" {
				r.Warnings = append(r.Warnings, fmt.Sprintf("upstream %s: %s", who, t.Error))
			}
			if d := t.Disk; d != nil && d.Error == "" {
				switch {
				case d.FreePercent < DiskDegradedPercent:
					problem(ProblemDiskLow, t.Node, "cache of %s: %s free of %s on %s (%.1f%%): the cache stops storing new layers when it is full",
						u.Registry, report.HumanBytes(d.FreeBytes), report.HumanBytes(d.TotalBytes), d.Path, d.FreePercent)
				case d.FreePercent < DiskWarnPercent:
					r.Warnings = append(r.Warnings, fmt.Sprintf("cache of %s on %s: %s free of %s on %s (%.1f%%)",
						u.Registry, t.Node, report.HumanBytes(d.FreeBytes), report.HumanBytes(d.TotalBytes), d.Path, d.FreePercent))
				}
			} else if d != nil {
				r.Warnings = append(r.Warnings, fmt.Sprintf("cache of %s on %s: disk not checked: %s", u.Registry, t.Node, d.Error))
			}
			if down := upstreamDown(t); down != "" {
				problem(ProblemUpstreamUnreachable, t.Node, "upstream %s (%s) unreachable from %s: %s; %s",
					u.Registry, u.RemoteURL, who, down, consequence(down))
				continue
			}
			if t.FromTask != nil && t.FromTask.Status != 0 && !probe.Answers(t.FromTask.Status) {
				problem(ProblemUpstreamUnreachable, t.Node, "upstream %s (%s) answers GET /v2/ with HTTP %d from %s; new images cannot be fetched",
					u.Registry, u.RemoteURL, t.FromTask.Status, who)
			}
			c := t.Check
			if c == nil {
				if t.CheckNotDone != "" {
					r.Warnings = append(r.Warnings, fmt.Sprintf("upstream %s: not checked from %s (certificate, credentials, pull allowance): %s", u.Registry, who, t.CheckNotDone))
				}
				continue
			}
			if c.TLS != nil && !c.TLS.OK {
				problem(ProblemUpstreamTLS, t.Node, "upstream %s: its certificate is not trusted by %s: %s; the cache cannot fetch from it",
					u.Registry, who, c.TLS.Reason)
			}
			switch c.Credentials {
			case upcheck.CredRejected:
				problem(ProblemUpstreamCredentials, t.Node, "upstream %s refuses the credentials of %s (user %s): %s; new images cannot be fetched",
					u.Registry, who, t.Username, c.CredentialsError)
			case upcheck.CredNotChecked:
				if c.CredentialsError != "" && c.Reachable && (c.TLS == nil || c.TLS.OK) {
					r.Warnings = append(r.Warnings, fmt.Sprintf("upstream %s: credentials of %s not checked: %s", u.Registry, who, c.CredentialsError))
				}
			}
			if a := c.Allowance; a != nil {
				switch {
				case a.Remaining <= 0:
					problem(ProblemPullAllowance, t.Node, "upstream %s: no pulls left for %s (%d per %s, counted for %s): new images fail with 429 until the window ends",
						u.Registry, who, a.Limit, window(a.WindowSeconds), orDash(a.Source))
				case float64(a.Remaining) < AllowanceWarnRatio*float64(a.Limit):
					r.Warnings = append(r.Warnings, fmt.Sprintf("upstream %s: %d of %d pulls left for %s (per %s)",
						u.Registry, a.Remaining, a.Limit, who, window(a.WindowSeconds)))
				}
			} else if c.AllowanceError != "" && u.Registry == stack.DockerHub {
				r.Warnings = append(r.Warnings, fmt.Sprintf("upstream %s: pull allowance not read for %s: %s", u.Registry, who, c.AllowanceError))
			}
		}
	}
}

// upstreamDown says why the upstream does not answer ("" when it does).
// Inside the task is where it matters; the node's view counts when the
// task could not ask.
func upstreamDown(t UpstreamTask) string {
	if ft := t.FromTask; ft != nil && ft.NotChecked == "" {
		return ft.Error
	}
	if t.Check != nil && !t.Check.Reachable {
		return t.Check.Error
	}
	return ""
}

// consequence says in words what an unreachable upstream means for pulls.
func consequence(why string) string {
	l := strings.ToLower(why)
	if strings.Contains(l, "refused") || strings.Contains(l, "not resolved") || strings.Contains(l, "bad address") || strings.Contains(l, "unknown host") {
		return "new images cannot be fetched; cached tags are still served (the upstream fails at once)"
	}
	return fmt.Sprintf("new images cannot be fetched; cached tags are served after the upstream times out, about %d s per pull", UpstreamStallSeconds)
}

// window says a rate-limit window in words: 21600 -> "6h".
func window(secs int) string {
	switch {
	case secs <= 0:
		return "window"
	case secs%3600 == 0:
		return strconv.Itoa(secs/3600) + "h"
	case secs%60 == 0:
		return strconv.Itoa(secs/60) + "m"
	}
	return strconv.Itoa(secs) + "s"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
