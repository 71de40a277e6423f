package stack

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
)

func upstreams(names ...string) Values {
	return Values{Mirror: inventory.Mirror{Traefik: TraefikNone, URL: "http://10.0.0.2:5000", Publish: 5000, PublishMode: PublishHost,
		Constraints: []string{"node.hostname==m1"}, Registries: regsOf(names...)}}
}

// Three upstreams, one taken out, put back: each step is one stack
// change; the one taken out goes (docker stack deploy --prune) but its
// data directory stays; its config file and swarm config go once the new
// stack runs; a second run changes nothing.
func TestInstallUpstreamsRemoveReAdd(t *testing.T) {
	ctx := context.Background()
	s, h := newManager()
	three := mustRender(t, upstreams("docker.io", "ghcr.io", "quay.io"))
	res, err := Install(ctx, h, three, fast)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.services) != 3 || s.services["registry_registry-mirror-ghcr-io"] == nil || len(res.Services) != 3 || !res.Converged ||
		res.Running != 3 || len(res.Wrote) != 4 {
		t.Fatalf("three upstreams: %+v services %v", res, s.services)
	}
	for i, sr := range res.Services {
		want := []string{"http://10.0.0.2:5000/v2/", "http://10.0.0.2:5001/v2/", "http://10.0.0.2:5002/v2/"}[i]
		if len(sr.Health) != 1 || !sr.Health[0].OK || sr.Health[0].URL != want {
			t.Errorf("%s health %+v, want OK at %s", sr.Registry, sr.Health, want)
		}
	}
	for _, d := range []string{DefaultDataDir, DefaultDataDir + "-ghcr-io", DefaultDataDir + "-quay-io"} {
		if !s.dirs[d] {
			t.Errorf("data dir %s not created", d)
		}
	}
	ghcrObject := "config " + three.Configs[1].SwarmName

	two := mustRender(t, upstreams("docker.io", "quay.io"))
	p, err := ComputePlan(ctx, h, two, fast)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Deploy || len(p.Removed) != 1 || p.Removed[0] != (RemovedService{Service: "registry_registry-mirror-ghcr-io", DataDir: DefaultDataDir + "-ghcr-io"}) ||
		!slices.Equal(p.OrphanFiles, []string{"/var/data/registry/ghcr-io.yml"}) || !strings.Contains(strings.Join(p.Reasons, "\n"), "its data directory "+DefaultDataDir+"-ghcr-io is kept") {
		t.Fatalf("plan to remove ghcr.io: %+v", p)
	}
	res, err = Install(ctx, h, two, fast)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.services) != 2 || s.services["registry_registry-mirror-ghcr-io"] != nil || !s.dirs[DefaultDataDir+"-ghcr-io"] {
		t.Errorf("after removing ghcr.io: services %v dirs %v", s.services, s.dirs)
	}
	if s.objects[ghcrObject] || !slices.Contains(res.Cleaned, "/var/data/registry/ghcr-io.yml") || !slices.Contains(res.Cleaned, ghcrObject) {
		t.Errorf("cleaned %v objects %v", res.Cleaned, s.objects)
	}
	// quay.io is now second in the list: publish+1 (a registries entry's
	// publish: pins a port when that matters).
	if u := res.Services[1].Health[0].URL; u != "http://10.0.0.2:5001/v2/" {
		t.Errorf("quay.io at %s", u)
	}

	// Back to three, then the same three again: nothing to do.
	if _, err := Install(ctx, h, three, fast); err != nil {
		t.Fatal(err)
	}
	deploys, writes := s.deploys, len(h.Writes)
	res, err = Install(ctx, h, three, fast)
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan.Changed() || res.Deployed || s.deploys != deploys || len(h.Writes) != writes || len(res.Cleaned) != 0 {
		t.Errorf("second run changed something: %+v", res.Plan)
	}
}

// A swarm object still in use is a warning, not a failed install.
func TestInstallCleanupInUseIsAWarning(t *testing.T) {
	ctx := context.Background()
	s, h := newManager()
	one := mustRender(t, upstreams("docker.io"))
	if _, err := Install(ctx, h, one, fast); err != nil {
		t.Fatal(err)
	}
	v := upstreams("docker.io")
	v.TTL = "1h"
	s.objectInUse = one.Configs[0].SwarmName
	res, err := Install(ctx, h, mustRender(t, v), fast)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "is in use") {
		t.Errorf("warnings %q", res.Warnings)
	}
}

