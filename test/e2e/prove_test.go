package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/test/lab"
)

// Issue 14 on the main lab, one install for every drill: `mirror prove`
// with a healthy mirror (every node via mirror, and the Docker Hub
// stand-in's log shows only the mirror's node), with the upstream down (a
// cached image still goes through the mirror, one not cached fails with
// the reason), `mirror warm` (each blob fetched from the upstream once; a
// second warm finds everything cached), and the mirror scaled to 0 (pulls
// still work, every node bypassed: mirror unreachable, exit 1).

type proveDoc struct {
	Error  *errorDoc `json:"error"`
	Probes []struct {
		Pinned      string `json:"pinned"`
		Digest      string `json:"digest"`
		ResolvedVia string `json:"resolved_via"`
	} `json:"probes"`
	Nodes []struct {
		Name       string `json:"name"`
		Verdict    string `json:"verdict"`
		ReasonCode string `json:"reason_code"`
		Reason     string `json:"reason"`
		Evidence   string `json:"evidence"`
		Cleanup    string `json:"cleanup"`
		Mirror     string `json:"mirror"`
		Reload     *struct {
			Status        string   `json:"status"`
			Time          string   `json:"time"`
			Mirrors       []string `json:"mirrors"`
			DaemonStarted string   `json:"daemon_started"`
			Detail        string   `json:"detail"`
		} `json:"reload"`
	} `json:"nodes"`
	Summary map[string]int `json:"summary"`
}

