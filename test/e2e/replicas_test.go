package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/test/lab"
)

// Issue 15's drill: a mirror that survives losing a node. Three
// independent caches on the three managers; the nodes list all three;
// a new image is rolled out to every node while dockerd on the manager
// of the first replica in the nodes' list is stopped. Every pull
// succeeds, the Docker Hub stand-in serves the new image only to the
// caches (never to a node's dockerd), and mirror status reports the
// replica down (exit 1) and healthy again (exit 0) once it is back.

// replicaStatus is the part of mirror status -o json the drill reads.
type replicaStatus struct {
	Health   string `json:"health"`
	Problems []struct {
		Code, Node, Message string
	} `json:"problems"`
	Replicas []struct {
		Node, URL string
		Healthy   bool
		Cache     struct {
			Repositories []string `json:"repositories"`
			DiskBytes    int64    `json:"disk_bytes"`
		} `json:"cache"`
	} `json:"replicas"`
	ReplicaSets []struct {
		Registry, Health string
		Answering        int
		Down             []string
	} `json:"replica_sets"`
}

func replicaStatusOf(t *testing.T, env []string, mirrors string) (result, replicaStatus) {
	t.Helper()
	// --no-discover: machines another test added to the swarm are not
	// the drill's (nodes configure sets up the inventory's).
	r := swarmctl(t, env, "mirror", "status", "-o", "json", "--no-discover", "--mirror", mirrors)
	var doc replicaStatus
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("mirror status -o json: %v\n%s", err, r.Stdout)
	}
	return r, doc
}

// onlyCaches checks that since mark the Docker Hub stand-in served repo
// only to the caches: from a replica node's address and never with
// dockerd's user agent (a node's engine pulling around the mirror shows
// as "docker/..."; a manager's address alone cannot tell its engine from
// its cache). It returns the manifest fetches by client.
func onlyCaches(t *testing.T, l *lab.Lab, mark int64, repo string, replicaIPs []string) map[string]int {
	t.Helper()
	es, _ := upstreamLog(t, l.Hub(), mark)
	got := map[string]int{}
	for _, e := range es {
		if !strings.HasPrefix(e.Path, "/v2/"+repo+"/") {
			continue
		}
		if !slices.Contains(replicaIPs, e.Client) || strings.HasPrefix(e.UserAgent, "docker/") {
			t.Errorf("Docker Hub served %s %s to %s (%s): a pull went around the mirror", e.Method, e.Path, e.Client, e.UserAgent)
		}
		if strings.Contains(e.Path, "/manifests/") && e.Status == 200 {
			got[e.Client]++
		}
	}
	return got
}

// dockerUnits are the units that stop dockerd for good: its socket would
// start it again on the first docker command.
func dockerUnits(l *lab.Lab) []string {
	return []string{service(l) + ".socket", service(l) + ".service"}
}

