package hoststoml

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNormalizeRegistry(t *testing.T) {
	ok := map[string]string{
		"docker.io":                 "docker.io",
		"index.docker.io":           "docker.io",
		"registry-1.docker.io":      "docker.io",
		"ghcr.io":                   "ghcr.io",
		"quay.io":                   "quay.io",
		"registry.example.com:5000": "registry.example.com:5000",
		"10.0.0.5:5000":             "10.0.0.5:5000",
		"localhost":                 "localhost",
		"localhost:5000":            "localhost:5000",
		"registry:5000":             "registry:5000",
		"[::1]:5000":                "[::1]:5000",
		"[fe80::1]":                 "[fe80::1]",
		"a-b.example.com":           "a-b.example.com",
	}
	for in, want := range ok {
		got, err := NormalizeRegistry(in)
		if err != nil || got != want {
			t.Errorf("NormalizeRegistry(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                              "empty",
		"https://ghcr.io":               "write ghcr.io",
		"ghcr.io/owner":                 "without a path",
		"GHCR.io":                       "lower case (ghcr.io)",
		"registry":                      "Docker Hub namespace",
		"ghcr.io:0":                     "port",
		"ghcr.io:70000":                 "port",
		"ghcr.io:05000":                 "port",
		"ghcr.io:":                      "port",
		"-ghcr.io":                      "inner '-'",
		"ghcr..io":                      "empty label",
		"ghcr.io.":                      "empty label",
		"ghcr_io.example.com":           "not allowed",
		"_default":                      "fallback",
		"[::1":                          "unclosed",
		"[zz]:5000":                     "not an IPv6",
		"[::1]5000":                     "after the IPv6",
		"gh cr.io":                      "not allowed",
		"ghcr.io:5000:6000":             "port",
		strings.Repeat("a", 64) + ".io": "63",
	}
	for in, want := range bad {
		_, err := NormalizeRegistry(in)
		var re *RegistryError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), want) {
			t.Errorf("NormalizeRegistry(%q) error = %v; want a *RegistryError saying %q", in, err, want)
		}
	}
}

