package fleet

import (
	"encoding/base64"
	"os"
	"testing"

	"github.com/swarmctl/swarmctl/internal/inventory"
)

// SWARMCTL_KNOWN_HOSTS may hold known_hosts lines base64-encoded (one-line
// CI secrets) as it may hold them as text.
func TestKnownHostsFromEnvBase64(t *testing.T) {
	line := "10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
	g := &Fleet{o: Options{KnownHosts: base64.StdEncoding.EncodeToString([]byte(line)), HostKeyPolicy: "strict"}, inv: &inventory.Inventory{}}
	o, cleanup, err := g.dialOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if len(o.KnownHostsFiles) != 1 {
		t.Fatalf("known_hosts files %q", o.KnownHostsFiles)
	}
	b, err := os.ReadFile(o.KnownHostsFiles[0])
	if err != nil || string(b) != line {
		t.Errorf("known_hosts file holds %q (%v), want the decoded lines", b, err)
	}
}
