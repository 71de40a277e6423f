package nodes

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// SplitWords reads back exactly what Join wrote, hostile words included.
func TestSplitWordsInvertsJoin(t *testing.T) {
	for _, words := range [][]string{hostile, {"a"}, {"", ""}, {"it's", "'", "''"}} {
		got, err := SplitWords(Join(words))
		if err != nil || !slices.Equal(got, words) {
			t.Errorf("SplitWords(Join(%q)) = %q, %v", words, got, err)
		}
	}
	for _, bad := range []string{"'open", `ends\`} {
		if _, err := SplitWords(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A node receives `[sudo -n --] sh -c TEXT NAME ARGS`: ParseCommandLine
// names the script from it, and refuses a text that is not that script's.
func TestParseCommandLineNamesTheScript(t *testing.T) {
	c := Cmd{Script: factsScript, ScriptArgs: []string{"docker", "/etc/my dir/daemon.json"}, Sudo: true}
	got, err := ParseCommandLine(CommandLine(c, false))
	if err != nil || got.Script.Name() != "facts.sh" || !got.Sudo || !slices.Equal(got.ScriptArgs, c.ScriptArgs) {
		t.Fatalf("got %+v, %v", got, err)
	}
	if got, err := ParseCommandLine(CommandLine(Cmd{Args: []string{"systemctl", "reload", "docker.service"}, Sudo: true}, true)); err != nil ||
		got.Sudo || !got.Script.IsZero() || strings.Join(got.Args, " ") != "systemctl reload docker.service" {
		t.Errorf("argv: %+v, %v", got, err)
	}
	forged := Join([]string{"sh", "-c", "rm -rf /", "facts.sh"})
	if _, err := ParseCommandLine(forged); err == nil {
		t.Error("a text that is not facts.sh was taken for it")
	}
	for _, name := range []string{"facts.sh", "swarm-nodes.sh", "write.sh", "lock.sh"} {
		if !slices.Contains(ScriptNames(), name) {
			t.Errorf("%s not loaded: %v", name, ScriptNames())
		}
	}
}

func FuzzSplitWords(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, "x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		words := []string{a, b}
		got, err := SplitWords(Join(words))
		if err != nil || !slices.Equal(got, words) {
			t.Fatalf("SplitWords(Join(%q)) = %q, %v", words, got, err)
		}
	})
}

func TestSectionsParseAndWrite(t *testing.T) {
	var w SectionWriter
	w.Section("a", "one", "", "  two ")
	w.Section("empty")
	w.Section("end")
	s := ParseSections(append([]byte("noise before\n"), w.Bytes()...))
	if !slices.Equal(s["a"], []string{"one", "", "  two "}) || !s.Has("empty") || s.Has("noise before") || !s.Has("end") {
		t.Errorf("sections %q", s)
	}
	if s.First("a") != "one" || s.First("empty") != "" || !slices.Equal(s.NonBlank("a"), []string{"one", "  two "}) {
		t.Errorf("first %q, non-blank %q", s.First("a"), s.NonBlank("a"))
	}
}

// EncodeFacts is what fakes answer facts.sh with: ParseFacts must read it
// back to the same facts.
func TestEncodeFactsRoundTrips(t *testing.T) {
	for _, f := range []*Facts{
		{OS: "Debian GNU/Linux 12 (bookworm)", User: "root", Root: true, Hostname: "m1", Service: "docker-latest", ServiceActive: true,
			ExecStart:  "{ path=/usr/bin/dockerd-latest ; argv[]=/usr/bin/dockerd-latest --config-file /etc/docker-latest/daemon.json $OPTIONS ; ignore_errors=no }",
			EnvOptions: "OPTIONS='--selinux-enabled'\nINSECURE_REGISTRY='--insecure-registry 10.0.0.5:5000'", DaemonJSONPath: "/etc/docker-latest/daemon.json",
			DaemonJSON: []byte("{\n\t\"debug\": true\n}\n\x00odd"), DaemonJSONExists: true, DockerVersion: "24.0.7", LiveMirrors: []string{"https://m.example.com/"},
			LiveExperimental: true, SwarmState: "active", SwarmNodeID: "abc", SwarmAddr: "10.0.0.1", SwarmManager: true, SwarmLeader: true,
			DaemonPID: 4242, DaemonStart: "123456", ValidateSupported: true},
		{User: "ops", Hostname: "w1", Service: "docker", DaemonJSONPath: "/etc/docker/daemon.json", DaemonJSONExists: true, DaemonJSON: []byte{},
			DockerVersion: "20.10.24", SwarmState: "inactive", DaemonStart: "0"},
		{User: "root", Root: true, Hostname: "none", DaemonJSONPath: "/etc/docker/daemon.json", DockerError: "Cannot connect to the Docker daemon"},
	} {
		got, err := ParseFacts(EncodeFacts(f))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, f)
		}
	}
}

func TestEncodeSwarmNodesRoundTrips(t *testing.T) {
	ns := []SwarmNode{
		{ID: "id-m1", Hostname: "m1", Role: "manager", State: "ready", Availability: "active", Addr: "10.0.0.1", Reachability: "reachable", Leader: true},
		{ID: "id-m2", Hostname: "m2", Role: "manager", State: "down", Availability: "active", Addr: "fd00::2", Reachability: "unreachable"},
		{ID: "id-w1", Hostname: "w1", Role: "worker", State: "ready", Availability: "drain", Addr: "10.0.0.2"},
	}
	got, err := ParseSwarmNodes(string(EncodeSwarmNodes(ns)))
	if err != nil || !reflect.DeepEqual(got, ns) {
		t.Errorf("round trip: %+v, %v", got, err)
	}
}
