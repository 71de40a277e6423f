package fleet

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

func TestParseHostFlag(t *testing.T) {
	cases := []struct {
		in         string
		user, host string
		port       int
		bad        bool
	}{
		{in: "10.0.0.1", host: "10.0.0.1"},
		{in: "ops@node-1.example.com:2222", user: "ops", host: "node-1.example.com", port: 2222},
		{in: "[::1]:22", host: "::1", port: 22},
		{in: "prod-3", host: "prod-3"},
		{in: "a@b@c", user: "a@b", bad: true},
		{in: "h:0", bad: true},
		{in: "h:99999", bad: true},
		{in: "$(reboot)", bad: true},
		{in: "x;y", bad: true},
		{in: "-oProxyCommand=x", bad: true},
		{in: "a b@h", bad: true},
	}
	for _, c := range cases {
		n, err := ParseHost(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q accepted as %+v", c.in, n)
			}
			continue
		}
		if err != nil || n.User != c.user || n.Host != c.host || n.Port != c.port {
			t.Errorf("%q -> %+v, %v", c.in, n, err)
		}
	}
}

func TestSelectNodesPrecedenceAndLimit(t *testing.T) {
	yes, no := true, false
	inv := &inventory.Inventory{
		Path:     "/etc/swarm/swarmctl.yaml",
		Defaults: inventory.Defaults{User: "ops", Port: 2222, Key: "keys/id", Sudo: &yes},
		Nodes: []inventory.Node{
			{Host: "10.0.0.1", Name: "m1", Role: "manager"},
			{Host: "10.0.0.2", Name: "w1", Role: "worker", User: "root", Port: 22, Sudo: &no, Key: "/abs/key"},
		},
	}
	g := &Fleet{o: Options{Sudo: true, Hosts: []string{"admin@10.0.0.9:2200"}}, inv: inv}
	sel, err := g.selectNodes()
	if err != nil {
		t.Fatal(err)
	}
	if len(sel) != 3 {
		t.Fatalf("selected %d", len(sel))
	}
	m1, w1, adhoc := sel[0].Target, sel[1].Target, sel[2].Target
	if m1.User != "ops" || m1.Port != 2222 || !m1.Sudo || m1.KeyFiles[0] != "/etc/swarm/keys/id" {
		t.Errorf("m1 = %+v", m1)
	}
	if w1.User != "root" || w1.Port != 22 || w1.Sudo || w1.KeyFiles[0] != "/abs/key" {
		t.Errorf("w1 = %+v", w1)
	}
	if adhoc.User != "admin" || adhoc.Port != 2200 || adhoc.Host != "10.0.0.9" {
		t.Errorf("ad hoc = %+v", adhoc)
	}
	g.o.User = "flaguser"
	g.o.Hosts = nil
	g.o.Limit = []string{"worker"}
	sel, err = g.selectNodes()
	if err != nil || len(sel) != 1 || sel[0].Name != "w1" {
		t.Fatalf("limit worker: %v %v", sel, err)
	}
	g.o.Limit = []string{"m1"}
	sel, _ = g.selectNodes()
	if sel[0].Target.User != "flaguser" {
		t.Errorf("--user should beat inventory defaults: %+v", sel[0].Target)
	}
	g.o.Limit = []string{"nope"}
	var ie *InputError
	if _, err := g.selectNodes(); err != nil {
		t.Fatal(err)
	}
	if err := g.CheckLimit(); !errors.As(err, &ie) {
		t.Errorf("unmatched --limit: %v", err)
	}
}

