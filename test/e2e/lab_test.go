package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/test/lab"
)

// TestLabMachines checks the lab itself: docker info on every machine,
// distinct host keys, a swarm of all machines Ready.
func TestLabMachines(t *testing.T) {
	l := needLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := lab.Check(ctx, l); err != nil {
		t.Fatal(err)
	}
}

type listDoc struct {
	Nodes []struct {
		Name          string `json:"name"`
		Reachable     bool   `json:"reachable"`
		Error         string `json:"error"`
		User          string `json:"user"`
		Service       string `json:"service"`
		ServiceActive bool   `json:"service_active"`
		DaemonJSON    string `json:"daemon_json"`
		DockerVersion string `json:"docker_version"`
		Role          string `json:"role"`
		// What the node's dockerd runs.
		ContainerdVersion string `json:"containerd_version"`
		ImageStore        string `json:"image_store"`
		StorageDriver     string `json:"storage_driver"`
	} `json:"nodes"`
	Reachable int `json:"reachable"`
}

func nodesList(t *testing.T, l *lab.Lab, args ...string) listDoc {
	t.Helper()
	r := swarmctl(t, labEnv(l), append([]string{"nodes", "list", "-o", "json"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("nodes list exit %d:\n%s", r.Code, r.Stderr)
	}
	var doc listDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("JSON: %v\n%s", err, r.Stdout)
	}
	return doc
}

// TestNodesListOnLab: every machine reachable with strict host key
// checking, its docker service and daemon.json path detected, the swarm
// roles right; the same through sudo as the non-root user.
func TestNodesListOnLab(t *testing.T) {
	l := needLab(t)
	for _, user := range []string{"root", "ops"} {
		t.Run(user, func(t *testing.T) {
			doc := nodesList(t, l, "--user", user, "--host-key-policy", "strict")
			if doc.Reachable != len(l.Machines()) {
				t.Fatalf("%d of %d reachable", doc.Reachable, len(l.Machines()))
			}
			roles := map[string]int{}
			sameEngines(t, l, doc)
			for _, n := range doc.Nodes {
				roles[n.Role]++
				if n.Service != "docker-latest" || n.DaemonJSON != "/etc/docker-latest/daemon.json" || !n.ServiceActive || n.DockerVersion == "" {
					t.Errorf("%s: service %q active=%v path %q version %q", n.Name, n.Service, n.ServiceActive, n.DaemonJSON, n.DockerVersion)
				}
			}
			if roles["leader"] != 1 || roles["manager"] != 2 || roles["worker"] != 2 {
				t.Errorf("roles = %v, want 1 leader, 2 managers, 2 workers", roles)
			}
		})
	}
}

func TestNodesListDockerLayout(t *testing.T) {
	l := needDockerLayoutLab(t)
	doc := nodesList(t, l)
	if doc.Reachable != 2 {
		t.Fatalf("%d reachable", doc.Reachable)
	}
	for _, n := range doc.Nodes {
		if n.Service != "docker" || n.DaemonJSON != "/etc/docker/daemon.json" {
			t.Errorf("%s: service %q path %q", n.Name, n.Service, n.DaemonJSON)
		}
	}
	sameEngines(t, l, doc)
}

// sameEngines checks that nodes list reports, for every lab machine, the
// engine version, containerd version, image store and storage driver its
// dockerd says it runs (asked now, through the lab's own docker exec).
func sameEngines(t *testing.T, l *lab.Lab, doc listDoc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ms, err := l.RefreshEngines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]lab.Machine{}
	for _, m := range ms {
		byName[m.Name] = m
	}
	for _, n := range doc.Nodes {
		m, ok := byName[n.Name]
		if !ok {
			continue
		}
		if n.DockerVersion != m.EngineVersion || n.ContainerdVersion != m.ContainerdVersion || n.ImageStore != m.ImageStore || n.StorageDriver != m.StorageDriver {
			t.Errorf("%s: nodes list says docker %q containerd %q store %q driver %q; the machine runs %q %q %q %q",
				n.Name, n.DockerVersion, n.ContainerdVersion, n.ImageStore, n.StorageDriver, m.EngineVersion, m.ContainerdVersion, m.ImageStore, m.StorageDriver)
		}
		if n.ContainerdVersion == "" || n.ImageStore == "" {
			t.Errorf("%s: nodes list has no containerd version or image store", n.Name)
		}
	}
}
