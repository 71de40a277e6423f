package cli

import (
	"slices"
	"testing"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

// A node's configure wants name the replicas running on it (every
// upstream's), found by any of its names, also when --mirror gives the
// nodes other URLs and with --remove; a node without one waits for none.
func TestForNodeOwnReplicas(t *testing.T) {
	inv, err := inventory.Load(writeInventory(t, twoReplicasInventory))
	if err != nil {
		t.Fatal(err)
	}
	facts := &member.Facts{DockerVersion: "28.5.2", ImageStore: member.ImageStoreContainerd}
	for _, flags := range []bool{false, true} {
		ns, err := nodeSideOf(inv, []string{"http://10.0.0.9:5000"}, flags, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, remove := range []bool{false, true} {
			fn := ns.forNode(remove)
			// m2 by its inventory name, and by its address only (the
			// inventory names it otherwise).
			for _, m := range []*member.Member{{Name: "m2", Target: nodes.Target{Host: "10.0.0.2"}}, {Name: "other", Target: nodes.Target{Host: "10.0.0.2"}}} {
				w, err := fn(m, facts)
				if err != nil {
					t.Fatal(err)
				}
				if want := []string{"http://10.0.0.2:5000", "http://10.0.0.2:5001"}; !slices.Equal(w.Replicas, want) {
					t.Errorf("--mirror %v --remove %v: %s: replicas %v, want %v", flags, remove, m.Name, w.Replicas, want)
				}
			}
			if w, _ := fn(&member.Member{Name: "w1", Target: nodes.Target{Host: "10.0.0.3"}}, facts); len(w.Replicas) != 0 {
				t.Errorf("w1 runs no replica: %v", w.Replicas)
			}
		}
	}
}
