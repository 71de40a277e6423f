package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
)

func hostKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Unknown host keys are shown to confirm, all at once; a yes records them
// in the known_hosts file and the members are connected again; a no (or
// a changed key) records nothing.
func TestConnectTrustingConfirmsThenRecords(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "known_hosts")
	keys := map[string]ssh.PublicKey{"10.0.0.1": hostKey(t), "10.0.0.2": hostKey(t), "10.0.0.3": hostKey(t)}
	changed := map[string]bool{"10.0.0.3": true}
	dial := func(_ context.Context, tg nodes.Target, _ nodes.DialOptions) (nodes.Host, error) {
		b, _ := os.ReadFile(kh)
		if !strings.Contains(string(b), tg.Host+" ") {
			return nil, &nodes.HostKeyError{Host: tg.Host + ":22", Key: keys[tg.Host], Fingerprint: ssh.FingerprintSHA256(keys[tg.Host]),
				KeyType: keys[tg.Host].Type(), Files: []string{kh}, Changed: changed[tg.Host]}
		}
		return fakehost.New(tg.Host, nil, func(*fakehost.Host, nodes.Cmd) (nodes.Output, error) {
			return nodes.Output{Stdout: member.EncodeFacts(&member.Facts{Hostname: tg.Host, Service: "docker"})}, nil
		}), nil
	}
	open := func() (*Fleet, []*member.Member) {
		f := &Fleet{o: Options{Parallel: 4}, env: Env{Dial: dial, Stderr: &strings.Builder{}}, inv: emptyInventory()}
		var ms []*member.Member
		for _, h := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
			n, _ := ParseHost(h)
			ms = append(ms, f.member(n))
		}
		return f, ms
	}

	f, ms := open()
	no := errors.New("not confirmed")
	var shown []string
	if _, err := f.ConnectTrusting(context.Background(), ms, ConnectOptions{}, func(ks []NewHostKey) error {
		for _, k := range ks {
			shown = append(shown, k.Member.Name+" "+k.Err.Fingerprint)
		}
		return no
	}); err != no {
		t.Fatalf("err = %v", err)
	}
	if len(shown) != 2 || !strings.HasPrefix(shown[0], "10.0.0.1 SHA256:") {
		t.Errorf("shown %v: want the two unknown keys, not the changed one", shown)
	}
	if _, err := os.Stat(kh); err == nil {
		t.Error("a no recorded keys")
	}

	f, ms = open()
	rec, err := f.ConnectTrusting(context.Background(), ms, ConnectOptions{}, func([]NewHostKey) error { return nil })
	if err != nil || len(rec) != 2 {
		t.Fatalf("recorded %v, %v", rec, err)
	}
	b, _ := os.ReadFile(kh)
	for _, h := range []string{"10.0.0.1", "10.0.0.2"} {
		if !strings.Contains(string(b), knownhosts.Line([]string{h}, keys[h])) {
			t.Errorf("known_hosts lacks %s:\n%s", h, b)
		}
	}
	if ms[0].Facts == nil || ms[1].Facts == nil || ms[2].Err == nil || strings.Contains(string(b), "10.0.0.3") {
		t.Errorf("after recording: m1 %v m2 %v m3 %v", ms[0].Err, ms[1].Err, ms[2].Err)
	}
}

func emptyInventory() *inventory.Inventory { return &inventory.Inventory{} }