// Every --limit entry must name something: one that matches nothing is an
// input error naming it, the nearest name and the valid ones, even when
// another entry matches (it used to be dropped silently). With discovery
// an entry may name a swarm member instead.
func TestCheckLimitEveryEntry(t *testing.T) {
	inv := &inventory.Inventory{Nodes: []inventory.Node{{Host: "10.0.0.1", Name: "m1", Role: "manager"}, {Host: "10.0.0.2", Name: "w1"}}}
	f := &Fleet{o: Options{Limit: []string{"m1", "w2", "managr"}}, inv: inv}
	var err error
	if f.selected, err = f.selectNodes(); err != nil || len(f.selected) != 1 {
		t.Fatalf("%v %v", f.selected, err)
	}
	err = f.CheckLimit()
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v", err)
	}
	want := `--limit "w2" (did you mean "w1"?), "managr" (did you mean "manager"?): no node in the inventory or --host has this name, host or role`
	if err.Error() != want || ie.Hint != "node names: m1, w1; roles: manager, worker" {
		t.Errorf("err = %q\nhint = %q", err, ie.Hint)
	}
	f.o.Limit = []string{"m1", "10.0.0.2", "manager"}
	if err := f.CheckLimit(); err != nil {
		t.Errorf("names, hosts and roles: %v", err)
	}
	f.o.Limit = []string{"m1", "w2"}
	f.swarm = []member.SwarmNode{{Hostname: "w2", Addr: "10.0.0.3", Role: "worker"}}
	if err := f.CheckLimit(); err != nil {
		t.Errorf("a swarm member's hostname: %v", err)
	}
}

func TestKnownHostsAndKeyFromEnvContent(t *testing.T) {
	line := "10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummy"
	pem := "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
	g := &Fleet{o: Options{KnownHosts: line, SSHKey: pem, HostKeyPolicy: "strict"}, inv: &inventory.Inventory{}}
	o, cleanup, err := g.dialOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if string(o.KeyPEM) != pem || len(o.KnownHostsFiles) != 1 || strings.Contains(o.KnownHostsFiles[0], "ssh-ed25519") {
		t.Errorf("options = %+v", o)
	}
	g.inv = &inventory.Inventory{Nodes: []inventory.Node{{Host: "a"}}}
	sel, _ := g.selectNodes()
	if len(sel[0].Target.KeyFiles) != 0 {
		t.Errorf("PEM content used as a key file name: %v", sel[0].Target.KeyFiles)
	}
}

// Nodes from the inventory or --host, IPv6 ones without a name included,
// are dialled as before; members rejectedMember marked never are.
func TestDialableAcceptsSelectedNodes(t *testing.T) {
	var mu sync.Mutex
	dialled := map[string]bool{}
	dial := func(_ context.Context, tg nodes.Target, _ nodes.DialOptions) (nodes.Host, error) {
		mu.Lock()
		dialled[tg.Host] = true
		mu.Unlock()
		return nil, errors.New("connection refused")
	}
	s := &Fleet{o: Options{Parallel: 4}, env: Env{Dial: dial}, inv: &inventory.Inventory{}}
	var selected []*member.Member
	for _, in := range []inventory.Node{{Name: "w1", Host: "10.0.0.2"}, {Host: "fd00::5"}, {Host: "[fd00::5]"}, {Host: "alias"}} {
		selected = append(selected, s.member(in))
	}
	s.Connect(context.Background(), selected, ConnectOptions{Service: "docker"})
	for _, c := range selected {
		if !dialled[c.Target.Host] || strings.Contains(c.Err.Error(), "not dialled") {
			t.Errorf("%+v: not dialled: %v", c, c.Err)
		}
	}
	var rejected []*member.Member
	for _, in := range []inventory.Node{
		{Name: "w 4", Host: "10.0.0.5"},
		{Host: "fd00::6"},
		{Name: "w5", Host: "10.0.0.6;x"},
		{Name: "w6"},
	} {
		err := memberProblem(in)
		if err == nil {
			t.Fatalf("%+v: accepted", in)
		}
		rejected = append(rejected, rejectedMember(s.member(in), in, err))
	}
	s.Connect(context.Background(), rejected, ConnectOptions{Service: "docker"})
	for _, c := range rejected {
		if c.Err == nil || !strings.HasPrefix(c.Err.Error(), "not dialled: ") || dialled[c.Target.Host] {
			t.Errorf("%+v: %v", c, c.Err)
		}
	}
	if dialled["10.0.0.5"] || dialled["fd00::6"] || dialled["10.0.0.6;x"] || len(dialled) != 4 {
		t.Errorf("dialled %v", dialled)
	}
}