func proveJSON(t *testing.T, env []string, args ...string) (result, proveDoc) {
	t.Helper()
	start := time.Now()
	r := swarmctl(t, env, append([]string{"mirror", "prove", "-o", "json"}, args...)...)
	var doc proveDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("mirror prove -o json: %v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	t.Logf("mirror prove %v: exit %d in %s, %v", args, r.Code, time.Since(start).Round(100*time.Millisecond), doc.Summary)
	for _, n := range doc.Nodes {
		t.Logf("  %s: %s %s %s %s", n.Name, n.Verdict, n.ReasonCode, n.Reason, n.Evidence)
	}
	return r, doc
}

type warmDoc struct {
	Error  *errorDoc `json:"error"`
	Images []struct {
		Image         string   `json:"image"`
		Digest        string   `json:"digest"`
		Platforms     []string `json:"platforms"`
		Blobs         int      `json:"blobs"`
		BlobsCached   int      `json:"blobs_cached"`
		FetchedBytes  int64    `json:"fetched_bytes"`
		UpstreamBytes *int64   `json:"upstream_bytes"`
		AlreadyCached bool     `json:"already_cached"`
		Notes         []string `json:"notes"`
		Done          bool     `json:"done"`
		Error         string   `json:"error"`
	} `json:"images"`
	Problems []struct {
		Code string `json:"code"`
	} `json:"problems"`
}

func warmJSON(t *testing.T, env []string, args ...string) (result, warmDoc) {
	t.Helper()
	start := time.Now()
	r := swarmctl(t, env, append([]string{"mirror", "warm", "-o", "json"}, args...)...)
	var doc warmDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("mirror warm -o json: %v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	t.Logf("mirror warm %v: exit %d in %s", args, r.Code, time.Since(start).Round(100*time.Millisecond))
	return r, doc
}

// everyNode checks each node of the proof has verdict (and reason code).
func everyNode(t *testing.T, l *lab.Lab, doc proveDoc, verdict, reason string) {
	t.Helper()
	if len(doc.Nodes) != len(inventoryMachines(l)) {
		t.Errorf("proof has %d nodes, the lab %d", len(doc.Nodes), len(inventoryMachines(l)))
	}
	for _, n := range doc.Nodes {
		if n.Verdict != verdict || n.ReasonCode != reason {
			t.Errorf("%s: %s (%s: %s), want %s %s", n.Name, n.Verdict, n.ReasonCode, n.Reason, verdict, reason)
		}
	}
}

// hasImage reports whether a machine's dockerd has ref.
func hasImage(l *lab.Lab, machine, ref string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := l.Exec(ctx, machine, "docker", "image", "inspect", ref)
	return err == nil
}

// blobGets counts the upstream's GETs of each blob of repo since mark
// and their bytes, failing on any from another address than the mirror's
// node.
func blobGets(t *testing.T, l *lab.Lab, mark int64, repo string, mirrorNode lab.Machine) (map[string]int, int64) {
	t.Helper()
	es, _ := upstreamLog(t, l.Hub(), mark)
	gets := map[string]int{}
	var bytes int64
	for _, e := range es {
		if !strings.HasPrefix(e.Path, "/v2/"+repo+"/blobs/") || e.Method != "GET" {
			continue
		}
		if e.Client != mirrorNode.IP {
			t.Errorf("%s fetched %s from the upstream: only the mirror's node %s may", e.Client, e.Path, mirrorNode.IP)
		}
		gets[e.Path]++
		bytes += e.Bytes
	}
	return gets, bytes
}

func TestMirrorProveWarm(t *testing.T) {
	l := needLab(t)
	ctx := context.Background()
	mgr := l.Manager()
	// registry:3 serves a blob it does not hold from the same stream it
	// stores (registry:2 fetches it twice), and logs every request.
	if err := l.LoadImage(ctx, lab.Registry3Image, mgr); err != nil {
		t.Fatal(err)
	}
	inv := stackInventory(t, l, func(m map[string]any) { m["image"] = lab.Registry3Image })
	env := []string{"SWARMCTL_INVENTORY=" + inv}
	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge (precondition): exit %d", r.Code)
	}
	freshOverlay(t, l)
	t.Cleanup(func() {
		_ = l.Hub().SetDown(context.Background(), false)
		swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes")
		freshOverlay(t, l)
	})
	if r, doc := installJSON(t, env); r.Code != 0 || !doc.Result.Converged {
		t.Fatalf("install: exit %d %+v", r.Code, doc)
	}
	configured := configureWith(t, env)
	// On the main lab (Docker 20.10, an http mirror: insecure-registries
	// set) nodes configure restarts rather than reloads: 20.10 loses
	// insecure-registries on a reload while registry-mirrors is set. So
	// the worker's dockerd is reloaded by hand, as an operator would
	// (systemctl reload: SIGHUP), and restarted at the end to put back
	// what that reload dropped. Its reload event must list the mirror.
	worker := worker(l).Name
	inMachine(t, l, worker, "systemctl", "reload", service(l)+".service")
	configured[worker] = "reloaded"
	t.Cleanup(func() {
		inMachine(t, l, worker, "sh", "-c", `systemctl reset-failed "$1" 2>/dev/null; systemctl restart "$1"`, "sh", service(l)+".service")
		swarmHealthy(t, l)
	})
	waitMirror(t, mirrorURL(t, l))

	// Healthy: every node via the mirror, exit 0; the upstream served
	// busybox to the mirror's node only; nodes left as they were.
	// A node holding the probe by digest asks no registry (Docker 20.10):
	// nothing could be proven there (probe-present). Earlier tests of the
	// suite pull busybox, so the nodes drop it first.
	for _, m := range inventoryMachines(l) {
		_, _ = l.Exec(ctx, m.Name, "sh", "-c", `docker image ls --format '{{.ID}} {{.Repository}}' | awk '$2 ~ /(^|\/)busybox$/ {print $1}' | sort -u | xargs -r docker rmi -f`)
	}
	hadBusybox := map[string]bool{}
	for _, m := range l.Machines() {
		hadBusybox[m.Name] = hasImage(l, m.Name, "busybox:latest")
	}
	mark := hubMark(t, l)
	r, doc := proveJSON(t, env)
	if r.Code != 0 || doc.Error != nil || len(doc.Probes) != 1 || doc.Probes[0].ResolvedVia != "mirror" {
		t.Fatalf("prove on a healthy mirror: exit %d %+v\n%s", r.Code, doc, r.Stderr)
	}
	everyNode(t, l, doc, "via-mirror", "")
	reloadEvidence(t, doc, configured)
	onlyMirrorFetched(t, l, l.Hub(), mark, mgr, "library/busybox")
	pinned := doc.Probes[0].Pinned
	for _, m := range l.Machines() {
		if hasImage(l, m.Name, pinned) && !hadBusybox[m.Name] {
			t.Errorf("%s: the probe %s was left behind", m.Name, pinned)
		}
		if hadBusybox[m.Name] && !hasImage(l, m.Name, "busybox:latest") {
			t.Errorf("%s: busybox:latest it had before is gone", m.Name)
		}
	}
	// The text form says the same.
	if r := swarmctl(t, env, "mirror", "prove", "--limit", worker); r.Code != 0 || !regexp.MustCompile(worker+` +docker.io +via mirror`).MatchString(r.Stdout) ||
		!regexp.MustCompile(`\n`+worker+` +reload: confirmed: dockerd's last reload, at `).MatchString(r.Stdout) {
		t.Errorf("prove (text): exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// Upstream down: busybox, cached, still comes through the mirror;
	// lab/bench, never fetched, fails with the reason.
	benchDigest := strings.TrimSpace(inMachine(t, l, mgr.Name, "sh", "-c",
		`curl -fsSI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -H 'Accept: application/vnd.oci.image.manifest.v1+json' https://registry-1.docker.io/v2/lab/bench/manifests/1 | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p'`))
	if !strings.HasPrefix(benchDigest, "sha256:") {
		t.Fatalf("lab/bench:1's digest from the stand-in: %q", benchDigest)
	}
	// No node may hold lab/bench: dockerd asks no registry for an image it
	// holds by digest.
	for _, m := range l.Machines() {
		for _, ref := range []string{"lab/bench:1", "registry-1.docker.io/lab/bench:1", "lab/bench@" + benchDigest} {
			_, _ = l.Exec(ctx, m.Name, "docker", "rmi", "-f", ref)
		}
	}
	if err := l.Hub().SetDown(ctx, true); err != nil {
		t.Fatal(err)
	}
	r, doc = proveJSON(t, env)
	if r.Code != 0 {
		t.Errorf("prove with the upstream down, probe cached: exit %d, want 0\n%s", r.Code, r.Stderr)
	}
	everyNode(t, l, doc, "via-mirror", "")
	r, doc = proveJSON(t, env, "--image", "lab/bench@"+benchDigest, "--node-timeout", "60s")
	if r.Code != 1 || doc.Error == nil {
		t.Errorf("prove with the upstream down, probe not cached: exit %d, want 1", r.Code)
	}
	everyNode(t, l, doc, "failed", "pull-failed")
	for _, n := range doc.Nodes {
		if !strings.Contains(n.Reason, "the mirror answered") || !strings.Contains(n.Reason, "upstream") {
			t.Errorf("%s: reason %q does not say the mirror could not fetch it", n.Name, n.Reason)
		}
	}
	if r, wd := warmJSON(t, env, "lab/bench:1"); r.Code != 1 || len(wd.Images) != 1 || wd.Images[0].Done {
		t.Errorf("warm with the upstream down: exit %d %+v", r.Code, wd)
	}
	if err := l.Hub().SetDown(ctx, false); err != nil {
		t.Fatal(err)
	}

	// Warm: each blob fetched from the upstream once, by the mirror;
	// a second warm finds everything cached and fetches nothing.
	mark = hubMark(t, l)
	r, wd := warmJSON(t, env, "lab/bench:1")
	if r.Code != 0 || wd.Error != nil || len(wd.Images) != 1 {
		t.Fatalf("warm lab/bench:1: exit %d %+v\n%s", r.Code, wd, r.Stderr)
	}
	im := wd.Images[0]
	if !im.Done || im.AlreadyCached || im.Digest != benchDigest || im.Blobs != lab.BenchLayers+1 || im.FetchedBytes < lab.BenchLayers*lab.BenchLayerSize ||
		len(im.Platforms) != 1 || im.Platforms[0] != "linux/amd64" {
		t.Errorf("first warm: %+v", im)
	}
	gets, blobBytes := blobGets(t, l, mark, "lab/bench", mgr)
	// registry:3's own counters (read in its container on the mirror's
	// node) agree with the upstream's log.
	if im.UpstreamBytes == nil || *im.UpstreamBytes < blobBytes || *im.UpstreamBytes > blobBytes+64<<10 {
		t.Errorf("upstream_bytes %v (notes %v), the upstream's log shows %d bytes of blobs", im.UpstreamBytes, im.Notes, blobBytes)
	}
	if len(gets) != lab.BenchLayers+1 {
		t.Errorf("the upstream served %d distinct blobs, want %d: %v", len(gets), lab.BenchLayers+1, gets)
	}
	for p, n := range gets {
		if n != 1 {
			t.Errorf("%s fetched from the upstream %d times, want once", p, n)
		}
	}
	mark = hubMark(t, l)
	r, wd = warmJSON(t, env, "lab/bench:1")
	if r.Code != 0 || len(wd.Images) != 1 || !wd.Images[0].AlreadyCached || wd.Images[0].FetchedBytes != 0 || wd.Images[0].BlobsCached != lab.BenchLayers+1 ||
		wd.Images[0].UpstreamBytes == nil || *wd.Images[0].UpstreamBytes != 0 {
		t.Errorf("second warm: exit %d %+v", r.Code, wd)
	}
	if gets, _ := blobGets(t, l, mark, "lab/bench", mgr); len(gets) != 0 {
		t.Errorf("the second warm fetched blobs from the upstream: %v", gets)
	}
	// The table says the same.
	if r := swarmctl(t, env, "mirror", "warm", "lab/bench:1"); r.Code != 0 ||
		!regexp.MustCompile(`lab/bench:1 +`+regexp.QuoteMeta(benchDigest[:19])+` +linux/amd64 +0 B +all `).MatchString(r.Stdout) ||
		!strings.Contains(r.Stderr, "1 of 1 image(s) in the cache (1 already), 0 B fetched from upstream") {
		t.Errorf("warm (text): exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// From CI (key and known_hosts in variables, no files) with a stack
	// file: every service's image, each already cached.
	good := filepath.Join(t.TempDir(), "compose.yml")
	if err := os.WriteFile(good, []byte("services:\n  web:\n    image: busybox\n  bench:\n    image: lab/bench:1\n  again:\n    image: busybox\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ci := ciEnv(t, l)
	r, wd = warmJSON(t, ci, "--stack-file", good)
	if r.Code != 0 || len(wd.Images) != 2 || wd.Images[0].Image != "busybox" || wd.Images[1].Image != "lab/bench:1" || !wd.Images[0].AlreadyCached || !wd.Images[1].AlreadyCached {
		t.Errorf("warm --stack-file from CI: exit %d %+v", r.Code, wd)
	}
	// Bad input: an unknown image (named, exit 1), a stack file that does
	// not parse (file:line, exit 2, nothing fetched).
	r, wd = warmJSON(t, env, "lab/nosuch:1")
	if r.Code != 1 || len(wd.Problems) != 1 || wd.Problems[0].Code != "image-not-found" || !strings.Contains(wd.Images[0].Error, "lab/nosuch:1") {
		t.Errorf("unknown image: exit %d %+v", r.Code, wd)
	}
	bad := filepath.Join(t.TempDir(), "compose.yml")
	if err := os.WriteFile(bad, []byte("services:\n  web:\n    image: busybox\n  api:\n\timage: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := swarmctl(t, env, "mirror", "warm", "--stack-file", bad); r.Code != 2 || !strings.Contains(r.Stderr, bad+":5") {
		t.Errorf("bad stack file: exit %d\n%s", r.Code, r.Stderr)
	}

	// The mirror scaled to 0: pulls still work (dockerd falls back to the
	// upstream), every node bypassed: mirror unreachable, exit 1. The tag
	// is resolved through the upstream (here trusting the lab's CA, as an
	// operator's machine trusts Docker Hub's).
	inMachine(t, l, mgr.Name, "docker", "service", "scale", "--detach", mirrorService+"=0")
	mirrorGone(t, mirrorURL(t, l))
	mark = hubMark(t, l)
	r, doc = proveJSON(t, append([]string{"SSL_CERT_FILE=" + l.CAPath()}, env...))
	if r.Code != 1 || doc.Error == nil || len(doc.Probes) != 1 || doc.Probes[0].ResolvedVia != "upstream" {
		t.Errorf("prove with the mirror scaled to 0: exit %d, want 1 (%+v)", r.Code, doc.Probes)
	}
	everyNode(t, l, doc, "bypassed", "mirror-unreachable")
	// The reload evidence is beside the verdict: still the same.
	reloadEvidence(t, doc, configured)
	_, clients := upstreamLog(t, l.Hub(), mark)
	for _, m := range inventoryMachines(l) {
		if clients[m.IP] == 0 {
			t.Errorf("%s (%s) is not in the upstream's log: its pull did not go around the mirror", m.Name, m.IP)
		}
	}
	inMachine(t, l, mgr.Name, "docker", "service", "scale", "--detach", mirrorService+"=1")
}

// configureWith runs nodes configure --yes and returns each node's outcome.
func configureWith(t *testing.T, env []string, args ...string) map[string]string {
	t.Helper()
	r := swarmctl(t, env, append([]string{"nodes", "configure", "--yes", "-o", "json"}, args...)...)
	var cd configureDoc
	if err := json.Unmarshal([]byte(r.Stdout), &cd); r.Code != 0 || err != nil {
		t.Fatalf("nodes configure %v: exit %d %v\n%s", args, r.Code, err, r.Stderr)
	}
	t.Logf("nodes configure %v: %v", args, outcomes(cd))
	return outcomes(cd)
}

// reloadEvidence checks each node's last reload in the proof against what
// nodes configure did to it: a reloaded node's reload event lists its
// mirror; a restarted one has none since its dockerd started.
func reloadEvidence(t *testing.T, doc proveDoc, configured map[string]string) {
	t.Helper()
	for _, n := range doc.Nodes {
		r := n.Reload
		if r == nil {
			t.Errorf("%s: no reload evidence", n.Name)
			continue
		}
		t.Logf("  %s: %s", n.Name, r.Detail)
		switch configured[n.Name] {
		case "reloaded":
			listed := slices.ContainsFunc(r.Mirrors, func(m string) bool { return strings.TrimRight(m, "/") == strings.TrimRight(n.Mirror, "/") })
			if r.Status != "confirmed" || !listed || r.Time == "" || r.DaemonStarted == "" {
				t.Errorf("%s, reloaded by nodes configure: reload %+v, want confirmed with %s", n.Name, *r, n.Mirror)
			}
		case "restarted":
			if r.Status != "none-since-start" || r.DaemonStarted == "" || !strings.Contains(r.Detail, "none seen since dockerd started at") {
				t.Errorf("%s, restarted by nodes configure: reload %+v, want none-since-start", n.Name, *r)
			}
		default: // unchanged: an earlier test's configure
			if r.Status != "confirmed" && r.Status != "none-since-start" {
				t.Errorf("%s: reload %+v", n.Name, *r)
			}
		}
	}
}

// mirrorGone waits until the mirror no longer answers (its task stopped).
func mirrorGone(t *testing.T, url string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	for time.Since(start) < 2*time.Minute {
		resp, err := c.Get(url + "/v2/")
		if err != nil {
			t.Logf("mirror stopped answering (waited %s)", time.Since(start).Round(100*time.Millisecond))
			return
		}
		resp.Body.Close()
		time.Sleep(time.Second)
	}
	t.Fatalf("mirror %s still answers 2 minutes after scaling to 0", url)
}
