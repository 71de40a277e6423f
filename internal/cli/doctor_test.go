package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	stdpem "encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/swarmctl/swarmctl/internal/doctor"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/probe"
	"github.com/swarmctl/swarmctl/internal/report"
)

// doctor reads here (keys, known_hosts) and on each node; one line per
// check; exit 1 when one failed; the JSON has every check and the
// failures as problems; nothing is changed on any node.
func TestDoctorReportsEveryCheck(t *testing.T) {
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	pemBlock, _ := ssh.MarshalPrivateKey(priv, "")
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pemBytes(pemBlock), 0o600); err != nil {
		t.Fatal(err)
	}
	hostPub, _, _ := ed25519.GenerateKey(rand.Reader)
	hk, _ := ssh.NewPublicKey(hostPub)
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(knownhosts.Line([]string{"10.0.0.1"}, hk)+"\n"+knownhosts.Line([]string{"10.0.0.2"}, hk)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inv := writeInventory(t, "defaults:\n  user: root\n  key: "+keyFile+"\n  known_hosts: "+kh+"\n  ssh_config: none\nmirror:\n  url: http://10.0.0.1:5000\n  insecure: true\n"+
		"nodes:\n  - {host: 10.0.0.1, name: m1, role: manager}\n  - {host: 10.0.0.2, name: w1}\n  - {host: 10.0.0.3, name: w2}\n")
	members := "id-m1|m1|manager|ready|active|0.0.0.0|10.0.0.1:2377|reachable|true\nid-w1|w1|worker|ready|active|10.0.0.2|||\n" +
		"id-w2|w2|worker|down|active|10.0.0.3|||\nid-w9|w9|worker|ready|active|10.0.0.9|||\n"
	hosts := map[string]*fakehost.Host{}
	for addr, name := range map[string]string{"10.0.0.1": "m1", "10.0.0.2": "w1"} {
		name := name
		dj := `{}`
		if name == "w1" {
			dj = "{\n  \"debug\": true\n  \"x\": 1\n}\n"
		}
		hosts[addr] = fakehost.New(name, nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
			out := func(s string) (nodes.Output, error) { return nodes.Output{Stdout: []byte(s)}, nil }
			switch c.Script.Name() {
			case "facts.sh":
				return out(swarmFacts(name, dj, "[]", name == "m1"))
			case "disk.sh":
				return out("10485760 /etc/docker-latest\n")
			case "probe.sh":
				return out(probe.Output(200, 2e6))
			case "swarm-nodes.sh":
				return out(memberLines(members))
			}
			return nodes.Output{}, exitErr(c, "doctor must not run "+nodes.CommandLine(c, true))
		})
	}
	dial := func(_ context.Context, tg nodes.Target, _ nodes.DialOptions) (nodes.Host, error) {
		if h, ok := hosts[tg.Host]; ok {
			return h, nil
		}
		return nil, errors.New("connect " + tg.Host + ":22: connection refused")
	}
	d, out, errb := testDeps(dial)
	code := Run(context.Background(), d, []string{"doctor", "-i", inv})
	if code != ExitFailed {
		t.Errorf("exit %d, want 1\n%s", code, errb)
	}
	for _, want := range []string{
		"local  inventory    ok",
		"local  ssh-key      ok      offers " + keyFile + " (ssh-ed25519)",
		"local  mirror-url   ok      http://10.0.0.1:5000",
		"m1     known-hosts  ok      entry at " + kh + ":1",
		"m1     daemon-json  ok      /etc/docker-latest/daemon.json parses; nodes configure would",
		"m1     mirror       ok      GET http://10.0.0.1:5000/v2/ from the node: HTTP 200 in 2 ms",
		"w1     daemon-json  fail    /etc/docker-latest/daemon.json: line 3, column 3",
		"w2     known-hosts  fail    no entry for 10.0.0.3:22 in " + kh,
		"w2     ssh          fail    connect 10.0.0.3:22: connection refused",
		"w2     sudo         skip    not connected",
		"local  members      warn    swarm members not in the inventory: w9 (10.0.0.9)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errb.String(), "doctor: ") || !strings.Contains(errb.String(), "3 fail") {
		t.Errorf("stderr:\n%s", errb)
	}
	for addr, h := range hosts {
		if len(h.Writes) != 0 {
			t.Errorf("%s: doctor wrote %v", addr, h.Writes)
		}
	}

	d, out, _ = testDeps(dial)
	Run(context.Background(), d, []string{"doctor", "-i", inv, "-o", "json", "--limit", "m1"})
	var doc DoctorResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.Command != "doctor" || doc.Error != nil || doc.Summary[doctor.Fail] != 0 || len(doc.Checks) < 12 {
		t.Errorf("m1 alone: %s", out)
	}
	d, out, _ = testDeps(dial)
	Run(context.Background(), d, []string{"doctor", "-i", inv, "-o", "json", "--limit", "w1"})
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Error == nil || doc.Error.Code != report.ErrProblems || len(doc.Problems) != 1 || doc.Problems[0].Code != "daemon-json" || doc.Problems[0].Node != "w1" {
		t.Errorf("w1: %s", out)
	}
}

func pemBytes(b *stdpem.Block) []byte { return stdpem.EncodeToMemory(b) }
