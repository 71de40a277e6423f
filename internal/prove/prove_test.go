package prove

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/internal/hoststoml"
)

const dgst = "sha256:3fbc632167424a6d997e74f52b878d7cc478225cffac6bc977eedfe51c7f4e79"

func TestParseLogLine(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       Request
	}{
		{"logrus", `2026-12-03T04:00:01.5Z time="2026-12-03T04:00:01.5Z" level=info msg="response completed" go.version=go1.19.8 http.request.host="10.0.0.2:5000" http.request.method=GET http.request.remoteaddr="10.0.0.3:45678" http.request.uri="/v2/library/busybox/manifests/` + dgst + `" http.request.useragent="docker/20.10.24 go/go1.19.8" http.response.status=200 http.response.written=527`,
			Request{Client: "10.0.0.3", Method: "GET", URI: "/v2/library/busybox/manifests/" + dgst, Status: 200}},
		{"logrus unquoted addr, error", `2026-12-03T04:00:01Z time="x" level=error msg="response completed with error" err.code="manifest unknown" http.request.method=HEAD http.request.remoteaddr=172.18.0.1 http.request.uri="/v2/lab/bench/manifests/` + dgst + `" http.response.status=404`,
			Request{Client: "172.18.0.1", Method: "HEAD", URI: "/v2/lab/bench/manifests/" + dgst, Status: 404}},
		{"combined", `2026-12-03T04:00:01Z 10.0.0.4 - - [03/Dec/2026:04:00:01 +0000] "GET /v2/library/busybox/manifests/` + dgst + ` HTTP/1.1" 200 527 "" "docker/28.5.2"`,
			Request{Client: "10.0.0.4", Method: "GET", URI: "/v2/library/busybox/manifests/" + dgst, Status: 200}},
		{"json", `2026-12-03T04:00:01Z {"http.request.remoteaddr":"[fd00::5]:4000","http.request.uri":"/v2/x/manifests/` + dgst + `","http.request.method":"GET","http.response.status":200,"msg":"response completed"}`,
			Request{Client: "fd00::5", Method: "GET", URI: "/v2/x/manifests/" + dgst, Status: 200}},
		{"forwarded list", `2026-12-03T04:00:01Z level=info msg="response completed" http.request.method=GET http.request.remoteaddr="10.0.0.9, 10.0.1.1" http.request.uri="/v2/x/manifests/1" http.response.status=200`,
			Request{Client: "10.0.0.9", Method: "GET", URI: "/v2/x/manifests/1", Status: 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseLogLine(tc.line)
			if !ok {
				t.Fatal("not parsed")
			}
			got.Time = time.Time{}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "no timestamp here", `2026-12-03T04:00:01Z level=info msg="starting"`, `2026-12-03T04:00:01Z {bad json`} {
		if r, ok := ParseLogLine(bad); ok {
			t.Errorf("%q parsed as %+v", bad, r)
		}
	}
}

func pullAt(start int64, ok bool) Pull {
	p := Pull{Complete: true, Start: time.Unix(start, 0).UTC(), End: time.Unix(start+2, 0).UTC(), MirrorCurl: 0, MirrorHTTP: 200}
	if !ok {
		p.ExitCode = 1
		p.Output = []string{"Error response from daemon: Get \"https://registry-1.docker.io/v2/\": dial tcp: connection refused"}
	}
	return p
}

func req(at int64, client string, status int) Request {
	return Request{Time: time.Unix(at, 0).UTC(), Client: client, Method: "GET", URI: "/v2/library/busybox/manifests/" + dgst, Status: status}
}

func TestAttribute(t *testing.T) {
	probes := []Probe{
		{Node: "m1", Hostname: "m1", Addrs: []string{"10.0.0.2", "172.18.0.1"}, Pull: pullAt(1000, true)},
		{Node: "w1", Hostname: "w1", Addrs: []string{"10.0.0.5", "172.18.0.1"}, Pull: pullAt(1000, true)},
		{Node: "w2", Hostname: "w2", Addrs: []string{"10.0.0.6", "172.18.0.1"}, Pull: pullAt(1000, true)},
	}
	log := RegistryLog{TaskNodes: []string{"m1"}, Requests: []Request{
		req(1001, "10.0.0.5", 200), // w1 by its own address
		{Time: time.Unix(1001, 0), Client: "10.0.0.6", Method: "HEAD", URI: "/v2/library/busybox/manifests/" + dgst + "?ns=docker.io", Status: 200}, // containerd's mirror query
		req(1001, "172.18.0.1", 200), // shared address: m1 runs the task
		req(900, "10.0.0.6", 200),    // w2, but long before its pull: an earlier run
		req(1001, "10.255.0.3", 200), // ingress: no node
		{Time: time.Unix(1001, 0), Client: "10.0.0.6", URI: "/v2/library/busybox/manifests/latest", Status: 200}, // by tag: not the probe
	}}
	by, un := Attribute(log, "library/busybox", dgst, probes)
	if !by["w1"].Served() || !by["m1"].Served() || len(by["w2"].Requests) != 1 {
		t.Errorf("attributed %+v", by)
	}
	if len(un) != 2 {
		t.Errorf("unmatched %+v, want the early and the ingress request", un)
	}
}

func TestJudge(t *testing.T) {
	daemon := Setup{Registry: "docker.io", MirrorURL: "http://10.0.0.2:5000", LiveMirrors: []string{"http://10.0.0.2:5000/"}, Route: hoststoml.ViaDaemonJSON}
	served := Evidence{Requests: []Request{req(1001, "10.0.0.5", 200)}}
	p := Probe{Node: "w1", Pull: pullAt(1000, true)}

	if o := Judge(p, served, nil, daemon, 120); o.Verdict != ViaMirror || !strings.Contains(o.Evidence, "10.0.0.5") {
		t.Errorf("served: %+v", o)
	}
	// Mirror scaled to 0: the node's curl is refused, the pull went upstream.
	down := p
	down.Pull.MirrorCurl, down.Pull.MirrorHTTP = 7, 0
	if o := Judge(down, Evidence{}, nil, daemon, 120); o.Verdict != Bypassed || o.ReasonCode != ReasonUnreachable || !strings.HasPrefix(o.Reason, "mirror unreachable") {
		t.Errorf("mirror down: %+v", o)
	}
	tlsBad := p
	tlsBad.Pull.MirrorCurl = 60
	if o := Judge(tlsBad, Evidence{}, nil, daemon, 120); o.ReasonCode != ReasonTLS {
		t.Errorf("TLS: %+v", o)
	}
	notConf := daemon
	notConf.LiveMirrors = nil
	if o := Judge(p, Evidence{}, nil, notConf, 120); o.ReasonCode != ReasonNotConfigure {
		t.Errorf("not configured: %+v", o)
	}
	toml := Setup{Registry: "docker.io", MirrorURL: "https://mirror.example.com", LiveMirrors: []string{"https://mirror.example.com"}, Route: hoststoml.ViaHostsTOML}
	over := p
	over.Pull.HostsTOML = []byte("server = \"https://registry-1.docker.io\"\n")
	if o := Judge(over, Evidence{}, nil, toml, 120); o.ReasonCode != ReasonHostsTOML {
		t.Errorf("hosts.toml override: %+v", o)
	}
	had := p
	had.Pull.HadImage = true
	if o := Judge(had, Evidence{}, nil, daemon, 120); o.Verdict != Failed || o.ReasonCode != ReasonProbePresent {
		t.Errorf("probe present: %+v", o)
	}
	if o := Judge(had, served, nil, daemon, 120); o.Verdict != ViaMirror {
		t.Errorf("probe present, still asked: %+v", o)
	}
	if o := Judge(p, Evidence{}, nil, daemon, 120); o.Verdict != Bypassed || o.ReasonCode != ReasonFellBack {
		t.Errorf("fell back: %+v", o)
	}
	if o := Judge(p, Evidence{}, []Request{req(1001, "10.255.0.3", 200)}, daemon, 120); o.Verdict != Failed || o.ReasonCode != ReasonNoEvidence {
		t.Errorf("ingress address: %+v", o)
	}
	// Upstream down, the image not cached: the mirror answered an error,
	// the direct pull failed too.
	fails := Probe{Node: "w1", Pull: pullAt(1000, false)}
	if o := Judge(fails, Evidence{Requests: []Request{req(1001, "10.0.0.5", 404)}}, nil, daemon, 120); o.Verdict != Failed || !strings.Contains(o.Reason, "answered 404") || !strings.Contains(o.Reason, "connection refused") {
		t.Errorf("not cached, upstream down: %+v", o)
	}
	timeout := fails
	timeout.Pull.ExitCode = 124
	if o := Judge(timeout, Evidence{}, nil, daemon, 120); o.Verdict != Failed || !strings.Contains(o.Reason, "within 120 s") {
		t.Errorf("timeout: %+v", o)
	}
}

func TestParsePull(t *testing.T) {
	out := "@@addrs\n10.0.0.5\n172.18.0.1\n@@had\n\n@@start\n1000.250000000\n@@finish\n1003.250000000\n@@pull\n0\nStatus: Downloaded newer image for busybox@" + dgst +
		"\n@@cleanup\nremoved\n@@mirror\n7 000\n@@hoststoml\nc2VydmVyID0gIngiCg==\n@@end\n"
	p := ParsePull([]byte(out))
	if !p.Ok() || p.HadImage || p.Cleanup != "removed" || p.MirrorCurl != 7 || len(p.Addrs) != 2 || string(p.HostsTOML) != "server = \"x\"\n" ||
		p.End.Sub(p.Start) != 3*time.Second {
		t.Errorf("%+v", p)
	}
	if p := ParsePull([]byte("@@start\n1000.N\n@@finish\n1001.5\n")); p.Start != time.Unix(1000, 0).UTC() || p.End != time.Unix(1001, 5e8).UTC() {
		t.Errorf("times: %v %v", p.Start, p.End)
	}
	if p := ParsePull([]byte("@@addrs\n10.0.0.5\n")); p.Complete || p.Ok() {
		t.Errorf("cut short: %+v", p)
	}
}

func reloadOut(events string, held string) []byte {
	return []byte("@@now\n2000\n@@started\n1000\n@@rc\n0\n@@events\n" + events + "@@held\n" + held + "\n@@end\n")
}

func reloadEv(at int64, mirrors string) string {
	attr := ""
	if mirrors != "" {
		attr = `"registry-mirrors":` + strconv.Quote(mirrors) + `,`
	}
	return `{"status":"","Type":"daemon","Action":"reload","Actor":{"ID":"A:B","Attributes":{` + attr + `"name":"n1"}},"scope":"local","time":` +
		strconv.FormatInt(at, 10) + `,"timeNano":` + strconv.FormatInt(at*1e9+5e8, 10) + "}\n"
}

func TestCheckReload(t *testing.T) {
	const mirror = "http://10.0.0.2:5000"
	for _, tc := range []struct {
		name, out  string
		status     string
		detail     string
		at         int64 // the last reload's second (0: none)
		mirrorsLen int
	}{
		{"confirmed, the last of two, trailing slash", string(reloadOut(reloadEv(1500, `["https://old.example.com"]`)+reloadEv(1600, `["https://a.example.com","http://10.0.0.2:5000/"]`), "9 1000000000000")),
			ReloadConfirmed, "reload: confirmed: dockerd's last reload, at 1970-01-01 00:26:40 UTC, loaded registry-mirrors [https://a.example.com http://10.0.0.2:5000/]", 1600, 2},
		{"Go's list form", string(reloadOut(reloadEv(1600, `[http://10.0.0.2:5000]`), "3 1000000000000")), ReloadConfirmed, "", 1600, 1},
		{"other mirrors", string(reloadOut(reloadEv(1600, `[]`), "3 1000000000000")), ReloadOtherMirrors, "reload: lists other mirrors: [] (dockerd's last reload, at 1970-01-01 00:26:40 UTC, without " + mirror + ")", 1600, 0},
		{"no attribute", string(reloadOut(reloadEv(1600, ""), "3 1000000000000")), ReloadUnavailable, "reload: not available: the last reload, at 1970-01-01 00:26:40 UTC, does not list registry-mirrors", 1600, 0},
		{"restarted", string(reloadOut("", "7 1000500000000")), ReloadNone,
			"reload: none seen since dockerd started at 1970-01-01 00:16:40 UTC (a restart, not a reload, loaded its configuration: normal)", 0, 0},
		{"events pushed out", string(reloadOut("", "256 1900000000000")), ReloadUnavailable,
			"reload: not available: none among the 256 events dockerd still holds (it keeps only its last 256; the oldest is from 1970-01-01 00:31:40 UTC)", 0, 0},
		{"full since its start", string(reloadOut("", "256 1000500000000")), ReloadNone, "", 0, 0},
		{"docker events failed", "@@now\n2000\n@@started\n\n@@rc\n1\n@@events\nCannot connect to the Docker daemon at unix:///var/run/docker.sock\n@@held\n@@end\n", ReloadUnavailable,
			"reload: not available: docker events exited 1: Cannot connect to the Docker daemon at unix:///var/run/docker.sock", 0, 0},
		{"timed out", "@@now\n2000\n@@started\n\n@@rc\n124\n@@events\n@@held\n@@end\n", ReloadUnavailable, "reload: not available: docker events did not answer within 20 s", 0, 0},
		{"cut short", "@@now\n2000\n@@started\n1000\n@@rc\n0\n@@events\n", ReloadUnavailable, "reload: not available: the node's output was cut short", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := CheckReload(ParseReloads([]byte(tc.out)), mirror)
			if c.Status != tc.status || tc.detail != "" && c.Detail != tc.detail || len(c.Mirrors) != tc.mirrorsLen {
				t.Errorf("got %+v\nwant %s %q", c, tc.status, tc.detail)
			}
			if tc.at != 0 && c.Time != time.Unix(tc.at, 5e8).UTC() || tc.at == 0 && !c.Time.IsZero() {
				t.Errorf("time %v, want second %d", c.Time, tc.at)
			}
		})
	}
	// Not a reload: ignored.
	r := ParseReloads(reloadOut(`{"Type":"container","Action":"reload","time":5}`+"\nnot json\n", "2 1"))
	if len(r.Events) != 0 || r.Held != 2 || !r.Started.Equal(time.Unix(1000, 0)) {
		t.Errorf("%+v", r)
	}
}
