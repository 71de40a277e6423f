package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/swarmctl/swarmctl/internal/configure"
	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/sshtest"
)

// vfleet is a fleet of virtual nodes in this process: one in-process SSH
// server each (sshtest, its own listener and host key), answering
// swarmctl's scripts by name with the encoders their parsers are tested
// against (member.EncodeFacts, configure.VerifyOutput, ...), and serving
// SFTP from a directory of its own that holds its daemon.json. No process
// runs per command, so the swarmctl binary's own cost per node is what
// gets measured; the servers share the host's CPUs with it, as the lab's
// machines do.
type vfleet struct {
	dir        string
	nodes      []*vnode
	servers    []*sshtest.Server
	keyFile    string
	knownHosts string
}

// vnode is one virtual node: a docker service whose daemon.json is a real
// file, and the live state dockerd would report.
type vnode struct {
	mu      sync.Mutex
	name    string
	id      string
	cfg     string
	manager bool
	leader  bool
	pid     int
	live    []string // mirrors as docker info reports them (trailing /)
	exp     bool
	cmds    int
	fleet   *vfleet
}

// newVFleet starts n virtual nodes in dir: the first managers are swarm
// managers (the first the leader), the rest workers, and every
// daemon.json already holds mirror with experimental on, applied.
func newVFleet(dir string, n, managers int, mirror string) (*vfleet, error) {
	f := &vfleet{dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "swarmctl bench")
	if err != nil {
		return nil, err
	}
	f.keyFile = filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(f.keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	client, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	var known strings.Builder
	for i := 0; i < n; i++ {
		v := &vnode{name: fmt.Sprintf("vn%04d", i+1), pid: 1000 + i, manager: i < managers, leader: i == 0, exp: true, fleet: f}
		v.id = "id-" + v.name
		nd := filepath.Join(dir, v.name)
		if err := os.MkdirAll(nd, 0o755); err != nil {
			f.Close()
			return nil, err
		}
		v.cfg = filepath.Join(nd, "daemon.json")
		content := fmt.Sprintf("{\n  \"log-driver\": \"journald\",\n  \"experimental\": true,\n  \"registry-mirrors\": [\"%s\"]\n}\n", mirror)
		if err := os.WriteFile(v.cfg, []byte(content), 0o644); err != nil {
			f.Close()
			return nil, err
		}
		v.live = []string{strings.TrimRight(mirror, "/") + "/"}
		srv, err := sshtest.New(sshtest.Config{AuthorizedKeys: []ssh.PublicKey{client.PublicKey()}, Exec: v.exec})
		if err != nil {
			f.Close()
			return nil, err
		}
		f.nodes = append(f.nodes, v)
		f.servers = append(f.servers, srv)
		known.WriteString(srv.KnownHostsLine() + "\n")
	}
	f.knownHosts = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(f.knownHosts, []byte(known.String()), 0o600); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Close stops every server.
func (f *vfleet) Close() {
	for _, s := range f.servers {
		s.Close()
	}
}

// inventoryOf writes an inventory of the first n virtual nodes.
func (f *vfleet) inventoryOf(n int) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  user: root\n  key: %s\n  known_hosts: %s\nnodes:\n", f.keyFile, f.knownHosts)
	for i := 0; i < n; i++ {
		role := "worker"
		if f.nodes[i].manager {
			role = "manager"
		}
		fmt.Fprintf(&b, "  - {host: 127.0.0.1, port: %d, name: %s, role: %s}\n", f.servers[i].Port(), f.nodes[i].name, role)
	}
	p := filepath.Join(f.dir, fmt.Sprintf("inventory-%d.yaml", n))
	return p, os.WriteFile(p, []byte(b.String()), 0o600)
}

// commands is how many commands the nodes ran since the last call.
func (f *vfleet) commands() int {
	total := 0
	for _, v := range f.nodes {
		v.mu.Lock()
		total += v.cmds
		v.cmds = 0
		v.mu.Unlock()
	}
	return total
}

// exec answers one command line by the script it runs (or its argv).
func (v *vnode) exec(line string, stdin io.Reader, stdout, stderr io.Writer) int {
	c, err := nodes.ParseCommandLine(line)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", v.name, err)
		return 127
	}
	v.mu.Lock()
	v.cmds++
	v.mu.Unlock()
	if c.Script.Name() == "lock.sh" {
		// Hold the lock until swarmctl closes stdin (unlock).
		fmt.Fprintln(stdout, "locked")
		io.Copy(io.Discard, stdin)
		return 0
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch c.Script.Name() {
	case "facts.sh":
		f, err := v.facts()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		stdout.Write(member.EncodeFacts(f))
		return 0
	case "backup.sh":
		data, err := os.ReadFile(c.ScriptArgs[0])
		if err != nil {
			fmt.Fprintln(stdout, "missing")
			return 0
		}
		b := c.ScriptArgs[0] + ".swarmctl-" + c.ScriptArgs[1] + ".bak"
		if err := os.WriteFile(b, data, 0o644); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, b)
		return 0
	case "verify.sh":
		io.WriteString(stdout, configure.VerifyOutput(true, v.pid, v.live, v.exp, "active"))
		return 0
	case "swarm-nodes.sh":
		if !v.manager {
			fmt.Fprintln(stderr, "Error response from daemon: This node is not a swarm manager.")
			return 1
		}
		stdout.Write(member.EncodeSwarmNodes(v.fleet.members()))
		return 0
	case "":
	default:
		fmt.Fprintf(stderr, "%s: no fake for %s\n", v.name, c.Script.Name())
		return 127
	}
	a := c.Args
	switch {
	case len(a) == 3 && a[0] == "systemctl" && a[1] == "reset-failed":
		return 0
	case len(a) == 3 && a[0] == "systemctl" && (a[1] == "reload" || a[1] == "restart"):
		if err := v.load(a[1] == "restart"); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	case len(a) == 3 && a[0] == "sync" && a[1] == "--":
		// Our SFTP server has no fsync@openssh.com: swarmctl syncs with a command.
		fh, err := os.Open(a[2])
		if err == nil {
			err = fh.Sync()
			fh.Close()
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	case len(a) == 4 && a[1] == "--validate":
		fmt.Fprintln(stdout, "configuration OK")
		return 0
	}
	fmt.Fprintf(stderr, "%s: no fake for %q\n", v.name, line)
	return 127
}

// facts are what facts.sh would find on the node.
func (v *vnode) facts() (*member.Facts, error) {
	data, err := os.ReadFile(v.cfg)
	if err != nil {
		return nil, err
	}
	return &member.Facts{OS: "Debian GNU/Linux 13 (trixie)", User: "root", Root: true, Hostname: v.name, Service: "docker", ServiceActive: true,
		ExecStart:      "{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock ; ignore_errors=no }",
		DaemonJSONPath: v.cfg, DaemonJSON: data, DaemonJSONExists: true, DockerVersion: "26.1.5", LiveMirrors: v.live, LiveExperimental: v.exp,
		SwarmState: "active", SwarmNodeID: v.id, SwarmAddr: "127.0.0.1", SwarmManager: v.manager, SwarmLeader: v.leader,
		DaemonPID: v.pid, DaemonStart: "1", ValidateSupported: true}, nil
}

// load makes the daemon take its file's settings, as a reload (mirrors)
// or a restart (everything, new PID) does.
func (v *vnode) load(restart bool) error {
	data, err := os.ReadFile(v.cfg)
	if err != nil {
		return err
	}
	ms, err := daemonjson.ReadMirrors(data)
	if err != nil {
		return err
	}
	v.live = nil
	for _, m := range ms {
		v.live = append(v.live, strings.TrimRight(m, "/")+"/")
	}
	if restart {
		v.exp, _, _ = daemonjson.ReadExperimental(data)
		v.pid++
	}
	return nil
}

// members is the swarm as a manager lists it.
func (f *vfleet) members() []member.SwarmNode {
	out := make([]member.SwarmNode, len(f.nodes))
	for i, v := range f.nodes {
		role, reach := "worker", ""
		if v.manager {
			role, reach = "manager", "reachable"
		}
		out[i] = member.SwarmNode{ID: v.id, Hostname: v.name, Role: role, State: "ready", Availability: "active", Addr: "127.0.0.1",
			Reachability: reach, Leader: v.leader}
	}
	return out
}