func TestMirrorReplicaFailover(t *testing.T) {
	l := needLab(t)
	var managers []lab.Machine
	var names, ips []string
	fleet := inventoryMachines(l)
	for _, m := range fleet {
		if m.Role == "manager" {
			managers, names, ips = append(managers, m), append(names, m.Name), append(ips, m.IP)
		}
	}
	if len(managers) < 3 {
		t.Fatalf("the lab has %d managers, the drill needs 3", len(managers))
	}
	inv := stackInventory(t, l, func(m map[string]any) {
		delete(m, "constraints")
		m["replica_nodes"] = names
	})
	env := []string{"SWARMCTL_INVENTORY=" + inv}
	// The replica that goes down is manager2's (not the manager swarmctl
	// and the lab ask), listed first by every node so that every pull
	// during the outage fails over.
	down := managers[1]
	url := func(m lab.Machine) string { return "http://" + m.IP + ":5000" }
	mirrors := []string{url(down), url(managers[0]), url(managers[2])}
	list := strings.Join(mirrors, ",")
	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge (precondition): exit %d", r.Code)
	}
	freshOverlay(t, l)
	stopped := false
	startDocker := func() {
		const start = `systemctl reset-failed "$1" "$2" 2>/dev/null; systemctl start "$1" "$2" 2>&1 && exit 0
journalctl -u "$2" -n 30 --no-pager 2>&1; exit 1`
		inMachine(t, l, down.Name, "sh", "-c", start, "sh", dockerUnits(l)[0], dockerUnits(l)[1])
		stopped = false
	}
	t.Cleanup(func() {
		if stopped {
			startDocker()
			swarmHealthy(t, l)
		}
		// The nodes keep the lab's one mirror (mirror.url, manager1's).
		swarmctl(t, env, "nodes", "configure", "--yes", "--insecure=false", "--remove", "--mirror", mirrors[0]+","+mirrors[2])
		swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes")
		freshOverlay(t, l)
	})

	// Replica nodes the mirror's own constraints exclude: exit 2, nothing
	// deployed (the global service would never run their caches).
	excluded := stackInventory(t, l, func(m map[string]any) {
		m["constraints"] = []string{"node.role==worker"}
		m["replica_nodes"] = names
	})
	if r := swarmctl(t, []string{"SWARMCTL_INVENTORY=" + excluded}, "mirror", "install"); r.Code != 2 ||
		!strings.Contains(r.Stderr, "replica node "+names[0]+" does not satisfy constraint node.role==worker (it has role manager") {
		t.Errorf("replica nodes the constraints exclude: exit %d, want 2", r.Code)
	}
	if s := stackServices(t, l); len(s) != 0 {
		t.Errorf("services %v after a refused install", s)
	}

	r, doc := installUpstreams(t, env)
	if r.Code != 0 || len(doc.Result.Services) != 1 || doc.Result.Services[0].Running != 3 {
		t.Fatalf("install of 3 replicas: exit %d %+v", r.Code, doc)
	}
	if r := swarmctl(t, env, "nodes", "configure", "--yes", "--insecure=false", "--mirror", list); r.Code != 0 {
		t.Fatalf("nodes configure --mirror %s: exit %d", list, r.Code)
	}
	for _, u := range mirrors {
		waitMirror(t, u) // a restart of a replica's node restarted its task
	}
	if r, st := replicaStatusOf(t, env, list); r.Code != 0 || st.Health != "healthy" || len(st.Replicas) != 3 {
		t.Fatalf("status with every replica up: exit %d %+v\n%s", r.Code, st, r.Stderr)
	}

	ctx := context.Background()
	seed := strconv.FormatInt(time.Now().UnixNano(), 36)
	const size = 8 << 20
	tryPull := func(m lab.Machine, ref string) (time.Duration, error) {
		c, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		start := time.Now()
		out, err := l.Exec(c, m.Name, "docker", "pull", "-q", ref)
		d := time.Since(start)
		if err != nil {
			err = fmt.Errorf("%s: docker pull %s: %v: %s", m.Name, ref, err, strings.TrimSpace(out))
		}
		t.Logf("%s: docker pull %s: %s", m.Name, ref, d.Round(10*time.Millisecond))
		return d, err
	}
	pull := func(m lab.Machine, ref string) time.Duration {
		t.Helper()
		d, err := tryPull(m, ref)
		if err != nil {
			t.Error(err)
		}
		return d
	}
	push := func(repo string, size int) string {
		t.Helper()
		n, err := l.Hub().PushFresh(ctx, repo, "1", seed+repo, size)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("pushed %s:1 (%d bytes) to Docker Hub's stand-in", repo, n)
		return "docker.io/" + repo + ":1"
	}
	// Pull times by case: the first pull of a new image (its replica
	// fetches it from the upstream) and the others (served from the
	// replica's cache).
	var healthyCold, healthyWarm, failCold, failWarm []time.Duration
	rollout := func(ms []lab.Machine, ref string, cold, warm *[]time.Duration) {
		t.Helper()
		for i, m := range ms {
			d := pull(m, ref)
			if i == 0 {
				*cold = append(*cold, d)
			} else {
				*warm = append(*warm, d)
			}
		}
	}

	// The healthy case: new images to every node; the first pull fills
	// the first replica in the nodes' list, the rest are served from it.
	for i := range 2 {
		repo := fmt.Sprintf("lab/drill-healthy-%s-%d", seed, i)
		ref := push(repo, size)
		mark := hubMark(t, l)
		rollout(fleet, ref, &healthyCold, &healthyWarm)
		if got := onlyCaches(t, l, mark, repo, ips); got[down.IP] == 0 || len(got) != 1 {
			t.Errorf("Docker Hub's manifest fetches of %s by cache: %v; want only the first replica's (%s)", repo, got, down.Name)
		}
	}

	// The failover: a new image, one node pulls it, then dockerd stops on
	// the first replica's manager (its socket too: the first docker
	// command would start it again), and the other nodes pull it.
	repoB := "lab/drill-failover-" + seed
	refB := push(repoB, size)
	mark := hubMark(t, l)
	order := []lab.Machine{worker(l)}
	for _, m := range fleet {
		if m.Name != down.Name && m.Name != order[0].Name {
			order = append(order, m)
		}
	}
	healthyCold = append(healthyCold, pull(order[0], refB))
	stopped = true
	inMachine(t, l, down.Name, "systemctl", "stop", dockerUnits(l)[0], dockerUnits(l)[1])
	rollout(order[1:], refB, &failCold, &failWarm)
	// More new images during the outage: every one reaches every node
	// through the second replica.
	for i := range 2 {
		repo := fmt.Sprintf("lab/drill-outage-%s-%d", seed, i)
		ref := push(repo, size)
		mark := hubMark(t, l)
		rollout(order, ref, &failCold, &failWarm)
		if got := onlyCaches(t, l, mark, repo, ips); got[managers[0].IP] == 0 || len(got) != 1 {
			t.Errorf("Docker Hub's manifest fetches of %s during the outage by cache: %v; want only %s's", repo, got, managers[0].Name)
		}
	}
	r, st := replicaStatusOf(t, env, list)
	t.Logf("status with %s's dockerd stopped: exit %d, health %s, replica sets %+v", down.Name, r.Code, st.Health, st.ReplicaSets)
	if r.Code != 1 || st.Health != "degraded" || len(st.ReplicaSets) != 1 || st.ReplicaSets[0].Health != "degraded" ||
		!slices.Equal(st.ReplicaSets[0].Down, []string{down.Name}) || st.ReplicaSets[0].Answering != 2 {
		t.Errorf("status with one replica down: exit %d, %+v\n%s", r.Code, st, r.Stderr)
	}
	said, dockerDown := false, false
	for _, p := range st.Problems {
		said = said || (p.Code == "replica-down" && p.Node == down.Name && strings.Contains(p.Message, "pulls still have a path"))
		dockerDown = dockerDown || (p.Code == "node-error" && p.Node == down.Name && strings.Contains(p.Message, "docker is not running"))
		if p.Code == "pending" && p.Node == down.Name {
			t.Errorf("status calls %s pending a reload while its docker is stopped: %s", down.Name, p.Message)
		}
	}
	if !dockerDown {
		t.Errorf("status does not say docker is not running on %s: %+v", down.Name, st.Problems)
	}
	if !said {
		t.Errorf("status does not say %s's replica is down with pulls still having a path: %+v", down.Name, st.Problems)
	}

	// Install now: the replica node is down in the swarm, which is an
	// input error (exit 2) and changes nothing.
	state := ""
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && state != "down"; time.Sleep(2 * time.Second) {
		state = strings.TrimSpace(inMachine(t, l, l.Manager().Name, "docker", "node", "inspect", "--format", "{{.Status.State}}", down.Name))
	}
	version := serviceVersion(t, l)
	if r := swarmctl(t, env, "mirror", "install"); r.Code != 2 || !strings.Contains(r.Stderr, "replica node "+down.Name+" is down, not ready") {
		t.Errorf("install with %s %s in the swarm: exit %d, want 2", down.Name, state, r.Code)
	}
	if v := serviceVersion(t, l); v != version {
		t.Errorf("a refused install changed the service: %s -> %s", version, v)
	}

	startDocker()
	swarmHealthy(t, l)
	waitMirror(t, url(down))
	pull(down, refB)
	got := onlyCaches(t, l, mark, repoB, ips)
	if got[down.IP] == 0 || got[managers[0].IP] == 0 || len(got) != 2 {
		t.Errorf("Docker Hub's manifest fetches of %s by cache: %v; want %s's (before the stop) and %s's (the failover)", repoB, got, down.Name, managers[0].Name)
	}
	t.Logf("manifest fetches of the failover image by cache node: %v", got)

	// Healthy again once the replica's task runs: status says so.
	var last replicaStatus
	ok := false
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(3 * time.Second) {
		r, last = replicaStatusOf(t, env, list)
		if r.Code == 0 && last.Health == "healthy" {
			ok = true
			break
		}
	}
	if !ok {
		t.Errorf("status after %s came back: %+v", down.Name, last)
	}
	for _, rep := range last.Replicas {
		if rep.Node == down.Name && (!slices.Contains(rep.Cache.Repositories, repoB) || rep.Cache.DiskBytes < size) {
			t.Errorf("%s's replica cache after it came back: %+v", down.Name, rep.Cache)
		}
	}
	// No replica answers (the service constrained to no node): status
	// says pulls go around the mirror (unhealthy, exit 1), then healthy
	// once the constraint is gone.
	const nowhere = "node.labels.swarmctl.drill==nowhere"
	inMachine(t, l, l.Manager().Name, "docker", "service", "update", "--detach", "--constraint-add", nowhere, mirrorService)
	for _, u := range mirrors {
		waitRefused(t, u)
	}
	r, st = replicaStatusOf(t, env, list)
	if r.Code != 1 || st.Health != "unhealthy" || len(st.ReplicaSets) != 1 || st.ReplicaSets[0].Health != "down" || st.ReplicaSets[0].Answering != 0 {
		t.Errorf("status with no replica answering: exit %d, %+v\n%s", r.Code, st, r.Stderr)
	}
	none := false
	for _, p := range st.Problems {
		none = none || (p.Code == "replicas-down" && strings.Contains(p.Message, "bypasses the mirror"))
	}
	if !none {
		t.Errorf("status does not say pulls bypass the mirror: %+v", st.Problems)
	}
	replicaNotBack(t, env, managers, []string{url(managers[2]), url(down), url(managers[0])})
	inMachine(t, l, l.Manager().Name, "docker", "service", "update", "--detach", "--constraint-rm", nowhere, mirrorService)
	for _, u := range mirrors {
		waitMirror(t, u)
	}

	t.Logf("bench: docker pull of a new %d MiB image (ms, median [samples]): healthy, first pull %s, cached %s; %s's replica down (its dockerd stopped, nodes fail over to %s's), first pull %s, cached %s",
		size>>20, msStats(healthyCold), msStats(healthyWarm), down.Name, managers[0].Name, msStats(failCold), msStats(failWarm))

	t.Run("rolling configure restart", func(t *testing.T) {
		rollingRestart(t, l, env, ips, []string{url(managers[0]), url(managers[2]), url(down)})
	})
}

