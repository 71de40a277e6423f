package configure

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
)

// cluster is a fake swarm shared by fake nodes: what `docker node ls`
// answers, plus a log of the restarts/reloads in the order they happened.
type cluster struct {
	mu      sync.Mutex
	members map[string]*swarmMember // by node ID
	order   []string                // member list order
	events  []string                // "restart m1", "reload w1", "drain w1", ...
	// maxDown is the most managers seen unreachable at once.
	maxDown int
}

type swarmMember struct {
	id, hostname, role, state, avail, reach string
	leader                                  bool
	addr                                    string // Status.Addr of a worker ("" = 10.0.0.2)
	// tasks run on the node; a drain stops them unless stuck.
	tasks int
	stuck bool
}

func newCluster() *cluster { return &cluster{members: map[string]*swarmMember{}} }

func (c *cluster) add(m *swarmMember) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.members[m.id] = m
	c.order = append(c.order, m.id)
}

func (c *cluster) log(e string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
}

func (c *cluster) Events() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.events...)
}

// fakeNode emulates the parts of a node swarmctl talks to: systemd's
// docker unit, dockerd's live config, docker info/node, journalctl.
type fakeNode struct {
	t   *testing.T
	fh  *fakehost.Host
	cl  *cluster
	mu  sync.Mutex
	cfg string // daemon.json path

	service      string
	active       bool
	pid          int
	mirrors      []string // live, as dockerd reports them (trailing /)
	experimental bool
	version      string
	execStart    string
	envOptions   string
	swarmID      string // "" = not in a swarm; what the node's docker info reports
	hostname     string // what the node reports ("" = its name)
	addr         string // the IP it is reached at ("" = its name)
	manager      bool
	leader       bool

	// Failure injection.
	restartBreaks bool // the daemon does not come back after a restart with the new file
	reloadIgnored bool // a reload does not apply the mirrors
	validateFails bool
	// startLimited: a failed restart (and systemd's Restart= attempts)
	// used up the unit's start limit; restarts are refused until
	// reset-failed, as systemd does.
	startLimited bool
	locks        int
	backups      []string
	// hangOnce: the first `systemctl <hangOnce>` never returns (a hung
	// step); later ones work.
	hangOnce string
	hung     atomic.Bool
	// tooLarge: the facts report daemon.json as over MaxDaemonJSON.
	tooLarge int64
}

// dialled is a member configure dials itself.
func dialled(name string, dial func(context.Context) (nodes.Host, error)) *member.Member {
	return member.New(name, nodes.Target{Host: name}, "", func(ctx context.Context, _ nodes.Target) (nodes.Host, error) { return dial(ctx) })
}

// connected is a member the caller already connected (Run does not close it).
func connected(name string, h nodes.Host) *member.Member {
	return &member.Member{Name: name, Target: nodes.Target{Host: name, Port: 22}, Conn: h, Reached: true}
}

func newFakeNode(t *testing.T, cl *cluster, name, daemonJSON string) *fakeNode {
	n := &fakeNode{t: t, cl: cl, cfg: "/etc/docker/daemon.json", service: "docker", active: true, pid: 100,
		mirrors: []string{}, version: "20.10.24",
		execStart: "{ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock ; ignore_errors=no ; start_time=[n/a] }"}
	files := map[string]string{}
	if daemonJSON != "" {
		files[n.cfg] = daemonJSON
	}
	n.fh = fakehost.New(name, files, n.handle)
	return n
}

// inSwarm makes the node a swarm member (and registers it in the cluster).
func (n *fakeNode) inSwarm(role string, leader bool) *fakeNode {
	n.swarmID = "id-" + n.fh.Name()
	n.manager = role == "manager"
	n.leader = leader
	m := &swarmMember{id: n.swarmID, hostname: n.fh.Name(), role: role, state: "ready", avail: "active"}
	if n.manager {
		m.reach, m.leader = "reachable", leader
	}
	n.cl.add(m)
	return n
}

// Host is what Run gets: the fake host plus a counted lock.
func (n *fakeNode) Host() nodes.Host { return &lockCounter{Host: n.fh, n: n} }

type lockCounter struct {
	*fakehost.Host
	n *fakeNode
}

func (l *lockCounter) Addr() string {
	if l.n.addr != "" {
		return l.n.addr + ":22"
	}
	return l.Host.Addr()
}

func (l *lockCounter) Lock(ctx context.Context, name string) (func() error, error) {
	l.n.mu.Lock()
	l.n.locks++
	l.n.mu.Unlock()
	return l.Host.Lock(ctx, name)
}

