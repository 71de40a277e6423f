package hoststoml

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func mirrors(urls ...string) []Mirror {
	ms := make([]Mirror, len(urls))
	for i, u := range urls {
		ms[i] = Mirror{URL: u}
	}
	return ms
}

func hostKeys(t *testing.T, b []byte) (keys []string, owned []string) {
	t.Helper()
	f, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, b)
	}
	for _, h := range f.Hosts {
		keys = append(keys, h.Key)
		if h.Owned {
			owned = append(owned, h.Key)
		}
	}
	return keys, owned
}

func TestApplyRefuses(t *testing.T) {
	cases := []struct {
		name string
		in   string
		d    Desired
		want string // in the error
	}{
		{"server elsewhere", "server = \"https://quay.io\"\n", Desired{Registry: "ghcr.io", Mirrors: mirrors("https://m.example.com")},
			`hosts.toml: line 1, column 1: server = "https://quay.io" makes dockerd fall back to https://quay.io/v2 for ghcr.io, not https://ghcr.io/v2`},
		{"server scheme", "\n\nserver = \"http://registry.example.com:5000\"\n", Desired{Registry: "registry.example.com:5000", Mirrors: mirrors("https://m.example.com")},
			"hosts.toml: line 3, column 1: server"},
		{"no server, desired http", "[host.\"https://other.example.com\"]\n", Desired{Registry: "registry.example.com:5000", Server: "http://registry.example.com:5000", Mirrors: mirrors("https://m.example.com")},
			"hosts.toml: has no server line, so dockerd falls back to https://registry.example.com:5000/v2"},
		{"unknown key", "server = \"https://ghcr.io\"\n[host.\"https://a.example.com\"]\n  capabilties = [\"pull\"]\n", Desired{Registry: "ghcr.io", Mirrors: mirrors("https://m.example.com")},
			`hosts.toml: line 3, column 3: unknown key host."https://a.example.com".capabilties`},
		{"two unknown keys, both named", "foo = 1\nbar = 2\n", Desired{Registry: "ghcr.io", Mirrors: mirrors("https://m.example.com")},
			"line 1, column 1: unknown key foo: dockerd ignores it (known: server, capabilities, ca, client, skip_verify, header, override_path, dial_timeout, [host.\"<url>\"])\nhosts.toml: line 2, column 1: unknown key bar"},
		{"host by dotted key", "host.\"https://a.example.com\".capabilities = [\"pull\"]\n", Desired{Registry: "ghcr.io", Mirrors: mirrors("https://m.example.com")},
			`line 1, column 1: host "https://a.example.com" is not defined by a [host."https://a.example.com"] table header: dockerd never tries it`},
		{"sub-table of ours", "# swarmctl-managed\n[host.\"https://m.example.com\"]\n  capabilities = [\"pull\", \"resolve\"]\n[host.\"https://m.example.com\".header]\n  x = \"y\"\n",
			Desired{Registry: "ghcr.io", Mirrors: mirrors("https://m.example.com")}, `line 4, column 2: [host."https://m.example.com".header] extends a table swarmctl manages`},
		{"registry", "", Desired{Registry: "https://ghcr.io", Mirrors: mirrors("https://m.example.com")}, `invalid registry "https://ghcr.io"`},
		{"duplicate mirror", "", Desired{Registry: "ghcr.io", Mirrors: mirrors("https://m.example.com", "HTTPS://M.example.com:443/")}, "listed twice"},
		{"mirror is the registry", "", Desired{Registry: "ghcr.io", Mirrors: mirrors("https://ghcr.io")}, "is the registry ghcr.io itself"},
		{"mirror is Docker Hub", "", Desired{Registry: "docker.io", Mirrors: mirrors("https://index.docker.io")}, "is the registry docker.io itself"},
		{"mirror without scheme", "", Desired{Registry: "ghcr.io", Mirrors: mirrors("m.example.com")}, "no scheme: write https://m.example.com"},
		{"mirror with password", "", Desired{Registry: "ghcr.io", Mirrors: mirrors("https://u:secret@m.example.com")}, "user:password"},
		{"mirror with query", "", Desired{Registry: "ghcr.io", Mirrors: mirrors("https://m.example.com/?x=1")}, "query"},
		{"mirror with quote", "", Desired{Registry: "ghcr.io", Mirrors: mirrors(`https://m.example.com/"`)}, "contains whitespace"},
		{"mirror unclean path", "", Desired{Registry: "ghcr.io", Mirrors: mirrors("https://m.example.com/a//b")}, "not clean"},
		{"relative ca", "", Desired{Registry: "ghcr.io", Mirrors: []Mirror{{URL: "https://m.example.com", CAPath: "ca.crt"}}}, "clean absolute path"},
		{"server with path", "", Desired{Registry: "ghcr.io", Server: "https://ghcr.io/v2", Mirrors: mirrors("https://m.example.com")}, "must not have a path"},
		{"cert file with slash", "", Desired{Registry: "ghcr.io", Mirrors: mirrors("https://m.example.com"), CertFiles: []string{"../ca.crt"}}, "plain file name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Apply([]byte(c.in), c.d)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Apply error = %v\nwant it to contain %q", err, c.want)
			}
			if res.Out != nil || res.Changed {
				t.Errorf("an error with a result: %+v", res)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("password in the error: %v", err)
			}
		})
	}
}

