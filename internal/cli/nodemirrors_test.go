package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/hoststoml"
	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

// Each node gets its own replica first, in daemon.json and hosts.toml; a
// 28+ containerd node a hosts.toml for every upstream, others only
// daemon.json with the rest not possible (reason and fix).
func TestForNodePerNodeOrderAndRoutes(t *testing.T) {
	inv, err := inventory.Load(writeInventory(t, twoReplicasInventory))
	if err != nil {
		t.Fatal(err)
	}
	ns, err := nodeSideOf(inv, []string{"http://10.0.0.1:5000"}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	fn := ns.forNode(false)
	m2 := &member.Member{Name: "m2", Target: nodes.Target{Host: "10.0.0.2"}}
	w, err := fn(m2, &member.Facts{DockerVersion: "28.5.2", ImageStore: member.ImageStoreContainerd, Hostname: "m2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.Mirrors, ","); got != "http://10.0.0.2:5000/,http://10.0.0.1:5000/" {
		t.Errorf("m2 daemon.json mirrors %s, want its own replica first", got)
	}
	if len(w.CertsD.Hosts) != 2 || w.CertsD.Hosts[1].Registry != "ghcr.io" || w.CertsD.Hosts[1].Mirrors[0].URL != "http://10.0.0.2:5001/" {
		t.Errorf("m2 hosts.toml wants: %+v", w.CertsD.Hosts)
	}
	w1 := &member.Member{Name: "w1", Target: nodes.Target{Host: "10.0.0.3"}}
	w, err = fn(w1, &member.Facts{DockerVersion: "20.10.24+dfsg1", ImageStore: member.ImageStoreClassic, Hostname: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.CertsD.Hosts) != 0 || len(w.Registries) != 2 || w.Registries[1].Route != hoststoml.NotPossible || !strings.Contains(w.Registries[1].Fix, "upgrade Docker to 28") {
		t.Errorf("w1: %+v", w)
	}
	// Docker did not answer: certs.d left alone.
	if w, _ = fn(w1, &member.Facts{}); !w.SkipCertsD {
		t.Errorf("no engine facts: %+v", w)
	}
	// --remove: nothing wanted (swarmctl's files come out).
	if w, _ = fn(w1, &member.Facts{DockerVersion: "28.5.2", ImageStore: member.ImageStoreContainerd}); len(w.CertsD.Hosts) == 0 {
		t.Errorf("28.5 containerd: no hosts.toml")
	}
	if w, _ = ns.forNode(true)(w1, &member.Facts{DockerVersion: "28.5.2", ImageStore: member.ImageStoreContainerd}); len(w.CertsD.Hosts) != 0 || w.SkipCertsD {
		t.Errorf("--remove: %+v", w)
	}
}

// A bad registry name is refused with its file:line before any node.
func TestNodeSideBadRegistry(t *testing.T) {
	_, err := inventory.Load(writeInventory(t, `mirror:
  url: http://10.0.0.1:5000
  registries:
    - docker.io
    - registry: https://ghcr.io
nodes:
  - host: 10.0.0.1
`))
	if err == nil || !strings.Contains(err.Error(), "swarmctl.yaml:5: mirror.registries: invalid registry") {
		t.Errorf("bad registry: %v", err)
	}
}

// Bad upstreams and a CA file that is not PEM stop nodes configure,
// apply and nodes list with exit 2, naming the file and line, before any
// node is dialled.
func TestNodesBadUpstreamsExit2(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for what, body := range map[string]string{
		"duplicate": "mirror:\n  url: http://10.0.0.1:5000\n  registries:\n    - ghcr.io\n    - ghcr.io\nnodes:\n  - host: 10.0.0.1\n",
		"not PEM":   "mirror:\n  url: http://10.0.0.1:5000\n  ca_file: " + notPEM + "\nnodes:\n  - host: 10.0.0.1\n",
	} {
		inv := writeInventory(t, body)
		for _, args := range [][]string{{"nodes", "configure", "--yes"}, {"nodes", "list"}, {"apply", "--yes"}} {
			d, _, errb := testDeps(noDial(t))
			if code := Run(context.Background(), d, append(args, "-i", inv)); code != ExitError || !strings.Contains(errb.String(), "swarmctl.yaml:") {
				t.Errorf("%s: %v: exit %d\n%s", what, args, code, errb)
			}
		}
	}
}

// --registry on nodes configure lays upstreams over mirror.registries.
func TestNodesConfigureRegistryFlag(t *testing.T) {
	inv := writeInventory(t, "mirror:\n  url: http://10.0.0.1:5000\n  traefik: none\nnodes:\n  - host: 10.0.0.1\n")
	o, code, errs := captureOptions(t, inv, "--registry", "docker.io", "--registry", "quay.io")
	if code != ExitOK || o.ForNode == nil {
		t.Fatalf("exit %d %s", code, errs)
	}
	w, err := o.ForNode(&member.Member{Name: "n", Target: nodes.Target{Host: "10.0.0.1"}}, &member.Facts{DockerVersion: "29.0.1", ImageStore: member.ImageStoreContainerd})
	if err != nil {
		t.Fatal(err)
	}
	var regs []string
	for _, h := range w.CertsD.Hosts {
		regs = append(regs, h.Registry+"="+h.Mirrors[0].URL)
	}
	if strings.Join(regs, ",") != "docker.io=http://10.0.0.1:5000/,quay.io=http://10.0.0.1:5001/" {
		t.Errorf("hosts.toml wants %v", regs)
	}
}

// twoReplicasInventory: docker.io and ghcr.io, each with a replica on m1
// and m2 (published ports, no Traefik), and a worker w1 without one.
const twoReplicasInventory = `mirror:
  url: http://10.0.0.1:5000
  traefik: none
  publish: 5000
  replica_nodes: [m1, m2]
  registries:
    - docker.io
    - registry: ghcr.io
nodes:
  - name: m1
    host: 10.0.0.1
  - name: m2
    host: 10.0.0.2
  - name: w1
    host: 10.0.0.3
`
