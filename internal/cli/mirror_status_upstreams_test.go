package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/regmetrics"
	"github.com/swarmctl/swarmctl/internal/status"
	"github.com/swarmctl/swarmctl/internal/tlscheck"
	"github.com/swarmctl/swarmctl/internal/upcheck"
)

func TestPrintUpstreamsAndCA(t *testing.T) {
	half := 0.5
	r := &status.Report{
		Upstreams: []status.Upstream{
			{Registry: "docker.io", Tasks: []status.UpstreamTask{{Node: "m1", Username: "mirror",
				Check: &upcheck.Result{Reachable: true, Status: 401, LatencyMS: 12, Credentials: upcheck.CredRejected,
					TLS:       &tlscheck.Result{OK: true, DaysLeft: 80},
					Allowance: &upcheck.Allowance{Limit: 100, Remaining: 7, WindowSeconds: 21600}},
				Disk: &status.CacheDisk{FreeBytes: 1 << 30, FreePercent: 4.5},
				Metrics: &status.Metrics{Stats: regmetrics.Stats{BlobKnown: true,
					Blob: regmetrics.Counters{Requests: 4, Hits: 2, Misses: 2, PulledBytes: 2 << 20}}, BlobHitRatio: &half}}}},
			{Registry: "ghcr.io", Tasks: []status.UpstreamTask{{Node: "m1", FromTask: &status.FromTask{Error: "wget: can't connect to remote host: Connection refused"}}}},
			{Registry: "quay.io", NotChecked: "no running task of registry_registry-mirror-quay-io"},
		},
		CA: &status.CA{File: "/etc/ca.pem", Nodes: []status.NodeCA{{Node: "m1", Path: "/etc/docker/certs.d/h:5443/ca.crt", State: status.CAOk},
			{Node: "w1", Path: "/etc/docker/certs.d/h:5443/ca.crt", State: status.CAMissing}},
			Certificates: []status.MirrorCert{{URL: "https://h:5443", Check: &tlscheck.Result{OK: false, Reason: "the certificate is for x, not h"}}}},
	}
	var b bytes.Buffer
	printUpstreams(&b, r)
	printCA(&b, r)
	out := b.String()
	for _, want := range []string{
		"docker.io  m1    HTTP 401 in 12 ms",
		"ok, 80 days", "mirror rejected", "7/100 per 6h", "1.0 GiB (4.5%)", "2/2 (50%)", "2.0 MiB",
		"ghcr.io    m1    down: wget: can't connect to remote host: Connection refused",
		"quay.io    -     not checked: no running task of registry_registry-mirror-quay-io",
		"Certificate https://h:5443: NOT valid with /etc/ca.pem: the certificate is for x, not h",
		"CA /etc/docker/certs.d/h:5443/ca.crt: missing on w1",
		"CA file /etc/ca.pem: identical on 1 of 2 node checks",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

func TestStatusEndpointsNeedNoSecret(t *testing.T) {
	// Password files and variables that do not exist here are not read:
	// status takes the credentials from the deployed config.
	m := inventory.Mirror{UpstreamUsername: "u", UpstreamPasswordEnv: "SWARMCTL_TEST_UNSET_PW", TLSKey: "/nonexistent/key.pem",
		Registries: []inventory.Registry{{Registry: "docker.io"}, {Registry: "ghcr.io", Username: "g", PasswordFile: "/nonexistent/pw"}}}
	eps, ca, err := statusEndpoints(m, nil, "reg")
	if err != nil || len(eps) != 2 || eps[1].Service != "reg_registry-mirror-ghcr-io" || eps[0].Password != "" || ca != nil {
		t.Fatalf("%v %+v", err, eps)
	}
}