func TestApplyServerAccepted(t *testing.T) {
	for _, c := range []struct{ reg, server, file string }{
		{"docker.io", "", `server = "https://docker.io"`},
		{"docker.io", "", `server = "https://index.docker.io/"`},
		{"docker.io", "", `server = "registry-1.docker.io"`},
		{"docker.io", "https://registry-1.docker.io", ``},
		{"ghcr.io", "", `server = "https://GHCR.io:443"`},
		{"ghcr.io", "https://ghcr.io/", `server = "https://ghcr.io/v2"`},
		{"registry.example.com:5000", "http://registry.example.com:5000", `server = "http://registry.example.com:5000"`},
		{"localhost:5000", "", ``}, // containerd: http for localhost with a port
		{"localhost:5000", "http://localhost:5000", ``},
	} {
		in := []byte(c.file + "\n")
		if _, err := Apply(in, Desired{Registry: c.reg, Server: c.server, Mirrors: mirrors("https://m.example.com")}); err != nil {
			t.Errorf("%s %q with %s: %v", c.reg, c.server, c.file, err)
		}
	}
}

func TestApplyOrder(t *testing.T) {
	d := Desired{Registry: "ghcr.io", Mirrors: mirrors("https://own.example.com", "https://b.example.com", "https://c.example.com")}
	in := []byte("server = \"https://ghcr.io\"\n\n[host.\"https://office.example.com\"]\n  capabilities = [\"pull\", \"resolve\"]\n")
	res, err := Apply(in, d)
	if err != nil {
		t.Fatal(err)
	}
	keys, owned := hostKeys(t, res.Out)
	if want := []string{"https://own.example.com", "https://b.example.com", "https://c.example.com", "https://office.example.com"}; !slices.Equal(keys, want) {
		t.Fatalf("order %q, want %q", keys, want)
	}
	if !slices.Equal(owned, keys[:3]) {
		t.Fatalf("owned %q", owned)
	}

	// Issue 15: on another node the replicas come in another order.
	d.Mirrors = mirrors("https://c.example.com", "https://own.example.com")
	res2, err := Apply(res.Out, d)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ = hostKeys(t, res2.Out)
	if want := []string{"https://c.example.com", "https://own.example.com", "https://office.example.com"}; !slices.Equal(keys, want) {
		t.Fatalf("order %q, want %q", keys, want)
	}
	var actions []string
	for _, c := range res2.Changes {
		actions = append(actions, c.Action+" "+c.Host)
	}
	if want := []string{"remove https://b.example.com", "move "}; !slices.Equal(actions, want) {
		t.Errorf("changes %q, want %q", actions, want)
	}

	// A person moves swarmctl's tables below their own: they stay there.
	moved := []byte("server = \"https://ghcr.io\"\n\n[host.\"https://office.example.com\"]\n  capabilities = [\"pull\", \"resolve\"]\n\n" +
		"# swarmctl-managed\n[host.\"https://c.example.com\"]\n  capabilities = [\"pull\", \"resolve\"]\n")
	res3, err := Apply(moved, d)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ = hostKeys(t, res3.Out)
	if want := []string{"https://office.example.com", "https://c.example.com", "https://own.example.com"}; !slices.Equal(keys, want) {
		t.Fatalf("order %q, want %q\n%s", keys, want, res3.Out)
	}
	// and Remove takes out exactly swarmctl's.
	rm, err := Remove(res3.Out, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ = hostKeys(t, rm.Out)
	if !slices.Equal(keys, []string{"https://office.example.com"}) {
		t.Errorf("after Remove: %q\n%s", keys, rm.Out)
	}
}

func TestApplyIdempotentNoChanges(t *testing.T) {
	d := Desired{Registry: "docker.io", Mirrors: mirrors("https://hub.mirror.example.com"), DaemonJSON: &DaemonJSON{Mirrors: []string{"https://hub.mirror.example.com/"}}}
	res, err := Apply(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("daemon.json lists the same mirror, yet warnings: %v", res.Warnings)
	}
	again, err := Apply(res.Out, d)
	if err != nil || again.Changed || len(again.Changes) != 0 || !bytes.Equal(again.Out, res.Out) {
		t.Fatalf("second Apply: %+v %v", again, err)
	}
}

func TestApplyCertFiles(t *testing.T) {
	res, err := Apply(nil, Desired{Registry: "registry.example.com:5000", Mirrors: mirrors("https://m.example.com"),
		CertFiles: []string{"client.key", "ca.crt", "client.cert", "solo.cert", "corp.crt", "README"}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(res.Out)
	if err != nil {
		t.Fatal(err)
	}
	wantCA := []string{"/etc/docker/certs.d/registry.example.com:5000/ca.crt", "/etc/docker/certs.d/registry.example.com:5000/corp.crt"}
	if !slices.Equal(f.Root.CA, wantCA) {
		t.Errorf("root ca %q, want %q", f.Root.CA, wantCA)
	}
	if !bytes.Contains(res.Out, []byte(`client = [["/etc/docker/certs.d/registry.example.com:5000/client.cert", "/etc/docker/certs.d/registry.example.com:5000/client.key"], "/etc/docker/certs.d/registry.example.com:5000/solo.cert"]`)) {
		t.Errorf("client pairs missing:\n%s", res.Out)
	}
	// An existing file: cert files are already not read; nothing added.
	res2, err := Apply([]byte("server = \"https://registry.example.com:5000\"\n"), Desired{Registry: "registry.example.com:5000",
		Mirrors: mirrors("https://m.example.com"), CertFiles: []string{"ca.crt"}})
	if err != nil || bytes.Contains(res2.Out, []byte("ca =")) {
		t.Errorf("%v\n%s", err, res2.Out)
	}
	// Removing swarmctl's mirror from a file it created deletes it even
	// with the ca/client lines it wrote.
	rm, err := Remove(res.Out, []string{"https://m.example.com"})
	if err != nil || !rm.Delete || rm.Out != nil {
		t.Errorf("Remove: %+v %v", rm, err)
	}
}

func TestApplyNoneDeletesCreated(t *testing.T) {
	d := Desired{Registry: "ghcr.io", Mirrors: mirrors("https://m.example.com")}
	res, err := Apply(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	d.Mirrors = nil
	none, err := Apply(res.Out, d)
	if err != nil || !none.Delete || !none.Changed || none.Out != nil {
		t.Fatalf("Apply without mirrors on swarmctl's file: %+v %v", none, err)
	}
	if len(none.Warnings) != 0 {
		t.Errorf("warnings for a deleted file: %v", none.Warnings)
	}
	if res, err := Apply(nil, d); err != nil || res.Changed || res.Out != nil {
		t.Errorf("Apply without mirrors and without a file: %+v %v", res, err)
	}
}

func TestRemove(t *testing.T) {
	in := []byte("server = \"https://ghcr.io\"\n\n# swarmctl-managed\n[host.\"https://a.example.com\"]\n  capabilities = [\"pull\", \"resolve\"]\n\n" +
		"[host.\"https://b.example.com\"]\n  capabilities = [\"pull\", \"resolve\"]\n")
	res, err := Remove(in, []string{"https://b.example.com", "https://nowhere.example.com"})
	if err != nil || res.Changed || !bytes.Equal(res.Out, in) {
		t.Fatalf("Remove of a foreign and an absent mirror changed something: %+v %v", res, err)
	}
	if len(res.Warnings) != 1 || res.Warnings[0].Code != CodeForeignKept || !strings.Contains(res.Warnings[0].Message, "line 7") {
		t.Errorf("warnings %+v", res.Warnings)
	}
	res, err = Remove(in, []string{"https://A.example.com/"})
	if err != nil || !res.Changed || res.Delete {
		t.Fatalf("%+v %v", res, err)
	}
	if keys, _ := hostKeys(t, res.Out); !slices.Equal(keys, []string{"https://b.example.com"}) {
		t.Errorf("left %q", keys)
	}
	if _, err := Remove(in, []string{"not a url"}); err == nil {
		t.Error("Remove accepted a mirror that is not a URL")
	}
	// A swarmctl-created file with something of the user's stays.
	withComment := []byte("# swarmctl-created: x\nserver = \"https://ghcr.io\"\n# mine\n\n# swarmctl-managed\n[host.\"https://a.example.com\"]\n  capabilities = [\"pull\", \"resolve\"]\n")
	res, err = Remove(withComment, nil)
	if err != nil || res.Delete || !bytes.Equal(res.Out, []byte("# swarmctl-created: x\nserver = \"https://ghcr.io\"\n# mine\n\n")) {
		t.Errorf("%+v %v\n%q", res, err, res.Out)
	}
}

func TestParseFile(t *testing.T) {
	in := []byte("# Büro ✓\r\nserver = \"ghcr.io\"\r\n\r\n[host.\"httpbin.example.com\"]\r\n[host.\"https://a.example.com\"]\r\n  capabilities = [\"pull\"]\r\n" +
		"[host.\"https://b.example.com\"]\r\n[host.\"https://a.example.com\".header]\r\n  x = \"y\"\r\n")
	f, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if f.Server == nil || f.Server.Endpoint != (Endpoint{"https", "ghcr.io", "/v2"}) || f.Server.Line != 2 {
		t.Errorf("server %+v", f.Server)
	}
	var keys []string
	for _, h := range f.Hosts {
		keys = append(keys, h.Key)
	}
	// containerd lists a.example.com again for its late header table.
	if want := []string{"httpbin.example.com", "https://a.example.com", "https://b.example.com", "https://a.example.com"}; !slices.Equal(keys, want) {
		t.Errorf("hosts %q, want %q", keys, want)
	}
	var kinds []string
	for _, p := range f.Problems {
		kinds = append(kinds, string(p.Kind)+"@"+strconv.Itoa(p.Line)+":"+strconv.Itoa(p.Column))
	}
	if want := []string{"host-not-tried@4:2", "host-tried-twice@5:2"}; !slices.Equal(kinds, want) {
		t.Errorf("problems %q, want %q (%+v)", kinds, want, f.Problems)
	}
	if f.Endpoints() != 5 {
		t.Errorf("Endpoints() = %d", f.Endpoints())
	}

	// Columns count characters.
	_, err = Parse([]byte("# ünïcödé\nserver = \"ä\" = 1\n"))
	var e *Error
	if !errors.As(err, &e) || e.Line != 2 || e.Column != 14 {
		t.Errorf("error %v (%+v), want line 2 column 14", err, e)
	}
	e.Name = "/etc/docker/certs.d/ghcr.io/hosts.toml"
	if !strings.HasPrefix(e.Error(), "/etc/docker/certs.d/ghcr.io/hosts.toml: line 2, column 14: ") {
		t.Errorf("named error %q", e)
	}

	empty, err := Parse(nil)
	if err != nil || empty.Server != nil || len(empty.Hosts) != 0 || empty.Endpoints() != 1 {
		t.Errorf("empty: %+v %v", empty, err)
	}
}

func TestCheck(t *testing.T) {
	parse := func(s string) *File {
		f, err := Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	serverOnly := parse("server = \"https://registry-1.docker.io\"\n")
	if ws := Check(serverOnly, "docker.io", nil); len(ws) != 0 {
		t.Errorf("one endpoint, yet %v", ws)
	}
	one := parse("[host.\"https://m.example.com\"]\n")
	if ws := Check(one, "docker.io", nil); len(ws) != 1 || ws[0].Code != CodeDaemonJSONUnknown {
		t.Errorf("one host = two endpoints, daemon.json unknown: %v", ws)
	}
	dj := &DaemonJSON{Mirrors: []string{"https://m.example.com/", "http://other.example.com:5000", "third.example.com"}}
	ws := Check(one, "docker.io", dj)
	if len(ws) != 2 || ws[0].Code != CodeMirrorIgnored || !strings.Contains(ws[0].Message, "http://other.example.com:5000") || !strings.Contains(ws[1].Message, "third.example.com") {
		t.Errorf("docker.io mirrors: %v", ws)
	}
	if ws := Check(one, "ghcr.io", dj); len(ws) != 0 {
		t.Errorf("registry-mirrors never applied to ghcr.io: %v", ws)
	}
	mixed := parse("server = \"https://registry.example.com:5000\"\n[host.\"http://10.0.0.5:5001\"]\n[host.\"https://10.0.0.6:5001\"]\n[host.\"https://10.0.0.7\"]\n  skip_verify = true\n")
	ws = Check(mixed, "registry.example.com:5000", &DaemonJSON{Insecure: []string{"registry.example.com:5000", "10.0.0.5:5001", "10.0.0.0/24", "192.168.0.0/16"}})
	var msgs []string
	for _, w := range ws {
		msgs = append(msgs, w.Message[:strings.Index(w.Message, ":")])
	}
	if want := []string{
		"daemon.json insecure-registries entry registry.example.com",
		"daemon.json insecure-registries entry 10.0.0.0/24 no longer applies to https",
	}; !slices.Equal(msgs, want) {
		t.Errorf("insecure warnings %q, want %q", msgs, want)
	}
}
