package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
)

const proveDigest = "sha256:88d454af3d4dd5da5a8cd60cdf1645ecd2f2f8f7154c29ce8934f4a4b808c3e2"

// proveLab: m1 (manager, runs the mirror) pulls through it; w1 cannot
// reach it and pulls from the upstream. The registry's log (docker service
// logs on m1) shows m1's request only. m1's dockerd was reloaded with the
// mirror (with otherMirrors: with another one); w1's restarted, no reload.
func proveDial(removeFails, otherMirrors bool) func(context.Context, nodes.Target, nodes.DialOptions) (nodes.Host, error) {
	mirror := "http://10.0.0.1:5000"
	return func(_ context.Context, tg nodes.Target, _ nodes.DialOptions) (nodes.Host, error) {
		name := tg.Host
		ip := map[string]string{"m1": "10.0.0.1", "w1": "10.0.0.2"}[name]
		return fakehost.New(name, nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
			out := func(s string) (nodes.Output, error) { return nodes.Output{Stdout: []byte(s)}, nil }
			switch c.Script.Name() {
			case "facts.sh":
				return out(swarmFacts(name, `{"registry-mirrors": ["`+mirror+`"]}`, `["`+mirror+`/"]`, name == "m1"))
			case "probe-pull.sh":
				if c.ScriptArgs[0] != "docker.io/library/busybox@"+proveDigest || c.ScriptArgs[2] != mirror || c.ScriptArgs[3] != "docker.io" {
					return nodes.Output{}, fmt.Errorf("probe-pull.sh %v", c.ScriptArgs)
				}
				curl, cleanup := "0 200", "removed"
				if name == "w1" {
					curl = "7 000"
				}
				if removeFails {
					cleanup = "kept: conflict: unable to remove repository reference (must force) - container abc is using its referenced image"
				}
				return out("@@addrs\n" + ip + "\n172.18.0.1\n@@had\n\n@@start\n1764734400.000000000\n@@finish\n1764734401.500000000\n@@pull\n0\nStatus: Downloaded newer image\n@@cleanup\n" +
					cleanup + "\n@@mirror\n" + curl + "\n@@hoststoml\n@@end\n")
			case "reload-events.sh":
				if c.ScriptArgs[0] != "77" {
					return nodes.Output{}, fmt.Errorf("reload-events.sh %v", c.ScriptArgs)
				}
				events := ""
				if name == "m1" {
					mirrors := `[\"` + mirror + `\"]`
					if otherMirrors {
						mirrors = `[\"https://other.example.com\"]`
					}
					events = `{"Type":"daemon","Action":"reload","Actor":{"ID":"X","Attributes":{"registry-mirrors":"[]","name":"m1"}},"time":1764734000,"timeNano":1764734000000000000}` + "\n" +
						`{"Type":"daemon","Action":"reload","Actor":{"ID":"X","Attributes":{"registry-mirrors":"` + mirrors + `","name":"m1"}},"time":1764734100,"timeNano":1764734100500000000}` + "\n"
				}
				return out("@@now\n1764734399\n@@started\n1764733000\n@@rc\n0\n@@events\n" + events + "@@held\n12 1764733001000000000\n@@end\n")
			case "registry-log.sh":
				if c.ScriptArgs[0] != "registry_registry-mirror" || c.ScriptArgs[2] != proveDigest {
					return nodes.Output{}, fmt.Errorf("registry-log.sh %v", c.ScriptArgs)
				}
				return out("@@tasks\nm1\n@@rc\n0\n@@log\n" +
					`2025-12-03T04:00:00.7Z time="x" level=info msg="response completed" http.request.method=GET http.request.remoteaddr="172.18.0.1:4000" http.request.uri="/v2/library/busybox/manifests/` + proveDigest + `" http.response.status=200` +
					"\n@@end\n")
			}
			return nodes.Output{}, fmt.Errorf("unexpected command %s", nodes.CommandLine(c, true))
		}), nil
	}
}

const proveInv = "mirror:\n  url: http://10.0.0.1:5000\n  insecure: true\nnodes:\n  - {host: m1, name: m1, role: manager}\n  - {host: w1, name: w1, role: worker}\n"

func TestMirrorProveVerdicts(t *testing.T) {
	inv := writeInventory(t, proveInv)
	d, out, errb := testDeps(proveDial(false, false))
	code := Run(context.Background(), d, []string{"mirror", "prove", "-i", inv, "--image", "busybox@" + proveDigest, "-o", "json"})
	var doc MirrorProveResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errb)
	}
	if code != 1 || doc.Error == nil || doc.Error.Code != "not-via-mirror" || len(doc.Nodes) != 2 {
		t.Fatalf("exit %d %+v", code, doc)
	}
	m1, w1 := doc.Nodes[0], doc.Nodes[1]
	// The shared gwbridge address goes to the node running the task.
	if m1.Verdict != "via-mirror" || !strings.Contains(m1.Evidence, "172.18.0.1") || m1.Cleanup != "removed" || m1.PullMS != 1500 {
		t.Errorf("m1: %+v", m1)
	}
	if w1.Verdict != "bypassed" || w1.ReasonCode != "mirror-unreachable" || !strings.Contains(w1.Reason, "curl exit 7") {
		t.Errorf("w1: %+v", w1)
	}
	// The last reload: supporting evidence beside the verdict.
	if r := m1.Reload; r == nil || r.Status != "confirmed" || r.Time != "2025-12-03T03:55:00.5Z" || len(r.Mirrors) != 1 || r.Mirrors[0] != "http://10.0.0.1:5000" ||
		r.DaemonStarted != "2025-12-03T03:36:40Z" || !strings.HasPrefix(r.Detail, "reload: confirmed: dockerd's last reload, at 2025-12-03 03:55:00 UTC") {
		t.Errorf("m1 reload: %+v", r)
	}
	if r := w1.Reload; r == nil || r.Status != "none-since-start" || r.Time != "" || !strings.Contains(r.Detail, "none seen since dockerd started at 2025-12-03 03:36:40 UTC") {
		t.Errorf("w1 reload: %+v", r)
	}
	if doc.Probes[0].ResolvedVia != "given" || doc.Summary["via-mirror"] != 1 || doc.Summary["bypassed"] != 1 ||
		len(doc.Problems) != 1 || doc.Problems[0].Node != "w1" || doc.Problems[0].Code != "mirror-unreachable" {
		t.Errorf("document: %+v", doc)
	}

	// The text form, and a probe a container holds is left with a warning.
	d, out, errb = testDeps(proveDial(true, true))
	code = Run(context.Background(), d, []string{"mirror", "prove", "-i", inv, "--image", "busybox@" + proveDigest})
	if code != 1 || !strings.Contains(out.String(), "m1    docker.io  via mirror") || !strings.Contains(out.String(), "w1    docker.io  bypassed") ||
		!strings.Contains(errb.String(), "warning: m1: the probe docker.io/library/busybox@"+proveDigest+" was not removed (kept: conflict") ||
		!strings.Contains(errb.String(), "proof: 1 via mirror, 1 bypassed, 0 failed") ||
		// m1's last reload lists another mirror: said, the verdict unchanged.
		!regexp.MustCompile(`\nm1 +reload: lists other mirrors: \[https://other.example.com\]`).MatchString(out.String()) ||
		!regexp.MustCompile(`\nw1 +reload: none seen since dockerd started`).MatchString(out.String()) {
		t.Errorf("text: exit %d\n%s\n%s", code, out, errb)

	}
}