func exitErr(n *fakeNode, c nodes.Cmd, status int, stderr string) error {
	return &nodes.ExitError{Host: n.fh.Name(), Command: nodes.CommandLine(c, true), Status: status, Stderr: []byte(stderr)}
}

func (n *fakeNode) handle(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
	if len(c.Args) == 3 && c.Args[0] == "systemctl" && c.Args[1] == n.hangOnce && n.hung.CompareAndSwap(false, true) {
		n.cl.log("hung " + n.hangOnce + " " + n.fh.Name())
		<-n.t.Context().Done()
		return nodes.Output{}, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	out := func(s string) (nodes.Output, error) { return nodes.Output{Stdout: []byte(s)}, nil }
	switch c.Script.Name() {
	case "facts.sh":
		return out(n.facts())
	case "backup.sh":
		return out(n.backup(c.ScriptArgs))
	case "verify.sh":
		swarm := "inactive"
		if n.swarmID != "" && n.active {
			swarm = "active"
		}
		return out(VerifyOutput(n.active, n.pid, n.mirrors, n.experimental, swarm))
	case "remove.sh":
		n.cl.log("remove " + n.fh.Name() + " " + c.ScriptArgs[0])
		return out("")
	case "prepare.sh":
		return out("")
	case "delete.sh":
		n.fh.RemoveFile(c.ScriptArgs[0])
		n.cl.log("delete " + n.fh.Name() + " " + c.ScriptArgs[0])
		return out("")
	case "node-wait.sh":
		return out(n.cl.waitLine(c.ScriptArgs[0]))
	case "drain-wait.sh":
		n.cl.mu.Lock()
		defer n.cl.mu.Unlock()
		m := n.cl.members[c.ScriptArgs[0]]
		if m == nil {
			return out("error Error response from daemon: node " + c.ScriptArgs[0] + " not found\n")
		}
		if m.avail == "drain" && !m.stuck {
			m.tasks = 0
		}
		n.cl.events = append(n.cl.events, fmt.Sprintf("tasks %s %d", m.id, m.tasks))
		return out(fmt.Sprintf("%d\n", m.tasks))
	case "swarm-nodes.sh":
		if !n.manager {
			return nodes.Output{}, exitErr(n, c, 1, "Error response from daemon: This node is not a swarm manager.")
		}
		return out(n.cl.list())
	}
	switch {
	case len(c.Args) == 3 && c.Args[0] == "systemctl":
		return n.systemctl(c)
	case len(c.Args) > 0 && c.Args[0] == "journalctl":
		return out("-- journal of " + n.fh.Name() + " --\nfailed to start daemon: boom\n")
	case len(c.Args) > 1 && c.Args[1] == "--validate":
		if n.validateFails {
			return nodes.Output{}, exitErr(n, c, 1, "unable to configure the Docker daemon with file "+c.Args[3]+": bad")
		}
		return out("configuration OK\n")
	case len(c.Args) == 6 && c.Args[0] == "docker" && c.Args[1] == "node" && c.Args[2] == "update":
		n.cl.mu.Lock()
		n.cl.members[c.Args[5]].avail = c.Args[4]
		n.cl.events = append(n.cl.events, c.Args[4]+" "+c.Args[5])
		n.cl.mu.Unlock()
		return out(c.Args[5] + "\n")
	}
	n.t.Errorf("%s: unexpected command %s", n.fh.Name(), nodes.CommandLine(c, true))
	return nodes.Output{}, exitErr(n, c, 127, "unexpected")
}

func (n *fakeNode) facts() string {
	data, exists := n.fh.File(n.cfg)
	f := &member.Facts{OS: "Debian GNU/Linux 12 (bookworm)", User: "root", Hostname: firstNonEmpty(n.hostname, n.fh.Name()), Service: n.service,
		ServiceActive: n.active, DaemonPID: n.pid, DaemonStart: "1", ExecStart: n.execStart, EnvOptions: n.envOptions,
		DaemonJSONPath: n.cfg, DaemonJSONExists: exists, DaemonJSON: []byte(data),
		LiveMirrors: n.mirrors, LiveExperimental: n.experimental, DockerVersion: n.version,
		SwarmState: "inactive", SwarmNodeID: n.swarmID, SwarmAddr: "10.0.0.1", SwarmLeader: n.leader}
	f.CertsD = &member.CertsD{Dirs: map[string]*member.CertsDir{}}
	for _, p := range n.fh.Paths("/etc/docker/certs.d/") {
		dir, name, _ := strings.Cut(strings.TrimPrefix(p, "/etc/docker/certs.d/"), "/")
		d := f.CertsD.Dirs[dir]
		if d == nil {
			d = &member.CertsDir{Name: dir, Files: map[string][]byte{}, Refused: map[string]string{}}
			f.CertsD.Dirs[dir] = d
		}
		d.Entries = append(d.Entries, name)
		if name == "hosts.toml" || name == "ca.crt" {
			data, _ := n.fh.File(p)
			d.Files[name] = []byte(data)
		}
	}
	if n.tooLarge > 0 {
		f.DaemonJSONTooLarge, f.DaemonJSONSize, f.DaemonJSON = true, n.tooLarge, nil
	}
	if n.swarmID != "" {
		f.SwarmState, f.SwarmManager = "active", n.manager
	}
	return string(member.EncodeFacts(f))
}

func (n *fakeNode) backup(args []string) string {
	path, ts, keep := args[0], args[1], args[2]
	data, ok := n.fh.File(path)
	if !ok {
		return "missing\n"
	}
	b := path + ".swarmctl-" + ts + ".bak"
	n.fh.SetFile(b, data, n.fh.Mode(path))
	n.backups = append(n.backups, b)
	k, _ := strconv.Atoi(keep)
	if len(n.backups) > k {
		n.backups = n.backups[len(n.backups)-k:]
	}
	return b + "\n"
}

// load makes the "daemon" take the file's settings.
func (n *fakeNode) load(withExperimental bool) error {
	data, _ := n.fh.File(n.cfg)
	ms, err := daemonjson.ReadMirrors([]byte(data))
	if err != nil {
		return err
	}
	n.mirrors = []string{}
	for _, m := range ms {
		n.mirrors = append(n.mirrors, strings.TrimRight(m, "/")+"/")
	}
	if withExperimental {
		v, _, _ := daemonjson.ReadExperimental([]byte(data))
		n.experimental = v
	}
	return nil
}

func (n *fakeNode) systemctl(c nodes.Cmd) (nodes.Output, error) {
	verb := c.Args[1]
	n.cl.log(verb + " " + n.fh.Name())
	switch verb {
	case "reload":
		if !n.active {
			return nodes.Output{}, exitErr(n, c, 1, "docker.service is not active, cannot reload.")
		}
		if !n.reloadIgnored {
			if err := n.load(false); err != nil {
				return nodes.Output{}, exitErr(n, c, 1, err.Error())
			}
		}
	case "reset-failed":
		n.startLimited = false
	case "restart":
		if n.startLimited {
			return nodes.Output{}, exitErr(n, c, 1, "Job for docker.service failed because start of the service was attempted too often.")
		}
		n.pid++
		n.cl.restarting(n, true)
		data, _ := n.fh.File(n.cfg)
		broken := n.restartBreaks && strings.Contains(data, "mirror")
		if err := n.load(true); err != nil || broken {
			n.active, n.startLimited = false, true
			return nodes.Output{}, exitErr(n, c, 1, "Job for docker.service failed because the control process exited with error code.")
		}
		n.active = true
		n.cl.restarting(n, false)
	}
	return nodes.Output{}, nil
}

// restarting marks a member down/unreachable while its daemon restarts and
// records how many managers were unreachable at once.
func (c *cluster) restarting(n *fakeNode, down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[n.swarmID]
	if m == nil {
		return
	}
	if down {
		m.state = "down"
		if m.role == "manager" {
			m.reach = "unreachable"
		}
	} else {
		m.state = "ready"
		if m.role == "manager" {
			m.reach = "reachable"
		}
	}
	cnt := 0
	for _, x := range c.members {
		if x.role == "manager" && x.reach != "reachable" {
			cnt++
		}
	}
	c.maxDown = max(c.maxDown, cnt)
}

func (c *cluster) list() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ns []member.SwarmNode
	for _, id := range c.order {
		m := c.members[id]
		addr := "10.0.0.2"
		if m.addr != "" {
			addr = m.addr
		}
		if m.role == "manager" {
			addr = "10.0.0.1"
		}
		ns = append(ns, member.SwarmNode{ID: m.id, Hostname: m.hostname, Role: m.role, State: m.state, Availability: m.avail,
			Addr: addr, Reachability: m.reach, Leader: m.leader})
	}
	return string(member.EncodeSwarmNodes(ns))
}

func (c *cluster) waitLine(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[id]
	if m == nil {
		return "Error: no such node: " + id + "\n"
	}
	return m.state + " " + m.reach + "\n"
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
