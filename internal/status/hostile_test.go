package status

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakedocker"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
)

// The test binary doubles as docker and curl (fakedocker) to run
// managerScript in a real sh.
func TestMain(m *testing.M) {
	fakedocker.Main()
	os.Exit(m.Run())
}

// A task's node is a hostname the node chose, and a task's error comes
// from the node too: whatever they hold (line breaks, section markers,
// '|') they stay one task's data and cannot forge what the manager saw,
// e.g. make a failing check from the manager read "not checked".
func TestCheckStackHostileTaskFields(t *testing.T) {
	for _, hostile := range []string{"m2\n@@noprobe", "m2|Running|Running 1 second ago|", "m2\n@@v2\n200 0.001"} {
		st := fakedocker.State{
			Services: []fakedocker.Service{{Name: "registry_registry-mirror", Image: "registry:2", Replicas: "1/1"}},
			Tasks: map[string][]fakedocker.Task{"registry_registry-mirror": {
				{Name: "registry_registry-mirror.1", Node: hostile, DesiredState: "Running", CurrentState: "Running 5 minutes ago", Error: "x\n@@noprobe"},
			}},
			Curl: "503 0.002",
		}
		h := fakehost.New("m1", nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
			return nodes.Output{Stdout: []byte(fakedocker.Run(t, st, c.Script, c.ScriptArgs...))}, nil
		})
		stk, svcs, fm := CheckStack(context.Background(), h, "registry", "registry_registry-mirror", "http://10.0.0.1:5000")
		if fm.NotChecked != "" || fm.Status != 503 {
			t.Errorf("node %q: from the manager %+v, want the real answer (503)", hostile, fm)
		}
		if len(stk.Tasks) != 1 || stk.Tasks[0].Node != hostile || stk.Tasks[0].Error != "x\n@@noprobe" {
			t.Errorf("node %q: tasks %+v", hostile, stk.Tasks)
		}
		if !stk.Found || stk.RunningReplicas != 1 || len(svcs) != 1 {
			t.Errorf("node %q: stack %+v services %v", hostile, stk, svcs)
		}
	}
}

// managerOut turns a test's manager answer, with services written as
// "name|image|replicas" and tasks as "name|node|desired|current|error"
// lines, into what managerScript prints, with the encoder its parser is
// tested against. Other lines (docker's errors, the probe) stay.
func managerOut(text string) string {
	var b strings.Builder
	sec := ""
	for _, l := range strings.SplitAfter(text, "\n") {
		line := strings.TrimSuffix(l, "\n")
		p := strings.Split(line, "|")
		switch {
		case strings.HasPrefix(line, "@@"):
			sec = line
		case sec == "@@services" && len(p) == 3:
			l = ServiceRecord{Name: p[0], Image: p[1], Replicas: p[2]}.Line()
		case sec == "@@tasks" && len(p) == 5:
			l = TaskRecord{Name: p[0], Node: p[1], DesiredState: p[2], CurrentState: p[3], Error: p[4]}.Line()
		}
		b.WriteString(l)
	}
	return b.String()
}
