package configure

import (
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/certsd"
	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/hoststoml"
	"github.com/swarmctl/swarmctl/internal/member"
)

// hostsWant is a ForNode that wants ghcr.io through the mirror.
func hostsWant(*member.Member, *member.Facts) (NodeWant, error) {
	return NodeWant{CertsD: certsd.Want{Hosts: []hoststoml.Desired{{Registry: "ghcr.io", Mirrors: []hoststoml.Mirror{{URL: "http://10.0.0.1:5001"}}}}}}, nil
}

// A certs.d-only change writes the file and reloads or restarts nothing
// (outcome updated, plan action files); a second run is unchanged; a node
// whose hosts.toml does not parse fails with file and line, left as it
// was, while the other goes on.
func TestCertsDOnlyNoReload(t *testing.T) {
	cl := newCluster()
	good := newFakeNode(t, cl, "n1", `{"registry-mirrors": ["https://mirror.example.com"], "experimental": true}`)
	good.mirrors = []string{mirror + "/"}
	good.experimental = true
	bad := newFakeNode(t, cl, "n2", `{"registry-mirrors": ["https://mirror.example.com"], "experimental": true}`)
	bad.mirrors = []string{mirror + "/"}
	bad.experimental = true
	broken := "server = \"https://ghcr.io\"\n[host.\"x\"\n"
	bad.fh.SetFile("/etc/docker/certs.d/ghcr.io/hosts.toml", broken, 0o640)
	o := opts(addSettings())
	o.ForNode = hostsWant
	rep := run(t, o, good, bad)
	if rep.Nodes[0].Outcome != Updated || len(rep.Nodes[0].Files) != 1 || rep.Nodes[0].Files[0].Action != certsd.ActCreate {
		t.Errorf("n1: %+v", rep.Nodes[0])
	}
	if rep.Plan.Steps[0].Action != PlanFiles {
		t.Errorf("plan: %+v", rep.Plan.Steps)
	}
	if got, _ := good.fh.File("/etc/docker/certs.d/ghcr.io/hosts.toml"); !strings.Contains(got, `[host."http://10.0.0.1:5001"]`) {
		t.Errorf("n1 hosts.toml:\n%s", got)
	}
	for _, e := range cl.Events() {
		if strings.HasPrefix(e, "reload") || strings.HasPrefix(e, "restart") {
			t.Errorf("event %s: a certs.d change needs no reload or restart", e)
		}
	}
	if rep.Nodes[1].Outcome != Failed || !strings.Contains(rep.Nodes[1].Error, "/etc/docker/certs.d/ghcr.io/hosts.toml: line 2") {
		t.Errorf("n2: %s %s", rep.Nodes[1].Outcome, rep.Nodes[1].Error)
	}
	if got, _ := bad.fh.File("/etc/docker/certs.d/ghcr.io/hosts.toml"); got != broken {
		t.Errorf("n2's broken file was changed:\n%s", got)
	}
	// Second run: nothing.
	if rep := run(t, o, good); rep.Nodes[0].Outcome != Unchanged {
		t.Errorf("second run: %+v", rep.Nodes[0])
	}
	// --remove: swarmctl's file goes.
	o = opts(daemonjson.Settings{Mirrors: []string{mirror}, Remove: true})
	o.ForNode = func(*member.Member, *member.Facts) (NodeWant, error) { return NodeWant{}, nil }
	rep = run(t, o, good)
	if _, ok := good.fh.File("/etc/docker/certs.d/ghcr.io/hosts.toml"); ok || rep.Nodes[0].Outcome == Failed {
		t.Errorf("--remove left hosts.toml: %+v", rep.Nodes[0])
	}
}

// A daemon.json mirror that a docker.io hosts.toml would make dockerd
// ignore is never dropped silently: the node result warns.
func TestCertsDWarnsIgnoredDaemonJSONMirror(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", `{"registry-mirrors": ["https://theirs.example.com", "https://mirror.example.com"], "experimental": true}`)
	n.mirrors = []string{"https://theirs.example.com/", mirror + "/"}
	n.experimental = true
	o := opts(addSettings())
	o.ForNode = func(*member.Member, *member.Facts) (NodeWant, error) {
		return NodeWant{CertsD: certsd.Want{Hosts: []hoststoml.Desired{{Registry: "docker.io", Mirrors: []hoststoml.Mirror{{URL: mirror}}}}}}, nil
	}
	rep := run(t, o, n)
	if rep.Nodes[0].Outcome == Failed || len(rep.Nodes[0].FileWarnings) != 1 || !strings.Contains(rep.Nodes[0].FileWarnings[0], "https://theirs.example.com is not used for docker.io") {
		t.Errorf("%s %q", rep.Nodes[0].Outcome, rep.Nodes[0].FileWarnings)
	}
}
