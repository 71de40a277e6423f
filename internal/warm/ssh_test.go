package warm

import (
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/swarmctl/swarmctl/internal/nodes/sshtest"
)

// Warm from outside the swarm: every request rides direct-tcpip channels
// of one SSH connection to a "manager" (the in-process SSH server), which
// opens the connections to the mirror itself.
func TestWarmThroughSSHTunnel(t *testing.T) {
	up := newUpstream(t)
	up.push(t, "library/app:1", randomImage(t, 4000, 3, amd64), nil)
	px := newPullThrough(t, up.srv.URL)

	key, err := sshtest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	srv := sshtest.Start(t, sshtest.Config{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}})
	client, err := ssh.Dial("tcp", srv.Addr(), &ssh.ClientConfig{
		User:            "swarmctl",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey()),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	opts := Options{
		Mirrors:   map[string]Mirror{"docker.io": {URL: px.srv.URL}},
		Transport: NewTransport(client.DialContext, nil),
		Parallel:  3,
	}
	r := mustWarm(t, []string{"app:1"}, opts)[0]
	if r.Blobs != 4 || px.cachedBlobs() != 4 {
		t.Errorf("blobs %d, mirror holds %d; want 4", r.Blobs, px.cachedBlobs())
	}
	fw := srv.Forwards()
	mirrorAddr := strings.TrimPrefix(px.srv.URL, "http://")
	if len(fw) == 0 {
		t.Fatal("no direct-tcpip channel was opened: the requests did not go through SSH")
	}
	for _, a := range fw {
		if a != mirrorAddr {
			t.Errorf("forwarded to %s, want only the mirror %s", a, mirrorAddr)
		}
	}
}
