package status

import (
	"context"
	"embed"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/probe"
)

// Stack is the registry service as the swarm sees it.
type Stack struct {
	Name            string `json:"name"`
	Service         string `json:"service"`
	Found           bool   `json:"found"`
	Image           string `json:"image,omitempty"`
	DesiredReplicas int    `json:"desired_replicas"`
	RunningReplicas int    `json:"running_replicas"`
	Tasks           []Task `json:"tasks"`
	LastError       string `json:"last_error,omitempty"`
	// LastErrorAge is how long ago the task with LastError reached its
	// current state ("3 seconds ago"), when docker says so.
	LastErrorAge string `json:"last_error_age,omitempty"`
	// Error: the service could not be checked (no manager, or the query
	// on the manager failed). With Found false it means "unknown", not
	// "not deployed".
	Error string `json:"error,omitempty"`
}

// Task is one task of the registry service.
type Task struct {
	Name         string `json:"name"`
	Node         string `json:"node"`
	DesiredState string `json:"desired_state"`
	CurrentState string `json:"current_state"`
	Error        string `json:"error,omitempty"`
}

// Service is any swarm service, for the "mirror cannot help" warnings.
type Service struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// FromManager is GET /v2/ through the mirror URL, sent from a manager:
// what the nodes themselves see.
type FromManager struct {
	Manager   string `json:"manager"`
	Status    int    `json:"http_status,omitempty"`
	LatencyMS int64  `json:"latency_ms,omitempty"`
	Error     string `json:"error,omitempty"`
	// NotChecked says why the check did not run (the manager has neither
	// curl nor wget); it is not a failure.
	NotChecked string `json:"not_checked,omitempty"`
}

//go:embed scripts/*.sh
var scriptFiles embed.FS

// stackStatusScript reads the swarm's services, the registry's tasks and
// the mirror's answer as seen from the manager, in one command. Services
// and tasks come as JSON lines (docker's {{json .}}): a task's node is a
// hostname the node chose, and no value can add a line or a section.
var stackStatusScript = nodes.MustScript(scriptFiles, "scripts/stack-status.sh")

// ServiceRecord and TaskRecord are lines of stackStatusScript's services
// and tasks sections: the keys of docker's {{json .}} swarmctl reads. Test
// fakes print them with Line, so they speak what CheckStack parses.
type ServiceRecord struct{ Name, Image, Replicas string }

// TaskRecord is one task line; see ServiceRecord.
type TaskRecord struct{ Name, Node, DesiredState, CurrentState, Error string }

// Line encodes r as stackStatusScript prints it.
func (r ServiceRecord) Line() string { return jsonLine(r) }

// Line encodes r as stackStatusScript prints it.
func (r TaskRecord) Line() string { return jsonLine(r) }

func jsonLine(v any) string {
	b, _ := json.Marshal(v)
	return string(b) + "\n"
}

