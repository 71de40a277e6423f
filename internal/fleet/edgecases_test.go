package fleet

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/swarmctl/swarmctl/internal/inventory"
)

// --host user@ names no host; [::1] is the address ::1, not a host
// "[::1]" (which dialled [[::1]]:22).
func TestHostFlagEdgeCases(t *testing.T) {
	if n, err := ParseHost("ops@"); err == nil {
		t.Errorf("--host ops@ accepted: %+v", n)
	}
	if n, err := ParseHost("[::1]"); err != nil || n.Host != "::1" {
		t.Errorf("--host [::1]: %+v %v", n, err)
	}
}

// A relative --ssh-key is where the user stands (the current directory);
// a relative key in the inventory is next to the inventory.
func TestRelativeSSHKeyFlagIsFromTheCurrentDirectory(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	os.MkdirAll(filepath.Join(cwd, "keys"), 0o700)
	os.WriteFile(filepath.Join(cwd, "keys", "id"), []byte("key"), 0o600)
	inv := &inventory.Inventory{Path: "/etc/swarm/swarmctl.yaml", Defaults: inventory.Defaults{Key: "inv/id"},
		Nodes: []inventory.Node{{Host: "a"}, {Host: "b", Key: "node/id"}}}
	g := &Fleet{o: Options{SSHKey: "keys/id"}, inv: inv}
	sel, err := g.selectNodes()
	if err != nil {
		t.Fatal(err)
	}
	if got := sel[0].Target.KeyFiles; len(got) != 1 || got[0] != filepath.Join(cwd, "keys", "id") {
		t.Errorf("--ssh-key keys/id -> %q, want it in the current directory %s", got, cwd)
	}
	if got := sel[1].Target.KeyFiles; len(got) != 1 || got[0] != "/etc/swarm/node/id" {
		t.Errorf("inventory key node/id -> %q, want it next to the inventory", got)
	}
	g.o.SSHKey = ""
	sel, _ = g.selectNodes()
	if got := sel[0].Target.KeyFiles; len(got) != 1 || got[0] != "/etc/swarm/inv/id" {
		t.Errorf("defaults.key inv/id -> %q, want it next to the inventory", got)
	}
}

// A --known-hosts file whose path holds a space is a file, not lines.
func TestKnownHostsPathWithSpace(t *testing.T) {
	p := filepath.Join(t.TempDir(), "my keys", "known_hosts")
	os.MkdirAll(filepath.Dir(p), 0o700)
	os.WriteFile(p, []byte("10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"), 0o600)
	g := &Fleet{o: Options{KnownHosts: p, HostKeyPolicy: "strict"}, inv: &inventory.Inventory{}}
	o, cleanup, err := g.dialOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if len(o.KnownHostsFiles) != 1 || o.KnownHostsFiles[0] != p {
		t.Errorf("known_hosts files %q, want %q", o.KnownHostsFiles, p)
	}
}
