package status

import (
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/report"
)

// Replicas are judged per upstream: one down of several is degraded,
// none answering unhealthy; could-not-check still wins.
func TestJudgeReplicas(t *testing.T) {
	rep := func(reg, n string, ok bool) Replica {
		return Replica{Registry: reg, Node: n, URL: "http://" + n + ":5000", Healthy: ok, Error: map[bool]string{false: "connection refused"}[ok]}
	}
	for _, tc := range []struct {
		name     string
		replicas []Replica
		noNodes  bool
		health   string
		sets     string
	}{
		{"all up", []Replica{rep("docker.io", "m1", true), rep("docker.io", "m2", true)}, false, Healthy, "docker.io=healthy"},
		{"one down", []Replica{rep("docker.io", "m1", true), rep("docker.io", "m2", false), rep("quay.io", "m1", true)}, false, Degraded, "docker.io=degraded quay.io=healthy"},
		{"quay.io down", []Replica{rep("docker.io", "m1", true), rep("quay.io", "m1", false), rep("quay.io", "m2", false)}, false, Unhealthy, "docker.io=healthy quay.io=down"},
		{"unchecked wins", []Replica{rep("docker.io", "m1", false)}, true, Unchecked, "docker.io=down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{MirrorURLs: []string{"http://m1:5000"}, Replicas: tc.replicas,
				Nodes: []Node{{Name: "m1", Reachable: !tc.noNodes}}}
			if !tc.noNodes {
				r.Nodes[0].Mirror = &member.MirrorState{Configured: true, Applied: true}
			}
			r.Judge(nil)
			var sets []string
			for _, s := range r.ReplicaSets {
				sets = append(sets, s.Registry+"="+s.Health)
			}
			if r.Health != tc.health || strings.Join(sets, " ") != tc.sets {
				t.Errorf("health %s sets %v problems %v", r.Health, sets, r.Problems)
			}
			for _, p := range r.Problems {
				if p.Code == report.ProblemReplicaDown && !strings.Contains(p.Message, "pulls still have a path") {
					t.Errorf("problem %q does not say pulls still have a path", p.Message)
				}
				if p.Code == report.ProblemReplicasDown && !strings.Contains(p.Message, "bypasses the mirror") {
					t.Errorf("problem %q", p.Message)
				}
			}
		})
	}
}