// rollingRestart: nodes configure with the replicas in a new order and
// --apply restart restarts every node's dockerd in turn (workers, then
// the managers one at a time), each manager's replica with it. New
// images keep being pulled on every node meanwhile; a pull may fail on
// the node whose own dockerd is restarting, but none may go around the
// mirror.
func rollingRestart(t *testing.T, l *lab.Lab, env, ips, rolled []string) {
	ctx := context.Background()
	seed := strconv.FormatInt(time.Now().UnixNano(), 36)
	done := make(chan result, 1)
	go func() {
		done <- swarmctl(t, env, "nodes", "configure", "--yes", "--insecure=false", "--apply", "restart", "--mirror", strings.Join(rolled, ","), "-o", "json")
	}()
	var cfg result
	var pulled, failed int
	var repos []string
	markR := hubMark(t, l)
rolling:
	for i := 0; ; i++ {
		select {
		case cfg = <-done:
			break rolling
		default:
		}
		repo := fmt.Sprintf("lab/drill-rolling-%s-%d", seed, i)
		if _, err := l.Hub().PushFresh(ctx, repo, "1", seed+repo, 1<<20); err != nil {
			t.Fatal(err)
		}
		repos = append(repos, repo)
		for _, m := range inventoryMachines(l) {
			c, cancel := context.WithTimeout(ctx, 3*time.Minute)
			out, err := l.Exec(c, m.Name, "docker", "pull", "-q", "docker.io/"+repo+":1")
			cancel()
			if err != nil {
				t.Logf("during the rolling restart: %s: docker pull %s: %v: %s", m.Name, repo, err, strings.TrimSpace(out))
				failed++
			} else {
				pulled++
			}
		}
	}
	if cfg.Code != 0 {
		t.Errorf("nodes configure --apply restart: exit %d\n%s", cfg.Code, cfg.Stderr)
	}
	// Each replica's node, once restarted, was waited for until its
	// replica answered, before the next node's restart.
	for _, u := range rolled {
		if !strings.Contains(cfg.Stderr, ": waiting for its mirror replica "+u+" to answer") {
			t.Errorf("nodes configure did not wait for the replica %s after its node's restart:\n%s", u, cfg.Stderr)
		}
	}
	var doc configureDoc
	if err := json.Unmarshal([]byte(cfg.Stdout), &doc); err != nil {
		t.Fatalf("nodes configure -o json: %v\n%s", err, cfg.Stdout)
	}
	var waits []string
	for _, n := range doc.Nodes {
		for _, s := range n.Steps {
			if s.Name == "mirror replica" {
				waits = append(waits, fmt.Sprintf("%s %d ms", n.Name, s.MS))
			}
		}
	}
	if len(waits) != len(rolled) {
		t.Errorf("mirror replica waits %v, want one per replica node", waits)
	}
	t.Logf("bench: waits for a restarted node's replica to answer: %s", strings.Join(waits, ", "))
	for _, repo := range repos {
		onlyCaches(t, l, markR, repo, ips)
	}
	t.Logf("during the rolling restart: %d new images, %d pulls succeeded, %d failed (the node's own dockerd restarting)", len(repos), pulled, failed)
	if pulled < 5 {
		t.Errorf("only %d pulls succeeded during the rolling restart: the drill proves nothing", pulled)
	}
	for _, u := range rolled {
		waitMirror(t, u)
	}
}

