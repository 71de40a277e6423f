package doctor

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/probe"
)

// node is a connected member with these facts whose commands answer as
// given: sudo (the error of `sudo -n true`), disk (disk.sh's output),
// probe (probe.sh's stdout and exit status).
type node struct {
	facts   member.Facts
	user    string
	sudo    error
	disk    string
	probe   string
	probeRC int
}

func (n node) member() *member.Member {
	h := fakehost.New("n1", nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		switch {
		case len(c.Args) == 3 && c.Args[0] == "sudo":
			return nodes.Output{}, n.sudo
		case c.Script.Name() == "disk.sh":
			return nodes.Output{Stdout: []byte(n.disk)}, nil
		case c.Script.Name() == "probe.sh":
			if len(c.ScriptArgs) == 0 || !strings.HasSuffix(c.ScriptArgs[0], "/v2/") {
				return nodes.Output{}, errors.New("the probe must GET the registry's /v2/, not " + strings.Join(c.ScriptArgs, " "))
			}
			if n.probeRC != 0 {
				return nodes.Output{}, &nodes.ExitError{Status: n.probeRC, Stderr: []byte(n.probe)}
			}
			return nodes.Output{Stdout: []byte(n.probe)}, nil
		}
		return nodes.Output{}, errors.New("unexpected " + nodes.CommandLine(c, true))
	})
	f := n.facts
	m := member.New("n1", nodes.Target{Host: "10.0.0.1", User: n.user, Sudo: true}, "", nil)
	m.Conn, m.Reached, m.Facts = h, true, &f
	return m
}

var healthy = member.Facts{User: "root", Service: "docker", ServiceActive: true, DockerVersion: "26.1.5", SwarmState: "active", SwarmManager: true,
	DaemonJSONPath: "/etc/docker/daemon.json", DaemonJSONExists: true, DaemonJSON: []byte(`{"debug": true}`),
	ExecStart: "{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// ; }"}

func opts() Options {
	yes := true
	return Options{Settings: daemonjson.Settings{Mirrors: []string{"https://mirror.example.com/"}, Experimental: &yes}, MirrorURL: "https://mirror.example.com"}
}

func statusOf(cs []Check) map[string]string {
	out := map[string]string{}
	for _, c := range cs {
		out[c.Check] = c.Status + ": " + c.Message
	}
	return out
}

func TestNodeChecks(t *testing.T) {
	good := node{facts: healthy, user: "root", disk: "5242880 /etc/docker\n20971520 /var/lib/docker\n", probe: probe.Output(200, 3e6)}
	cases := []struct {
		name  string
		n     node
		check string
		want  string
	}{
		{"ssh", good, "ssh", "ok: connected to 10.0.0.1 as root"},
		{"sudo as root", good, "sudo", "ok: the login user is root"},
		{"docker", good, "docker", "ok: docker.service active, Docker 26.1.5"},
		{"daemon.json", good, "daemon-json", "ok: /etc/docker/daemon.json parses; nodes configure would set experimental, set registry-mirrors"},
		{"unit", good, "unit-flags", "ok: no dockerd flag"},
		{"swarm", good, "swarm", "ok: manager"},
		{"disk", good, "disk", "ok: 5.0 GiB free on /etc/docker, 20.0 GiB free on /var/lib/docker"},
		{"engine", good, "engine", "ok: Docker 26.1.5"},
		{"mirror", good, "mirror", "ok: GET https://mirror.example.com/v2/ from the node: HTTP 200 in 3 ms"},
		{"sudo password", func() node {
			n := good
			n.facts.User, n.user = "ops", "ops"
			n.sudo = &nodes.ExitError{Status: 1, Stderr: []byte("sudo: a password is required")}
			return n
		}(), "sudo", "fail: sudo needs a password for ops"},
		{"daemon.json invalid", func() node {
			n := good
			n.facts.DaemonJSON = []byte("{\n  \"debug\": true,\n}\n")
			return n
		}(), "daemon-json", "fail: /etc/docker/daemon.json: line 2, column 16: trailing comma"},
		{"unit conflict", func() node {
			n := good
			n.facts.ExecStart = "{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd --registry-mirror=https://x ; }"
			return n
		}(), "unit-flags", "fail: docker.service passes --registry-mirror=https://x (in ExecStart)"},
		{"docker down", func() node {
			n := good
			n.facts.ServiceActive = false
			return n
		}(), "docker", "fail: docker.service is not active"},
		{"not in a swarm", func() node {
			n := good
			n.facts.SwarmState = "inactive"
			return n
		}(), "swarm", "warn: not in a swarm (inactive)"},
		{"disk full", func() node { n := good; n.disk = "51200 /etc/docker\n"; return n }(), "disk", "fail: 50.0 MiB free on /etc/docker"},
		{"disk low", func() node { n := good; n.disk = "1048576 /var/lib/docker\n"; return n }(), "disk", "warn: 1.0 GiB free"},
		{"old engine", func() node { n := good; n.facts.DockerVersion = "20.10.24"; return n }(), "engine", "warn: Docker 20.10.24: no dockerd --validate"},
		{"mirror down", func() node {
			n := good
			n.probe, n.probeRC = "curl: (7) Failed to connect to mirror.example.com port 443", 7
			return n
		}(), "mirror", "fail: GET https://mirror.example.com/v2/ from the node: curl: (7) Failed"},
		{"no curl", func() node { n := good; n.probe, n.probeRC = "neither curl nor wget", probe.NoToolStatus; return n }(), "mirror", "warn: no curl or wget"},
	}
	for _, c := range cases {
		got := statusOf(Node(context.Background(), c.n.member(), opts()))
		if !strings.HasPrefix(got[c.check], c.want) {
			t.Errorf("%s: %s = %q, want prefix %q", c.name, c.check, got[c.check], c.want)
		}
	}
}

// An unreachable node fails ssh and skips the rest, saying why; every
// check has a line, in the same order.
func TestNodeUnreachable(t *testing.T) {
	m := member.NotDialled("n1", nodes.Target{Host: "10.0.0.1"}, "", errors.New("connect 10.0.0.1:22: connection refused"))
	cs := Node(context.Background(), m, opts())
	var order []string
	for _, c := range cs {
		order = append(order, c.Check)
		if c.Check != "ssh" && c.Status != Skip {
			t.Errorf("%s: %s", c.Check, c.Status)
		}
	}
	if cs[0].Status != Fail || !strings.Contains(cs[0].Message, "connection refused") {
		t.Errorf("ssh: %+v", cs[0])
	}
	if strings.Join(order, " ") != "ssh sudo docker daemon-json unit-flags swarm disk engine mirror" {
		t.Errorf("order %v", order)
	}
	if s := Summary(cs); s[Fail] != 1 || s[Skip] != 8 {
		t.Errorf("summary %v", s)
	}
}
