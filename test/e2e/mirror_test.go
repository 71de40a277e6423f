package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/swarmctl/swarmctl/test/lab"
	"github.com/swarmctl/swarmctl/test/lab/front"
)

// mirrorInventory is the lab's inventory with the registry pinned to the
// first manager: with host publishing the port is bound only on the node
// running the task, and the lab's mirror URL names the first manager.
// ci drops the key and known_hosts paths, so only the environment can
// provide them (the CI style).
func mirrorInventory(t *testing.T, l *lab.Lab, ci bool) string {
	t.Helper()
	b, err := os.ReadFile(l.InventoryPath())
	if err != nil {
		t.Fatal(err)
	}
	var inv map[string]any
	if err := yaml.Unmarshal(b, &inv); err != nil {
		t.Fatal(err)
	}
	m := inv["mirror"].(map[string]any)
	m["constraints"] = []string{"node.hostname==" + l.Manager().Name}
	if ci {
		d := inv["defaults"].(map[string]any)
		delete(d, "key")
		delete(d, "known_hosts")
	}
	out, err := yaml.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "swarmctl.yaml")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mirrorEnv(t *testing.T, l *lab.Lab) []string {
	return []string{"SWARMCTL_INVENTORY=" + mirrorInventory(t, l, false)}
}

// ciEnv is how a CI job runs swarmctl: secrets in variables, no files.
func ciEnv(t *testing.T, l *lab.Lab) []string {
	t.Helper()
	key, err := os.ReadFile(l.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	kh, err := os.ReadFile(l.KnownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	return []string{"SWARMCTL_INVENTORY=" + mirrorInventory(t, l, true), "SWARMCTL_SSH_KEY=" + string(key),
		"SWARMCTL_KNOWN_HOSTS=" + string(kh), "SWARMCTL_OUTPUT=json"}
}

// mirrorURL is the URL the lab's nodes use (mirror.url).
func mirrorURL(t *testing.T, l *lab.Lab) string {
	t.Helper()
	b, err := os.ReadFile(l.InventoryPath())
	if err != nil {
		t.Fatal(err)
	}
	var inv struct {
		Mirror struct {
			URL string `yaml:"url"`
		} `yaml:"mirror"`
	}
	if err := yaml.Unmarshal(b, &inv); err != nil || inv.Mirror.URL == "" {
		t.Fatalf("lab inventory has no mirror.url: %v", err)
	}
	return strings.TrimRight(inv.Mirror.URL, "/")
}

const mirrorService = "registry_registry-mirror"

// installDoc is the part of `mirror install -o json` the tests read.
type installDoc struct {
	Command string    `json:"command"`
	Manager string    `json:"manager"`
	Changed bool      `json:"changed"`
	Error   *errorDoc `json:"error"`
	Result  struct {
		Deployed  bool     `json:"deployed"`
		Restarted bool     `json:"restarted"`
		Converged bool     `json:"converged"`
		Running   int      `json:"running"`
		Wrote     []string `json:"wrote"`
		Tasks     []struct {
			Node string `json:"node"`
		} `json:"tasks"`
		Health *struct {
			Status int  `json:"http_status"`
			OK     bool `json:"ok"`
		} `json:"health"`
	} `json:"result"`
	Endpoint *struct {
		Reachable bool `json:"reachable"`
		Status    int  `json:"http_status"`
	} `json:"endpoint"`
	Warnings []string `json:"warnings"`
}

func installJSON(t *testing.T, env []string, args ...string) (result, installDoc) {
	t.Helper()
	r := swarmctl(t, env, append([]string{"mirror", "install", "-o", "json"}, args...)...)
	var doc installDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("mirror install -o json: %v\n%s", err, r.Stdout)
	}
	return r, doc
}

// serviceVersion is the service's spec version and update time: both move
// on any redeploy or update.
func serviceVersion(t *testing.T, l *lab.Lab) string {
	t.Helper()
	return strings.TrimSpace(inMachine(t, l, l.Manager().Name, "docker", "service", "inspect", "--format", "{{.Version.Index}} {{.UpdatedAt}}", mirrorService))
}

// waitMirror waits until GET /v2/ through url answers 200.
func waitMirror(t *testing.T, url string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	for time.Since(start) < 2*time.Minute {
		resp, err := c.Get(url + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Logf("mirror answers (waited %s)", time.Since(start).Round(100*time.Millisecond))
				return
			}
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("mirror %s did not answer within 2 minutes", url)
}

func catalog(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url + "/v2/_catalog")
	if err != nil {
		t.Fatalf("GET %s/v2/_catalog: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// stackGone checks the manager lists no service or network of the stack.
func stackGone(t *testing.T, l *lab.Lab) {
	t.Helper()
	for _, kind := range []string{"service", "network"} {
		out := inMachine(t, l, l.Manager().Name, "docker", kind, "ls", "-q", "--filter", "label=com.docker.stack.namespace=registry")
		if strings.TrimSpace(out) != "" {
			t.Errorf("stack registry still has %ss: %s", kind, out)
		}
	}
}

// TestMirrorInstallPullUninstall: install converges, nodes pull through the
// mirror (proven by the Docker Hub stand-in's access log: only the
// mirror's node fetched the image), a second install changes nothing,
// uninstall removes the stack.
func TestMirrorInstallPullUninstall(t *testing.T) {
	l := needLab(t)
	env := mirrorEnv(t, l)
	url := mirrorURL(t, l)
	mgr := l.Manager().Name

	// Precondition: no stack, empty cache.
	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge (precondition): exit %d", r.Code)
	}
	stackGone(t, l)
	freshOverlay(t, l)

	// Dry run: the diff, nothing deployed.
	r := swarmctl(t, env, "mirror", "install", "--dry-run")
	if r.Code != 0 || !strings.Contains(r.Stdout, "would run docker stack deploy --prune registry") || !strings.Contains(r.Stdout, "remoteurl: "+l.UpstreamAddr()) {
		t.Fatalf("dry run: exit %d", r.Code)
	}
	stackGone(t, l)

	start := time.Now()
	r, doc := installJSON(t, env)
	installTime := time.Since(start)
	if r.Code != 0 || doc.Error != nil || !doc.Changed || !doc.Result.Deployed || !doc.Result.Converged || doc.Result.Running != 1 {
		t.Fatalf("install: exit %d, %+v", r.Code, doc)
	}
	if doc.Result.Health == nil || !doc.Result.Health.OK || doc.Endpoint == nil || !doc.Endpoint.Reachable || doc.Endpoint.Status != 200 {
		t.Errorf("health from the manager and from here: %+v %+v", doc.Result.Health, doc.Endpoint)
	}
	if len(doc.Result.Tasks) != 1 || doc.Result.Tasks[0].Node != mgr {
		t.Errorf("the task must run on %s: %+v", mgr, doc.Result.Tasks)
	}
	t.Logf("install (deploy + converge + health): %s", installTime.Round(100*time.Millisecond))
	cfg := inMachine(t, l, mgr, "cat", "/var/data/registry/registry-mirror-config.yml")
	if !strings.Contains(cfg, "remoteurl: "+l.UpstreamAddr()) {
		t.Errorf("registry config on %s:\n%s", mgr, cfg)
	}

	// Nodes point at the mirror (a no-op when an earlier test did it).
	if r := swarmctl(t, env, "nodes", "configure", "--yes"); r.Code != 0 {
		t.Fatalf("nodes configure: exit %d", r.Code)
	}

	// Restarting the registry's node stopped its task: wait until the
	// swarm has it back.
	waitMirror(t, url)

	// A worker pulls from "Docker Hub". The lab's HTTPS stand-in for it is
	// reachable from every node, so the pull would work without the mirror
	// too: the stand-in's access log proves the way it took.
	worker := ""
	for _, m := range l.Machines() {
		if m.Role == "worker" {
			worker = m.Name
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l.Exec(ctx, worker, "docker", "rmi", "-f", "busybox:latest") // precondition; absent is fine
	mark := hubMark(t, l)
	start = time.Now()
	if out, err := l.Exec(ctx, worker, "docker", "pull", "busybox"); err != nil {
		t.Fatalf("docker pull busybox on %s: %v\n%s", worker, err, out)
	}
	t.Logf("docker pull busybox through the mirror on %s: %s", worker, time.Since(start).Round(100*time.Millisecond))
	onlyMirrorFetched(t, l, l.Hub(), mark, l.Manager(), "library/busybox")
	if c := catalog(t, url); !strings.Contains(c, "library/busybox") {
		t.Errorf("catalog after the pull: %s", c)
	}

	// Second install: nothing redeployed, nothing written.
	before := serviceVersion(t, l)
	r, doc = installJSON(t, env)
	if r.Code != 0 || doc.Changed || doc.Result.Deployed || doc.Result.Restarted || len(doc.Result.Wrote) != 0 {
		t.Errorf("second install must be a no-op: exit %d, %+v", r.Code, doc)
	}
	if after := serviceVersion(t, l); after != before {
		t.Errorf("service was updated by a no-op install: %s -> %s", before, after)
	}
	r = swarmctl(t, env, "mirror", "install")
	if r.Code != 0 || !strings.Contains(r.Stdout, "no changes") {
		t.Errorf("third install (text): exit %d, want \"no changes\"", r.Code)
	}

	// Uninstall removes the stack; a second uninstall has nothing to do.
	if r := swarmctl(t, env, "mirror", "uninstall"); r.Code != 0 || !strings.Contains(r.Stdout, "removed stack registry") {
		t.Fatalf("uninstall: exit %d", r.Code)
	}
	stackGone(t, l)
	// Uninstall returned only once the task containers were gone, on every
	// machine (it waits on each node that ran one).
	for _, m := range l.Machines() {
		if out := strings.TrimSpace(inMachine(t, l, m.Name, "docker", "ps", "-q", "--filter", "label=com.docker.swarm.service.name=registry_registry-mirror")); out != "" {
			t.Errorf("%s: the registry's container still runs after uninstall returned: %s", m.Name, out)
		}
	}
	if r := swarmctl(t, env, "mirror", "uninstall"); r.Code != 0 || !strings.Contains(r.Stdout, "no changes") {
		t.Errorf("second uninstall: exit %d", r.Code)
	}
	freshOverlay(t, l) // the next test installs the stack again
}

// hubMark is the Docker Hub stand-in's access log position now.
func hubMark(t *testing.T, l *lab.Lab) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := l.Hub().Mark(ctx)
	if err != nil {
		t.Fatalf("stand-in access log: %v", err)
	}
	return m
}

// upstreamLog returns the stand-in's access log entries after mark, and
// how many came from each client address.
func upstreamLog(t *testing.T, s lab.StandIn, mark int64) ([]front.Entry, map[string]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	es, err := s.Log(ctx, mark)
	if err != nil {
		t.Fatalf("stand-in access log: %v", err)
	}
	clients := map[string]int{}
	for _, e := range es {
		clients[e.Client]++
		t.Logf("%s access log: %s %s %s %d %d bytes (%s)", s.Name, e.Client, e.Method, e.Path, e.Status, e.Bytes, e.UserAgent)
	}
	return es, clients
}

// onlyMirrorFetched checks that since mark the stand-in served repo's
// manifest to the node running the mirror and to no one else: the pull
// went through the mirror, not around it.
func onlyMirrorFetched(t *testing.T, l *lab.Lab, s lab.StandIn, mark int64, mirrorNode lab.Machine, repo string) {
	t.Helper()
	es, clients := upstreamLog(t, s, mark)
	manifest := false
	for _, e := range es {
		if e.Client == mirrorNode.IP && strings.Contains(e.Path, "/v2/"+repo+"/manifests/") && e.Status == 200 {
			manifest = true
		}
	}
	if !manifest {
		t.Errorf("%s's access log shows no manifest request for %s from the mirror's node %s (%s): %v", s.Name, repo, mirrorNode.Name, mirrorNode.IP, clients)
	}
	for ip, n := range clients {
		if ip != mirrorNode.IP {
			t.Errorf("%s's access log shows %d requests from %s: a node pulled around the mirror", s.Name, n, ip)
		}
	}
}

// freshOverlay restarts the engine of the node that ran the registry task.
// dockerd can keep a removed overlay network's vxlan interface in that
// node's sandbox for a while, and a stack network recreated at once then
// fails every task with "error creating vxlan interface: file exists"
// (seen on a loaded machine). A restarted engine starts with clean
// sandboxes, so the next install in this suite starts from a clean node.
func freshOverlay(t *testing.T, l *lab.Lab) {
	t.Helper()
	// Tests restart this dockerd back to back (a test's cleanup, the next
	// test's start): reset-failed clears the unit's start rate limit
	// (StartLimitBurst=3 in 60 s), as swarmctl's own restart step does.
	const restart = `systemctl reset-failed "$1" 2>/dev/null; systemctl restart "$1" 2>&1 && exit 0
systemctl status --no-pager "$1" 2>&1 | head -n 20; journalctl -u "$1" -n 30 --no-pager 2>&1; exit 1`
	inMachine(t, l, l.Manager().Name, "sh", "-c", restart, "sh", service(l)+".service")
	swarmHealthy(t, l)
}