func TestPaths(t *testing.T) {
	if got := HostsPath("docker.io"); got != "/etc/docker/certs.d/docker.io/hosts.toml" {
		t.Errorf("HostsPath = %s", got)
	}
	if got := CAPath("mirror.example.com:5000"); got != "/etc/docker/certs.d/mirror.example.com:5000/ca.crt" {
		t.Errorf("CAPath = %s", got)
	}
	cases := map[string][]string{
		"ghcr.io": {"/etc/docker/certs.d/ghcr.io", "/etc/docker/certs.d/_default"},
		"registry.example.com:5000": {
			"/etc/docker/certs.d/registry.example.com_5000_",
			"/etc/docker/certs.d/registry.example.com:5000",
			"/etc/docker/certs.d/_default",
		},
	}
	for reg, want := range cases {
		if got := LookupDirs(reg); !slices.Equal(got, want) {
			t.Errorf("LookupDirs(%s) = %q, want %q", reg, got, want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	ok := map[string]Version{
		"28.5.2":                      {28, 5, 2},
		"20.10.24+dfsg1":              {20, 10, 24},
		"26.1.5+dfsg1":                {26, 1, 5},
		"29.0.0-rc.1":                 {29, 0, 0},
		"v28.0.1":                     {28, 0, 1},
		"28.3":                        {28, 3, 0},
		"18.09.1":                     {18, 9, 1},
		"17.03.2-ce":                  {17, 3, 2},
		"28.5.2-1~debian.12~bookworm": {28, 5, 2},
	}
	for in, want := range ok {
		if got, err := ParseVersion(in); err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "28", "dev", "28.x.1", "28.5.2.1", "-1.0.0", "28.+5.1"} {
		if _, err := ParseVersion(in); err == nil {
			t.Errorf("ParseVersion(%q) accepted", in)
		}
	}
}

func TestDecide(t *testing.T) {
	cases := []struct {
		engine   string
		store    ImageStore
		registry string
		want     Decision
	}{
		{"28.5.2", StoreContainerd, "ghcr.io", Decision{Registry: "ghcr.io", Route: ViaHostsTOML}},
		{"28.0.0", StoreContainerd, "index.docker.io", Decision{Registry: "docker.io", Route: ViaHostsTOML, AlsoDaemonJSON: true}},
		{"29.1.0", StoreContainerd, "registry.example.com:5000", Decision{Registry: "registry.example.com:5000", Route: ViaHostsTOML}},
		{"20.10.24+dfsg1", StoreClassic, "docker.io", Decision{Registry: "docker.io", Route: ViaDaemonJSON}},
		{"28.5.2", StoreClassic, "docker.io", Decision{Registry: "docker.io", Route: ViaDaemonJSON}},
		{"27.5.1", StoreContainerd, "docker.io", Decision{Registry: "docker.io", Route: ViaDaemonJSON}},
		{"26.1.5+dfsg1", StoreClassic, "ghcr.io", Decision{Registry: "ghcr.io", Route: NotPossible,
			Reason: "needs Docker >= 28 with the containerd image store; this node runs 26.1.5 with the classic store, where registry-mirrors apply to Docker Hub only",
			Fix:    `upgrade Docker to 28 or later and enable the containerd image store ("features": {"containerd-snapshotter": true} in daemon.json, then restart dockerd; images and containers of the classic store are not visible in it)`}},
		{"27.5.1", StoreContainerd, "quay.io", Decision{Registry: "quay.io", Route: NotPossible,
			Reason: "needs Docker >= 28 with the containerd image store; this node runs 27.5.1 with the containerd store, where registry-mirrors apply to Docker Hub only",
			Fix:    "upgrade Docker to 28 or later (25 to 27 read only daemon.json's registry-mirrors, even with the containerd image store)"}},
		{"29.0.0", StoreClassic, "quay.io", Decision{Registry: "quay.io", Route: NotPossible,
			Reason: "needs Docker >= 28 with the containerd image store; this node runs 29.0.0 with the classic store, where registry-mirrors apply to Docker Hub only",
			Fix:    `enable the containerd image store ("features": {"containerd-snapshotter": true} in daemon.json, then restart dockerd; images and containers of the classic store are not visible in it)`}},
	}
	for _, c := range cases {
		got, err := Decide(c.engine, c.store, c.registry)
		if err != nil || got != c.want {
			t.Errorf("Decide(%s, %s, %s) =\n  %+v, %v\nwant\n  %+v", c.engine, c.store, c.registry, got, err, c.want)
		}
	}
	for _, c := range []struct {
		engine, registry string
		store            ImageStore
	}{{"28", "ghcr.io", StoreClassic}, {"28.5.2", "ghcr.io", "overlay2"}, {"28.5.2", "https://ghcr.io", StoreContainerd}} {
		if d, err := Decide(c.engine, c.store, c.registry); err == nil {
			t.Errorf("Decide(%q, %q, %q) accepted: %+v", c.engine, c.store, c.registry, d)
		}
	}
}

func TestCheckEngine(t *testing.T) {
	f, err := Parse([]byte("[host.\"https://m.example.com\"]\n  capabilities = [\"pull\", \"resolve\", \"Referrers\"]\n  dial_timeout = \"3s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckEngine(f, "29.0.4"); err == nil || !strings.Contains(err.Error(), "line 1, column 2") || !strings.Contains(err.Error(), "Docker 29.0.4 ignores this whole file") {
		t.Errorf("29.0.4: %v", err)
	}
	if ws, err := CheckEngine(f, "29.1.0"); err != nil || len(ws) != 0 {
		t.Errorf("29.1.0: %v %v", ws, err)
	}
	g, err := Parse([]byte("dial_timeout = \"3s\"\n[host.\"https://m.example.com\"]\n  dial_timeout = \"3s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if ws, err := CheckEngine(g, "28.2.2"); err != nil || len(ws) != 2 || ws[0].Code != CodeEngineIgnoresKey {
		t.Errorf("28.2.2: %v %v", ws, err)
	}
	if ws, err := CheckEngine(g, "28.3.0"); err != nil || len(ws) != 0 {
		t.Errorf("28.3.0: %v %v", ws, err)
	}
	if _, err := CheckEngine(g, "latest"); err == nil {
		t.Error("CheckEngine accepted version latest")
	}
	// Apply refuses to add to a file the node's engine would ignore.
	_, err = Apply([]byte("[host.\"https://m.example.com\"]\n  capabilities = [\"referrers\"]\n"),
		Desired{Registry: "ghcr.io", Mirrors: []Mirror{{URL: "https://n.example.com"}}, Engine: "28.5.2"})
	if err == nil || !strings.Contains(err.Error(), "referrers") {
		t.Errorf("Apply with Engine 28.5.2: %v", err)
	}
}