// CheckStack asks a manager about the registry stack and all services.
func CheckStack(ctx context.Context, h nodes.Host, stackName, serviceName, mirrorURL string) (Stack, []Service, FromManager) {
	st := Stack{Name: stackName, Service: serviceName, Tasks: []Task{}}
	fm := FromManager{Manager: h.Name()}
	ctx, cancel := nodes.Step(ctx, "registry service", nodes.DefaultStepTimeout)
	defer cancel()
	out, err := h.Run(ctx, nodes.Cmd{Script: stackStatusScript, ScriptArgs: []string{serviceName, mirrorURL, probe.Script.Text()}, Sudo: true})
	if err != nil {
		// Nothing is known: the stack is unchecked (Judge says so), and
		// the manager-side probe did not run.
		st.Error = "query on " + h.Name() + " failed: " + nodes.Unnamed(h.Name(), err).Error()
		fm.NotChecked = "the query on " + h.Name() + " failed"
		return st, nil, fm
	}
	sec := nodes.ParseSections(out.Stdout)
	var services []Service
	for _, l := range sec.NonBlank("services") {
		var r ServiceRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Name == "" {
			st.Error = strings.TrimSpace(l) // docker's own error line
			continue
		}
		services = append(services, Service{Name: r.Name, Image: r.Image})
		if r.Name == serviceName {
			st.Found, st.Image = true, stripDigest(r.Image)
			st.RunningReplicas, st.DesiredReplicas = parseReplicas(r.Replicas)
		}
	}
	for _, l := range sec.NonBlank("tasks") {
		var r TaskRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			continue
		}
		t := Task(r)
		st.Tasks = append(st.Tasks, t)
		if t.Error != "" && st.LastError == "" {
			st.LastError, st.LastErrorAge = t.Error, stateAge(t.CurrentState)
		}
	}
	if mirrorURL != "" {
		exit, err := strconv.Atoi(sec.First("v2exit"))
		if err != nil {
			exit = -1 // cut short: Parse reports what there is as the error
		}
		switch r := probe.Parse(strings.Join(sec["v2"], "\n"), exit); {
		case r.NoTool:
			fm.NotChecked = "no curl or wget on " + h.Name()
		case r.Err != "":
			fm.Error = r.Err
		default:
			fm.Status = r.Status
			if r.Latency >= 0 {
				fm.LatencyMS = r.Latency.Milliseconds()
			}
		}
	}
	return st, services, fm
}

// stateAge reads the age out of a task's current state: "Rejected 3
// seconds ago" gives "3 seconds ago"; "" when there is none.
func stateAge(state string) string {
	_, age, ok := strings.Cut(strings.TrimSpace(state), " ")
	if !ok || !strings.HasSuffix(age, " ago") {
		return ""
	}
	return age
}

// parseReplicas reads docker's "1/1" or "1/1 (max 1 per node)".
func parseReplicas(s string) (running, desired int) {
	s, _, _ = strings.Cut(s, " ")
	r, d, _ := strings.Cut(s, "/")
	running, _ = strconv.Atoi(r)
	desired, _ = strconv.Atoi(d)
	return
}

func stripDigest(img string) string {
	i, _, _ := strings.Cut(img, "@")
	return i
}

// Cache is what the mirror holds.
type Cache struct {
	Repositories []string `json:"repositories"`
	DiskBytes    int64    `json:"disk_bytes"`
	DiskNode     string   `json:"disk_node,omitempty"`
	Error        string   `json:"error,omitempty"`
}

// Catalog lists the cached repositories through the mirror URL.
func Catalog(ctx context.Context, url string, timeout time.Duration) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(url, "/")+"/v2/_catalog?n=1000", nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var doc struct {
		Repositories []string `json:"repositories"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &httpStatusError{resp.StatusCode}
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, err
	}
	if doc.Repositories == nil {
		doc.Repositories = []string{}
	}
	return doc.Repositories, nil
}

type httpStatusError struct{ code int }

func (e *httpStatusError) Error() string { return "HTTP " + strconv.Itoa(e.code) }

// DiskUsage returns the bytes used by dir on a node (the step "disk
// usage": du walks the whole cache, 5 minutes by default).
func DiskUsage(ctx context.Context, h nodes.Host, dir string) (int64, error) {
	ctx, cancel := nodes.Step(ctx, "disk usage", 5*time.Minute)
	defer cancel()
	out, err := h.Run(ctx, nodes.Cmd{Args: []string{"du", "-sb", "--", dir}, Sudo: true})
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(out.Stdout))
	if len(f) == 0 {
		return 0, nil
	}
	return strconv.ParseInt(f[0], 10, 64)
}

// FromDockerHub reports whether an image reference resolves to Docker
// Hub, the only registry `registry-mirrors` applies to.
func FromDockerHub(image string) bool {
	ref := stripDigest(image)
	first, _, found := strings.Cut(ref, "/")
	if !found {
		return true // "busybox", "registry:2"
	}
	if first == "docker.io" || first == "index.docker.io" || first == "registry-1.docker.io" {
		return true
	}
	return !(strings.ContainsAny(first, ".:") || first == "localhost")
}