// Replica nodes: the label goes on exactly the replica nodes, each node
// gets its data directories, every service is global, every replica is
// checked on its node.
func TestInstallReplicaNodes(t *testing.T) {
	ctx := context.Background()
	s, h := newManager()
	s.nodes = []SwarmNode{
		{ID: "id-m1", Hostname: "m1", State: "ready", Availability: "active", Labels: map[string]string{}},
		{ID: "id-m2", Hostname: "m2", State: "ready", Availability: "active", Labels: map[string]string{}},
		{ID: "id-m3", Hostname: "m3", State: "ready", Availability: "active", Labels: map[string]string{}},
		{ID: "id-w1", Hostname: "w1", State: "ready", Availability: "active", Labels: map[string]string{"swarmctl.mirror.registry": "true"}},
	}
	others := map[string]*fakehost.Host{}
	o := fast
	o.NodeHost = func(n string) nodes.Host {
		if n == "m1" {
			return h
		}
		if others[n] == nil {
			others[n] = fakehost.New(n, nil, s.handle) // the same fake filesystem stands in for each node's
		}
		return others[n]
	}
	v := Values{Mirror: inventory.Mirror{Traefik: TraefikNone, URL: "http://10.0.0.2:5000", Publish: 5000, ReplicaNodes: []string{"m1", "m2", "m3"},
		Registries: regsOf("docker.io", "quay.io")}}
	r := mustRender(t, v)
	res, err := Install(ctx, h, r, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Labelled, []string{"m1", "m2", "m3"}) || !slices.Equal(res.Unlabelled, []string{"w1"}) {
		t.Errorf("labels %v / %v", res.Labelled, res.Unlabelled)
	}
	for _, n := range s.nodes {
		if (n.Labels["swarmctl.mirror.registry"] == "true") != (n.Hostname != "w1") {
			t.Errorf("node %s labels %v", n.Hostname, n.Labels)
		}
	}
	for _, d := range []string{"/var/data/registry/registry-mirror-data/m2", "/var/data/registry/registry-mirror-data-quay-io/m3"} {
		if !s.dirs[d] {
			t.Errorf("data dir %s not created (%v)", d, s.dirs)
		}
	}
	if c := others["m2"].Commands; len(c) == 0 || strings.Join(c[len(c)-1].Args, " ") != "mkdir -p /var/data/registry/registry-mirror-data-quay-io/m2" {
		t.Errorf("m2 commands %v", c)
	}
	for _, sr := range res.Services {
		if sr.Running != 3 || sr.Desired != 3 || len(sr.Health) != 3 || sr.Health[2].Node != "m3" || !strings.HasPrefix(sr.Health[2].URL, "http://10.0.0.4:") {
			t.Errorf("%s: %+v", sr.Registry, sr)
		}
		if svc := s.services[sr.Service]; svc.mode != "global" {
			t.Errorf("%s mode %s", sr.Service, svc.mode)
		}
	}
	// Again: nothing.
	res, err = Install(ctx, h, r, o)
	if err != nil || res.Plan.Changed() {
		t.Errorf("second run: %+v %v", res.Plan, err)
	}

	// Back to one replica: the services' mode changes, so they are
	// removed and created again.
	one := mustRender(t, Values{Mirror: inventory.Mirror{Traefik: TraefikNone, URL: "http://10.0.0.2:5000", Publish: 5000, Registries: regsOf("docker.io", "quay.io")}})
	res, err = Install(ctx, h, one, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Plan.Recreate, []string{"registry_registry-mirror", "registry_registry-mirror-quay-io"}) || len(s.removed) != 2 ||
		s.services["registry_registry-mirror"].mode != "replicated" {
		t.Errorf("recreate %v removed %v", res.Plan.Recreate, s.removed)
	}
}

