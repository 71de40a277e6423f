package status

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/report"
)

// Unhealthy: an upstream has replicas and none of them answers, so every
// pull from it bypasses the mirror (nodes fall back to the upstream).
// Unchecked still wins over it; it wins over Degraded.
const Unhealthy = "unhealthy"

// Replica is one independent cache (mirror.replica_nodes) as status saw
// it: GET /v2/ and the catalog from here at its own URL, its task on its
// node (docker.io's service only: the one the manager is asked about)
// and the disk its data directory uses on its node.
type Replica struct {
	Registry  string `json:"registry"`
	Service   string `json:"service"`
	Node      string `json:"node"`
	URL       string `json:"url"`
	Healthy   bool   `json:"healthy"`
	Reachable bool   `json:"reachable"`
	Status    int    `json:"http_status,omitempty"`
	LatencyMS int64  `json:"latency_ms,omitempty"`
	Error     string `json:"error,omitempty"`
	Task      *Task  `json:"task,omitempty"`
	DataDir   string `json:"data_dir"`
	Cache     Cache  `json:"cache"`
}

// ReplicaSet is one upstream's replicas judged together: healthy (all
// answer), degraded (some answer: pulls still go through the mirror,
// nodes try the next replica in their list) or down (none answers: pulls
// go to the upstream).
type ReplicaSet struct {
	Registry  string   `json:"registry"`
	Replicas  int      `json:"replicas"`
	Answering int      `json:"answering"`
	Down      []string `json:"down"`
	Health    string   `json:"health"`
}

// Verdicts of a ReplicaSet.
const (
	ReplicasHealthy  = "healthy"
	ReplicasDegraded = "degraded"
	ReplicasDown     = "down"
)

// CheckReplicas checks every replica of the endpoints that run one cache
// per node: the HTTP checks concurrently, the disk on each replica's
// node through the connected members (rows and asked managers). A
// replica without its own URL (behind Traefik, one URL for all) is not
// listed: the endpoint check covers it.
func CheckReplicas(ctx context.Context, in Input, tasks []Task) []Replica {
	var out []Replica
	for _, e := range in.Replicas {
		for _, rep := range e.Replicas {
			if rep.Node == "" || rep.URL == "" {
				continue
			}
			r := Replica{Registry: e.Registry, Service: e.Service, Node: rep.Node, URL: rep.URL, DataDir: rep.DataDir,
				Cache: Cache{Repositories: []string{}}}
			if e.Service == in.Stack.Service() {
				r.Task = replicaTask(tasks, rep.Node)
			}
			out = append(out, r)
		}
	}
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func(r *Replica) {
			defer wg.Done()
			ep := CheckEndpoint(ctx, r.URL, in.Timeout, in.Now)
			r.Reachable, r.Status, r.LatencyMS, r.Error = ep.Reachable, ep.Status, ep.LatencyMS, shortHTTPError(ep.Error)
			r.Healthy = ep.Healthy()
			switch {
			case !ep.Reachable:
				r.Cache.Error = "catalog: not checked: the replica is unreachable"
			case !r.Healthy:
				r.Error = fmt.Sprintf("GET /v2/ answered HTTP %d", ep.Status)
				r.Cache.Error = "catalog: not checked: the replica does not answer as a registry"
			default:
				repos, err := Catalog(ctx, r.URL, in.Timeout)
				if err != nil {
					r.Cache.Error = "catalog: " + err.Error()
				} else {
					r.Cache.Repositories = repos
				}
			}
		}(&out[i])
	}
	wg.Wait()
	members := append(in.Nodes[:len(in.Nodes):len(in.Nodes)], in.Asked...)
	for i := range out {
		r := &out[i]
		m := memberOf(members, r.Node)
		if m == nil {
			continue
		}
		n, err := DiskUsage(ctx, m.Conn, r.DataDir)
		r.Cache.DiskBytes, r.Cache.DiskNode = n, m.Name
		if err != nil {
			r.Cache.Error = joinErr(r.Cache.Error, "disk: "+err.Error())
		}
	}
	return out
}

// memberOf is the connected member that is the swarm node hostname (by
// its facts, else by its inventory name).
func memberOf(ms []*member.Member, hostname string) *member.Member {
	for _, m := range ms {
		if m.Conn != nil && m.Facts != nil && m.Facts.Hostname == hostname {
			return m
		}
	}
	for _, m := range ms {
		if m.Conn != nil && m.Name == hostname {
			return m
		}
	}
	return nil
}

// replicaTask is the task of a global service on node: the one meant to
// run, else the newest listed.
func replicaTask(tasks []Task, node string) *Task {
	var found *Task
	for i := range tasks {
		t := tasks[i]
		if t.Node != node {
			continue
		}
		if t.DesiredState == "Running" {
			return &t
		}
		if found == nil {
			found = &t
		}
	}
	return found
}

// shortHTTPError drops net/http's `Get "<url>": ` prefix: the replica's
// line already names the URL.
func shortHTTPError(e string) string {
	if strings.HasPrefix(e, `Get "`) {
		if _, rest, ok := strings.Cut(e, `": `); ok {
			return rest
		}
	}
	return e
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// judgeReplicas groups the replicas by upstream, adds a problem for each
// replica down (saying whether pulls still have a path) and reports
// whether some upstream has no replica answering.
func (r *Report) judgeReplicas(problem func(code, node, format string, a ...any)) (noPath bool) {
	r.ReplicaSets = nil
	idx := map[string]int{}
	for _, rep := range r.Replicas {
		i, ok := idx[rep.Registry]
		if !ok {
			i = len(r.ReplicaSets)
			idx[rep.Registry] = i
			r.ReplicaSets = append(r.ReplicaSets, ReplicaSet{Registry: rep.Registry, Down: []string{}})
		}
		s := &r.ReplicaSets[i]
		s.Replicas++
		if rep.Healthy {
			s.Answering++
		} else {
			s.Down = append(s.Down, rep.Node)
		}
	}
	for i := range r.ReplicaSets {
		s := &r.ReplicaSets[i]
		var up []string
		for _, rep := range r.Replicas {
			if rep.Registry == s.Registry && rep.Healthy {
				up = append(up, rep.Node)
			}
		}
		switch {
		case s.Answering == s.Replicas:
			s.Health = ReplicasHealthy
		case s.Answering == 0:
			s.Health = ReplicasDown
			noPath = true
			problem(report.ProblemReplicasDown, "", "%s: no replica answers (%s): every pull from %s bypasses the mirror and goes to the upstream",
				s.Registry, strings.Join(s.Down, ", "), s.Registry)
		default:
			s.Health = ReplicasDegraded
			for _, rep := range r.Replicas {
				if rep.Registry == s.Registry && !rep.Healthy {
					problem(report.ProblemReplicaDown, rep.Node, "%s: replica %s is down (%s); pulls still have a path: nodes try the next mirror in their list, %d of %d replicas answer (%s)",
						s.Registry, rep.URL, orUnknown(rep.Error), s.Answering, s.Replicas, strings.Join(up, ", "))
				}
			}
		}
	}
	return noPath
}

func orUnknown(s string) string {
	if s == "" {
		return "no answer"
	}
	return s
}
