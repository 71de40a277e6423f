// Package fakedocker is a stand-in for the docker CLI (and curl) that unit
// tests put first on PATH to run swarmctl's real remote scripts in a real
// sh. It executes the scripts' own --format strings with text/template and
// a json function that behaves as docker's (encoding/json, no HTML
// escaping), on structs with the fields of docker's types the scripts
// read, so values a node chose (hostnames, task errors) reach the parser
// exactly as docker would print them.
//
// A test binary becomes the fake when it is run as "docker" or "curl":
//
//	func TestMain(m *testing.M) { fakedocker.Main(); os.Exit(m.Run()) }
package fakedocker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// Node has the fields of docker's swarm.Node the scripts read.
type Node struct {
	ID          string
	Description struct{ Hostname string }
	Spec        struct{ Role, Availability string }
	Status      struct{ State, Addr string }
	// ManagerStatus is nil for a worker, as in docker's type.
	ManagerStatus *ManagerStatus
}

// ManagerStatus is docker's swarm.ManagerStatus.
type ManagerStatus struct {
	Leader       bool
	Reachability string
	Addr         string
}

// Service is a line of `docker service ls` ({{json .}} has these keys).
type Service struct{ ID, Name, Mode, Replicas, Image, Ports string }

// Task is a line of `docker service ps` ({{json .}} has these keys).
type Task struct{ ID, Name, Image, Node, DesiredState, CurrentState, Error, Ports string }

// State is what the fake answers.
type State struct {
	Nodes    []Node
	Services []Service
	// Tasks by service name.
	Tasks map[string][]Task
	// Curl is what curl prints (stdout); "" = no curl on PATH is faked.
	Curl string
}

// NewNode returns a ready, active member; a manager gets a ManagerStatus.
func NewNode(id, hostname, role, addr, managerAddr string, leader bool) Node {
	var n Node
	n.ID, n.Description.Hostname = id, hostname
	n.Spec.Role, n.Spec.Availability = role, "active"
	n.Status.State, n.Status.Addr = "ready", addr
	if role == "manager" {
		n.ManagerStatus = &ManagerStatus{Leader: leader, Reachability: "reachable", Addr: managerAddr}
	}
	return n
}

const stateEnv = "FAKEDOCKER_STATE"

// Main makes the process the fake docker (or curl) and exits, when it was
// started as one; otherwise it returns at once.
func Main() {
	switch filepath.Base(os.Args[0]) {
	case "docker":
		os.Exit(docker(os.Args[1:]))
	case "curl":
		var st State
		json.Unmarshal([]byte(os.Getenv(stateEnv)), &st) //nolint:errcheck
		fmt.Print(st.Curl)
		os.Exit(0)
	}
}

func format(f string, data any) (string, error) {
	tmpl, err := template.New("").Funcs(template.FuncMap{"json": func(v any) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(v) //nolint:errcheck
		return strings.TrimSpace(b.String())
	}}).Parse(f)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

func docker(args []string) int {
	var st State
	if err := json.Unmarshal([]byte(os.Getenv(stateEnv)), &st); err != nil {
		fmt.Fprintln(os.Stderr, "fakedocker:", err)
		return 2
	}
	print := func(f string, data any) bool {
		s, err := format(f, data)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return false
		}
		fmt.Println(s)
		return true
	}
	a := strings.Join(args, " ")
	switch {
	case a == "node ls -q":
		for _, n := range st.Nodes {
			fmt.Println(n.ID)
		}
		return 0
	case len(args) >= 4 && args[0] == "node" && args[1] == "inspect" && args[2] == "--format":
		for _, id := range args[4:] {
			for _, n := range st.Nodes {
				if n.ID == id && !print(args[3], n) {
					return 1
				}
			}
		}
		return 0
	case len(args) == 4 && args[0] == "service" && args[1] == "ls" && args[2] == "--format":
		for _, s := range st.Services {
			if !print(args[3], s) {
				return 1
			}
		}
		return 0
	case len(args) == 6 && args[0] == "service" && args[1] == "ps" && args[3] == "--no-trunc" && args[4] == "--format":
		for _, t := range st.Tasks[args[2]] {
			if !print(args[5], t) {
				return 1
			}
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "fakedocker: unexpected %q\n", args)
	return 2
}

// Run runs script with args in a real sh as a node does (sh -c TEXT NAME
// ARGS...), the fake docker (and, when st.Curl is set, curl) first on
// PATH, and returns its stdout.
func Run(t testing.TB, st State, script nodes.Script, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"docker"}
	if st.Curl != "" {
		names = append(names, "curl")
	}
	for _, n := range names {
		if err := os.Symlink(self, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", append([]string{"-c", script.Text(), script.Name()}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), stateEnv+"="+string(b))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	return string(out)
}
