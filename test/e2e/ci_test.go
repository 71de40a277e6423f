package e2e

import (
	"encoding/base64"
	"os"
	"testing"
)

// TestCIDiscoverWithoutInventory: the CI job with nothing but variables
// and flags. No inventory: --discover --manager HOST --mirror URL makes
// the swarm's members, the manager among them, the nodes configured
// (it used to be refused with "no nodes").
func TestCIDiscoverWithoutInventory(t *testing.T) {
	l := needDockerLayoutLab(t)
	key, err := os.ReadFile(l.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	kh, err := os.ReadFile(l.KnownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"SWARMCTL_SSH_KEY=" + base64.StdEncoding.EncodeToString(key), "SWARMCTL_KNOWN_HOSTS=" + string(kh), "SWARMCTL_USER=root"}
	mgr := l.Manager()
	r := swarmctl(t, env, "nodes", "configure", "--discover", "--manager", mgr.IP, "--mirror", "https://ci.example.test", "--dry-run", "-o", "json")
	doc := parseConfigure(t, r)
	if r.Code != 0 || len(doc.Nodes) != len(l.Machines()) {
		t.Fatalf("exit %d, %d nodes; want every machine of the swarm planned:\n%s", r.Code, len(doc.Nodes), r.Stderr)
	}
	for _, n := range doc.Nodes {
		if n.Outcome != "would-restart" {
			t.Errorf("%s: %s %q, want would-restart", n.Name, n.Outcome, n.Error)
		}
	}
}
