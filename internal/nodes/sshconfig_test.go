package nodes

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

func TestResolveSSHConfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	cfg := filepath.Join(home, "config")
	os.WriteFile(cfg, []byte(`
Host prod-3
  HostName 10.0.0.3
  User deploy
  Port 2222
  IdentityFile ~/.ssh/prod
  IdentityFile "/keys/second key"
  UserKnownHostsFile ~/.ssh/kh_prod /etc/kh
  ProxyJump ops@bastion:2200,jump2

Host *.lab
  HostName %h.internal
  ProxyJump none

Host *
  User fallback
  IdentityFile ~/.ssh/all
`), 0o600)
	got, err := ResolveSSHConfig(cfg, "prod-3")
	if err != nil {
		t.Fatal(err)
	}
	want := ResolvedHost{
		Alias:          "prod-3",
		HostName:       "10.0.0.3",
		Port:           2222,
		User:           "deploy",
		IdentityFiles:  []string{home + "/.ssh/prod", "/keys/second key", home + "/.ssh/all"},
		KnownHostsFile: []string{home + "/.ssh/kh_prod", "/etc/kh"},
		ProxyJump:      []string{"ops@bastion:2200", "jump2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	got, err = ResolveSSHConfig(cfg, "n1.lab")
	if err != nil {
		t.Fatal(err)
	}
	if got.HostName != "n1.lab.internal" || got.ProxyJump != nil || got.User != "fallback" || got.Port != 0 {
		t.Fatalf("%+v", got)
	}
	for _, p := range []string{"none", "", filepath.Join(home, "missing")} {
		got, err := ResolveSSHConfig(p, "prod-3")
		if err != nil || got.HostName != "" || got.User != "" {
			t.Fatalf("%q: %+v %v", p, got, err)
		}
	}
	os.WriteFile(cfg, []byte("Host x\n  Port http\n"), 0o600)
	if _, err := ResolveSSHConfig(cfg, "x"); err == nil {
		t.Fatal("bad port accepted")
	}
}

func TestParseHop(t *testing.T) {
	for in, want := range map[string][3]string{
		"host":             {"", "host", "0"},
		"u@host:2200":      {"u", "host", "2200"},
		"[::1]:22":         {"", "::1", "22"},
		"a@b@host":         {"a@b", "host", "0"},
		"user@10.0.0.1":    {"user", "10.0.0.1", "0"},
		"user@[fe80::1]":   {"user", "fe80::1", "0"},
		"host.example:022": {"", "host.example", "22"},
	} {
		u, h, p, err := parseHop(in)
		if err != nil || u != want[0] || h != want[1] || strconv.Itoa(p) != want[2] {
			t.Errorf("%q: %q %q %d %v", in, u, h, p, err)
		}
	}
	for _, bad := range []string{"host:x", "u@", "[::1", "host:99999"} {
		if _, _, _, err := parseHop(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestDialViaSSHConfig: Target{Host: alias} behaves like `ssh alias`:
// HostName, Port, User, IdentityFile, UserKnownHostsFile and a two-hop
// ProxyJump all come from the config file.
func TestDialViaSSHConfig(t *testing.T) {
	e := newEnv(t)
	target := e.server(t)
	b1 := e.server(t)
	b2 := e.server(t)
	kh := filepath.Join(e.dir, "kh_from_config")
	if err := os.Rename(e.known, kh); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(e.dir, "ssh_config")
	os.WriteFile(cfg, []byte(`
Host prod-3
  HostName 127.0.0.1
  Port `+strconv.Itoa(target.Port())+`
  User deploy
  ProxyJump ops@bastion1,bastion2
Host bastion1
  HostName 127.0.0.1
  Port `+strconv.Itoa(b1.Port())+`
Host bastion2
  HostName 127.0.0.1
  Port `+strconv.Itoa(b2.Port())+`
  User jumper
Host *
  IdentityFile ~/no_such_key
  IdentityFile ~/id_test
  UserKnownHostsFile ~/kh_from_config
`), 0o600)
	o := e.opts
	o.SSHConfigPath = cfg
	o.KnownHostsFiles = nil
	h, err := Dial(context.Background(), Target{Host: "prod-3"}, o)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Name() != "prod-3" || h.Addr() != target.Addr() || h.User() != "deploy" || h.IsRoot() {
		t.Fatalf("name=%q addr=%q user=%q", h.Name(), h.Addr(), h.User())
	}
	out, err := h.Run(context.Background(), Cmd{Args: []string{"echo", "hi"}})
	if err != nil || string(out.Stdout) != "hi\n" {
		t.Fatalf("%q %v", out.Stdout, err)
	}
	if u := b1.Users(); !reflect.DeepEqual(u, []string{"ops"}) {
		t.Fatalf("bastion1 users %v", u)
	}
	if u := b2.Users(); !reflect.DeepEqual(u, []string{"jumper"}) {
		t.Fatalf("bastion2 users %v", u)
	}
	if f := b1.Forwards(); !reflect.DeepEqual(f, []string{b2.Addr()}) {
		t.Fatalf("bastion1 forwards %v", f)
	}
	if f := b2.Forwards(); !reflect.DeepEqual(f, []string{target.Addr()}) {
		t.Fatalf("bastion2 forwards %v", f)
	}
	if u := target.Users(); !reflect.DeepEqual(u, []string{"deploy"}) {
		t.Fatalf("target users %v", u)
	}
	// Close closes the target and both hops.
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	for _, c := range h.hops {
		if _, _, err := c.SendRequest("keepalive@openssh.com", true, nil); err == nil {
			t.Fatal("jump host connection still open after Close")
		}
	}

	// Explicit fields win over ssh_config; DialOptions.Bastion over ProxyJump.
	o.Bastion = "root@127.0.0.1:" + strconv.Itoa(b1.Port())
	h2, err := Dial(context.Background(), Target{Host: "prod-3", User: "root", Name: "p3"}, o)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if h2.User() != "root" || !h2.IsRoot() || h2.Name() != "p3" {
		t.Fatalf("user %q", h2.User())
	}
	if f := b1.Forwards(); len(f) != 2 || f[1] != target.Addr() {
		t.Fatalf("bastion forwards %v", f)
	}
}

func TestBastionHostKeyChecked(t *testing.T) {
	e := newEnv(t)
	target := e.server(t)
	bastion := sshtestStartUntrusted(t, e)
	o := e.opts
	o.Bastion = bastion.Addr()
	_, err := Dial(context.Background(), e.target(target), o)
	if err == nil || !containsAll(err.Error(), "jump host", bastion.Addr(), "unknown") {
		t.Fatalf("err = %v", err)
	}
}