// A replica node that is not in the swarm, not ready, drained or not
// reachable is a PlacementError before anything changes.
func TestInstallReplicaNodesRefused(t *testing.T) {
	ctx := context.Background()
	m1 := SwarmNode{ID: "1", Hostname: "m1", State: "ready", Availability: "active", Role: "manager"}
	for _, tc := range []struct {
		name        string
		nodes       []SwarmNode
		reach       bool
		constraints []string
		want        string
	}{
		{"unknown state", []SwarmNode{m1, {ID: "2", Hostname: "m2", State: "unknown", Availability: "active"}}, true, nil, "replica node m2 is unknown, not ready"},
		{"role constraint", []SwarmNode{m1, {ID: "2", Hostname: "m2", State: "ready", Availability: "active", Role: "worker"}}, true,
			[]string{"node.role==manager"}, "replica node m2 does not satisfy constraint node.role==manager (it has role worker, no labels)"},
		{"label constraint", []SwarmNode{m1, {ID: "2", Hostname: "m2", State: "ready", Availability: "active", Role: "manager", Labels: map[string]string{"disk": "hdd"}}}, true,
			[]string{"node.labels.disk == ssd"}, "replica node m2 does not satisfy constraint node.labels.disk == ssd (it has role manager, labels disk=hdd)"},
		{"missing", []SwarmNode{{ID: "1", Hostname: "m1", State: "ready", Availability: "active"}}, true, nil, "replica node m2 is not in the swarm (its nodes: m1)"},
		{"down", []SwarmNode{{ID: "1", Hostname: "m1", State: "ready", Availability: "active"}, {ID: "2", Hostname: "m2", State: "down", Availability: "active"}}, true, nil, "replica node m2 is down, not ready"},
		{"drained", []SwarmNode{{ID: "1", Hostname: "m1", State: "ready", Availability: "active"}, {ID: "2", Hostname: "m2", State: "ready", Availability: "drain"}}, true, nil, "replica node m2 is drain"},
		{"not connected", []SwarmNode{{ID: "1", Hostname: "m1", State: "ready", Availability: "active"}, {ID: "2", Hostname: "m2", State: "ready", Availability: "active"}}, false, nil, "replica node m2 is not connected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, h := newManager()
			s.nodes = tc.nodes
			o := fast
			o.NodeHost = func(n string) nodes.Host {
				if n == "m1" || tc.reach {
					return h
				}
				return nil
			}
			v := Values{Mirror: inventory.Mirror{Traefik: TraefikNone, URL: "http://10.0.0.2:5000", Publish: 5000, ReplicaNodes: []string{"m1", "m2"}, Constraints: tc.constraints}}
			_, err := Install(ctx, h, mustRender(t, v), o)
			var pe *PlacementError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want PlacementError %q", err, tc.want)
			}
			if m := s.mutating(h); len(m) != 0 || len(h.Writes) != 0 {
				t.Errorf("changed the swarm before refusing: %v %v", m, h.Writes)
			}
		})
	}
}

// TLS: the certificate and key go to the manager (the key 0600) and into
// the swarm as secrets; the key never shows in a diff, a log line, a
// command line or JSON; a new certificate rolls the services and the old
// secrets go once the new ones run.
func TestInstallTLS(t *testing.T) {
	ctx := context.Background()
	s, h := newManager()
	v := tlsValues(t)
	r := mustRender(t, v)
	var logs []string
	o := fast
	o.Log = func(l string) { logs = append(logs, l) }
	res, err := Install(ctx, h, r, o)
	if err != nil {
		t.Fatal(err)
	}
	key, cert := r.TLS[1], r.TLS[0]
	if h.Mode(key.Path) != 0o600 || !s.objects["secret "+key.SwarmName] || !s.objects["secret "+cert.SwarmName] {
		t.Errorf("key mode %o objects %v", h.Mode(key.Path), s.objects)
	}
	if u := res.Services[0].Health[0].URL; u != "https://127.0.0.1:5000/v2/" {
		t.Errorf("health at %s, want https", u)
	}
	keyBody := strings.Split(string(v.TLSKeyPEM), "\n")[1]
	j, _ := json.Marshal(res)
	for _, f := range res.Plan.Files {
		if f.Path == key.Path && (f.Diff != "" || !f.Hidden || !f.SecretChanged) {
			t.Errorf("key file change %+v", f)
		}
	}
	check := func(where, text string) {
		if strings.Contains(text, keyBody) {
			t.Errorf("the key is in %s", where)
		}
	}
	check("the JSON", string(j))
	check("the log", strings.Join(logs, "\n"))
	for _, c := range h.Commands {
		check("a command line", nodes.CommandLine(c, false))
		check("a command's stdin", string(c.Stdin))
	}

	// A new certificate: new secrets, a redeploy, the old ones removed.
	v.TLSCertPEM = append(append([]byte(nil), v.TLSCertPEM...), '\n')
	r2 := mustRender(t, v)
	res, err = Install(ctx, h, r2, fast)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Deployed || s.objects["secret "+cert.SwarmName] || !s.objects["secret "+r2.TLS[0].SwarmName] || !s.objects["secret "+key.SwarmName] {
		t.Errorf("cert roll: deployed %v objects %v cleaned %v", res.Deployed, s.objects, res.Cleaned)
	}
}

