package certsd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/internal/hoststoml"
	"github.com/swarmctl/swarmctl/internal/member"
)

func testCA(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// apply makes p's ops on c, as the node would.
func applyOps(c *member.CertsD, p Plan) *member.CertsD {
	for _, op := range p.Ops {
		dir := op.Path[len(hoststoml.CertsDir)+1 : strings.LastIndex(op.Path, "/")]
		name := op.Path[strings.LastIndex(op.Path, "/")+1:]
		d := c.Dirs[dir]
		if d == nil {
			d = &member.CertsDir{Name: dir, Files: map[string][]byte{}, Refused: map[string]string{}}
			c.Dirs[dir] = d
		}
		if op.Action == ActDelete {
			delete(d.Files, name)
			var es []string
			for _, e := range d.Entries {
				if e != name {
					es = append(es, e)
				}
			}
			d.Entries = es
			if len(es) == 0 {
				delete(c.Dirs, dir)
			}
			continue
		}
		if _, ok := d.Files[name]; !ok {
			d.Entries = append(d.Entries, name)
		}
		d.Files[name] = op.New
	}
	return c
}

func TestBuildCreatesRemovesIdempotent(t *testing.T) {
	ca := testCA(t)
	want := Want{
		Hosts: []hoststoml.Desired{
			{Registry: "docker.io", Mirrors: []hoststoml.Mirror{{URL: "https://m1.example.com", CAPath: hoststoml.CAPath("m1.example.com")}}},
			{Registry: "ghcr.io", Mirrors: []hoststoml.Mirror{{URL: "https://ghcr-io.m1.example.com", CAPath: hoststoml.CAPath("ghcr-io.m1.example.com")}}},
		},
		CA:      ca,
		CAHosts: []string{"m1.example.com", "ghcr-io.m1.example.com"},
	}
	c := &member.CertsD{Dirs: map[string]*member.CertsDir{}}
	p, err := Build(c, want)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range p.Ops {
		got = append(got, op.Action+" "+op.Path)
	}
	wantOps := []string{
		"create /etc/docker/certs.d/m1.example.com/ca.crt",
		"create /etc/docker/certs.d/ghcr-io.m1.example.com/ca.crt",
		"create /etc/docker/certs.d/docker.io/hosts.toml",
		"create /etc/docker/certs.d/ghcr.io/hosts.toml",
	}
	if strings.Join(got, "\n") != strings.Join(wantOps, "\n") {
		t.Fatalf("ops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantOps, "\n"))
	}
	if b := p.Ops[3].New; !strings.Contains(string(b), `ca = "/etc/docker/certs.d/ghcr-io.m1.example.com/ca.crt"`) {
		t.Errorf("ghcr.io hosts.toml does not name the CA:\n%s", b)
	}
	if b := p.Ops[0].New; !strings.HasPrefix(string(b), CAMarker) || !holdsAll(b, ca) {
		t.Errorf("ca.crt:\n%s", b)
	}
	c = applyOps(c, p)
	// A second run changes nothing.
	if p2, err := Build(c, want); err != nil || p2.Changed() {
		t.Fatalf("second run: %v %+v", err, p2.Ops)
	}
	// ghcr.io dropped from the inventory: its hosts.toml goes, the rest stays.
	less := want
	less.Hosts = want.Hosts[:1]
	less.CAHosts = want.CAHosts[:1]
	p3, err := Build(c, less)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, op := range p3.Ops {
		got = append(got, op.Action+" "+op.Path)
	}
	if strings.Join(got, ",") != "delete /etc/docker/certs.d/ghcr.io/hosts.toml,delete /etc/docker/certs.d/ghcr-io.m1.example.com/ca.crt" {
		t.Errorf("dropping ghcr.io: %v", got)
	}
	// --remove: everything swarmctl wrote goes, nothing else.
	c.Dirs["other"] = &member.CertsDir{Name: "other", Entries: []string{"ca.crt"}, Files: map[string][]byte{"ca.crt": ca}, Refused: map[string]string{}}
	p4, err := Build(c, Want{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p4.Ops) != 4 {
		t.Errorf("remove: %d ops, want 4", len(p4.Ops))
	}
	for _, op := range p4.Ops {
		if op.Action != ActDelete || strings.Contains(op.Path, "/other/") {
			t.Errorf("remove: %s %s", op.Action, op.Path)
		}
	}
	// Hosts.toml deletions come before the CA they name.
	if p4.Ops[0].Kind != KindHostsTOML || p4.Ops[3].Kind != KindCA {
		t.Errorf("remove order: %+v", p4.Ops)
	}
}

func TestBuildForeignFiles(t *testing.T) {
	ca := testCA(t)
	other := testCA(t)
	foreignTOML := "server = \"https://ghcr.io\"\n\n[host.\"https://mine.example.com\"]\n  capabilities = [\"pull\"]\n"
	c := &member.CertsD{Dirs: map[string]*member.CertsDir{
		"m1.example.com": {Name: "m1.example.com", Entries: []string{"ca.crt"}, Files: map[string][]byte{"ca.crt": other}, Refused: map[string]string{}},
		"ghcr.io":        {Name: "ghcr.io", Entries: []string{"hosts.toml"}, Files: map[string][]byte{"hosts.toml": []byte(foreignTOML)}, Refused: map[string]string{}},
	}}
	// A foreign ca.crt with other certificates: refused, named.
	_, err := Build(c, Want{CA: ca, CAHosts: []string{"m1.example.com"}})
	if err == nil || !strings.Contains(err.Error(), "/etc/docker/certs.d/m1.example.com/ca.crt exists and is not swarmctl's") {
		t.Errorf("foreign ca.crt: %v", err)
	}
	// The same certificate already there: left alone.
	c.Dirs["m1.example.com"].Files["ca.crt"] = ca
	if p, err := Build(c, Want{CA: ca, CAHosts: []string{"m1.example.com"}}); err != nil || p.Changed() {
		t.Errorf("foreign ca.crt holding the CA: %v %+v", err, p.Ops)
	}
	// A foreign hosts.toml is edited, its own host kept.
	p, err := Build(c, Want{Hosts: []hoststoml.Desired{{Registry: "ghcr.io", Server: "https://ghcr.io", Mirrors: []hoststoml.Mirror{{URL: "http://10.0.0.1:5001"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Ops) != 1 || p.Ops[0].Action != ActUpdate || !strings.Contains(string(p.Ops[0].New), "https://mine.example.com") || !strings.Contains(string(p.Ops[0].New), "http://10.0.0.1:5001") {
		t.Errorf("foreign hosts.toml: %+v", p.Ops)
	}
	if d := p.Ops[0].UnifiedDiff(); !strings.Contains(d, "+[host.\"http://10.0.0.1:5001\"]") {
		t.Errorf("diff:\n%s", d)
	}
	// An unparsable hosts.toml fails with file and line.
	c.Dirs["ghcr.io"].Files["hosts.toml"] = []byte("server = \"https://ghcr.io\"\n[host\n")
	_, err = Build(c, Want{Hosts: []hoststoml.Desired{{Registry: "ghcr.io", Mirrors: []hoststoml.Mirror{{URL: "http://10.0.0.1:5001"}}}}})
	if err == nil || !strings.Contains(err.Error(), "/etc/docker/certs.d/ghcr.io/hosts.toml: line 2") {
		t.Errorf("broken hosts.toml: %v", err)
	}
	// A symbolic link is never written through.
	c.Dirs["quay.io"] = &member.CertsDir{Name: "quay.io", Link: true}
	_, err = Build(c, Want{Hosts: []hoststoml.Desired{{Registry: "quay.io", Mirrors: []hoststoml.Mirror{{URL: "http://10.0.0.1:5002"}}}}})
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("linked dir: %v", err)
	}
	c.Dirs["quay.io"] = &member.CertsDir{Name: "quay.io", Entries: []string{"hosts.toml"}, Refused: map[string]string{"hosts.toml": "a symbolic link"}}
	_, err = Build(c, Want{Hosts: []hoststoml.Desired{{Registry: "quay.io", Mirrors: []hoststoml.Mirror{{URL: "http://10.0.0.1:5002"}}}}})
	if err == nil || !strings.Contains(err.Error(), "quay.io/hosts.toml is a symbolic link") {
		t.Errorf("linked file: %v", err)
	}
}

func TestCertFilesKeptWhenCreating(t *testing.T) {
	c := &member.CertsD{Dirs: map[string]*member.CertsDir{
		"ghcr.io": {Name: "ghcr.io", Entries: []string{"client.cert", "client.key", "corp.crt"}, Files: map[string][]byte{}, Refused: map[string]string{}},
	}}
	p, err := Build(c, Want{Hosts: []hoststoml.Desired{{Registry: "ghcr.io", Mirrors: []hoststoml.Mirror{{URL: "http://10.0.0.1:5001"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if s := string(p.Ops[0].New); !strings.Contains(s, `ca = ["/etc/docker/certs.d/ghcr.io/corp.crt"]`) || !strings.Contains(s, "client = ") {
		t.Errorf("existing cert files not kept in force:\n%s", s)
	}
}

func TestCertsDFactsRoundTrip(t *testing.T) {
	f := &member.Facts{CertsD: &member.CertsD{Dirs: map[string]*member.CertsDir{
		"ghcr.io": {Name: "ghcr.io", Entries: []string{"hosts.toml", "x.crt", "lnk"}, Files: map[string][]byte{"hosts.toml": []byte("server = \"x\"\n")}, Refused: map[string]string{"lnk": "a symbolic link"}},
		"l":       {Name: "l", Link: true},
	}}}
	g, err := member.ParseFacts(member.EncodeFacts(f))
	if err != nil {
		t.Fatal(err)
	}
	d := g.CertsD.Dir("ghcr.io")
	if d == nil || string(d.Files["hosts.toml"]) != "server = \"x\"\n" || d.Refused["lnk"] == "" || len(d.Entries) != 3 || !g.CertsD.Dir("l").Link {
		t.Errorf("round trip: %+v", g.CertsD)
	}
}