// replicaNotBack: with no replica able to run, a restart rollout to a
// new order of the mirrors restarts the workers (no replica there), then
// the first manager, whose replica does not answer again within
// --ready-timeout: the rollout stops there (exit 1), that manager failed
// with the reason, the other managers skipped and left as they were.
func replicaNotBack(t *testing.T, env []string, managers []lab.Machine, order []string) {
	t.Helper()
	r := swarmctl(t, env, "nodes", "configure", "--yes", "--insecure=false", "--apply", "restart", "--ready-timeout", "15s",
		"--mirror", strings.Join(order, ","), "-o", "json")
	var doc configureDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("nodes configure -o json: %v\n%s", err, r.Stdout)
	}
	failed := ""
	var skipped []string
	for _, n := range doc.Nodes {
		switch {
		case n.Role == "worker":
			if n.Outcome != "restarted" {
				t.Errorf("worker %s: %s %s", n.Name, n.Outcome, n.Error)
			}
		case n.Outcome == "failed" && failed == "":
			failed = n.Name
			if !strings.Contains(n.Error, "did not answer GET /v2/ within 15s (--ready-timeout)") || !strings.Contains(n.Error, "rollout stopped") {
				t.Errorf("%s: %q", n.Name, n.Error)
			}
		case n.Outcome == "skipped":
			skipped = append(skipped, n.Name)
		default:
			t.Errorf("manager %s: %s %s", n.Name, n.Outcome, n.Error)
		}
	}
	if r.Code != 1 || failed == "" || len(skipped) != len(managers)-1 {
		t.Fatalf("rollout with no replica able to come back: exit %d, failed %q, skipped %v\n%s", r.Code, failed, skipped, r.Stderr)
	}
	for _, n := range doc.Nodes {
		if n.Outcome == "skipped" && n.Error != "not attempted: rollout stopped after "+failed+", whose mirror replica did not answer again" {
			t.Errorf("%s: %q", n.Name, n.Error)
		}
	}
	if !strings.Contains(r.Stderr, failed+": waiting for its mirror replica ") {
		t.Errorf("no wait for %s's replica on stderr:\n%s", failed, r.Stderr)
	}
	t.Logf("replica not back: %s failed, %v skipped (exit %d)", failed, skipped, r.Code)
}

// waitRefused waits until nothing answers at url (its replica is gone).
func waitRefused(t *testing.T, url string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		resp, err := c.Get(url + "/v2/")
		if err != nil {
			return
		}
		resp.Body.Close()
	}
	t.Fatalf("%s still answers after 2 minutes", url)
}

// msStats is "median [samples]" in milliseconds.
func msStats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var all []string
	for _, d := range ds {
		all = append(all, strconv.FormatInt(d.Milliseconds(), 10))
	}
	return fmt.Sprintf("%d [%s]", s[len(s)/2].Milliseconds(), strings.Join(all, " "))
}