// Uninstall --purge removes every upstream's files and data, those of the
// inventory and those only the deployed stack file still names, each
// replica node's data on its node, and the replica label.
func TestUninstallPurgesEveryUpstream(t *testing.T) {
	ctx := context.Background()
	s, h := newManager()
	three := mustRender(t, upstreams("docker.io", "ghcr.io", "quay.io"))
	if _, err := Install(ctx, h, three, fast); err != nil {
		t.Fatal(err)
	}
	// The inventory now lists only docker.io: ghcr.io and quay.io are
	// found in the deployed stack file.
	v := upstreams("docker.io")
	v.Defaults()
	res, err := Uninstall(ctx, h, v, UninstallOptions{Purge: true, Wait: fast.Wait, Poll: fast.Poll})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{v.StackFile, "/var/data/registry/registry-mirror-config.yml", "/var/data/registry/ghcr-io.yml", "/var/data/registry/quay-io.yml",
		DefaultDataDir, DefaultDataDir + "-ghcr-io", DefaultDataDir + "-quay-io"} {
		if !slices.Contains(res.Purged, want) {
			t.Errorf("purged %v lacks %s", res.Purged, want)
		}
	}
	if len(res.Services) != 3 || len(s.services) != 0 {
		t.Errorf("services %v left %v", res.Services, s.services)
	}

	// Per-node replicas: each node's data on that node.
	s, h = newManager()
	s.nodes = append(s.nodes, SwarmNode{ID: "id-m2", Hostname: "m2", State: "ready", Availability: "active", Labels: map[string]string{}})
	m2 := fakehost.New("m2", nil, s.handle)
	nh := func(n string) nodes.Host {
		if n == "m2" {
			return m2
		}
		return h
	}
	pv := Values{Mirror: inventory.Mirror{Traefik: TraefikNone, URL: "http://10.0.0.2:5000", Publish: 5000, ReplicaNodes: []string{"m1", "m2"}}}
	o := fast
	o.NodeHost = nh
	if _, err := Install(ctx, h, mustRender(t, pv), o); err != nil {
		t.Fatal(err)
	}
	pv.Defaults()
	res, err = Uninstall(ctx, h, pv, UninstallOptions{Purge: true, Wait: fast.Wait, Poll: fast.Poll, NodeHost: nh})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Purged, "m2:"+DefaultDataDir+"/m2") || !slices.Equal(res.Unlabelled, []string{"m1", "m2"}) {
		t.Errorf("purged %v unlabelled %v", res.Purged, res.Unlabelled)
	}
	purgedOnM2 := false
	for _, c := range m2.Commands {
		purgedOnM2 = purgedOnM2 || (c.Script.Name() == "purge-data.sh" && c.ScriptArgs[0] == DefaultDataDir+"/m2")
	}
	if !purgedOnM2 {
		t.Error("m2's data was not purged on m2")
	}
}

// Only files in the directory swarmctl writes registry configs to are
// ever deleted as a dropped upstream's or purged from the deployed stack
// file: a stack file naming another path deletes nothing there.
func TestDroppedFilesOnlyInTheConfigDir(t *testing.T) {
	r := mustRender(t, upstreams("docker.io"))
	old := []byte(`services:
  registry-mirror-x:
    volumes: [{type: bind, source: /srv/x, target: /var/lib/registry}]
configs:
  a: {name: a, file: /var/data/registry/x.yml}
  b: {name: b, file: /etc/shadow}
  c: {name: c, file: /var/data/registry/../../etc/passwd}
secrets:
  d: {name: d, file: /var/data/registry/registry-mirror-tls-key.pem}
`)
	removed, orphans := dropped(old, r)
	if !slices.Equal(orphans, []string{"/var/data/registry/registry-mirror-tls-key.pem", "/var/data/registry/x.yml"}) {
		t.Errorf("orphans %q", orphans)
	}
	if len(removed) != 1 || removed[0].DataDir != "/srv/x" {
		t.Errorf("removed %+v", removed)
	}
}
