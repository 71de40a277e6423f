package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/swarmctl/swarmctl/internal/configure"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
)

func testDeps(dial func(ctx context.Context, t nodes.Target, o nodes.DialOptions) (nodes.Host, error)) (*Deps, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &Deps{
		IO:     &IOStreams{In: strings.NewReader(""), Out: &out, Err: &errb, NoColor: true},
		Dial:   dial,
		Now:    func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) },
		Getenv: func(string) string { return "" },
	}, &out, &errb
}

func writeInventory(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "swarmctl.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// captureOptions runs argv and returns the engine options it produced.
func captureOptions(t *testing.T, inv string, args ...string) (configure.Options, int, string) {
	t.Helper()
	return captureOptionsEnv(t, inv, nil, args...)
}

// captureOptionsEnv is captureOptions with SWARMCTL_ variables.
func captureOptionsEnv(t *testing.T, inv string, env map[string]string, args ...string) (configure.Options, int, string) {
	t.Helper()
	var got configure.Options
	d, _, errb := testDeps(nil)
	d.Getenv = func(k string) string { return env[k] }
	g := &GlobalOptions{}
	root := &cobra.Command{Use: "swarmctl", SilenceErrors: true, SilenceUsage: true}
	root.SetOut(d.IO.Out)
	root.SetErr(d.IO.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%v", err) })
	g.addFlags(root.PersistentFlags())
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		_, warnings, err := applyEnvNames(cmd.Flags(), d.Getenv)
		warnings = append(deprecationWarnings(cmd.Flags()), warnings...)
		for _, w := range warnings {
			fmt.Fprintln(d.IO.Err, w)
		}
		return err
	}
	nodesCmd := &cobra.Command{Use: "nodes"}
	nodesCmd.AddCommand(NewCmdNodesConfigure(d, g, func(ctx context.Context, o *NodesConfigureOptions) error {
		f, err := openFleet(d, o.Global, true)
		if err != nil {
			return err
		}
		defer f.Close()
		got, err = o.configureOptions(d, f)
		return err
	}))
	root.AddCommand(nodesCmd)
	root.SetArgs(append([]string{"nodes", "configure", "-i", inv}, args...))
	err := root.ExecuteContext(context.Background())
	code := ExitOK
	if err != nil {
		code = exitCodeOf(err)
		errb.WriteString(err.Error())
	}
	return got, code, errb.String()
}

func TestConfigureFlagsToOptions(t *testing.T) {
	inv := writeInventory(t, "mirror:\n  url: http://10.0.0.5:5000\n  insecure: true\nnodes:\n  - host: n1\n")
	o, code, msg := captureOptions(t, inv)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, msg)
	}
	s := o.Settings
	if len(s.Mirrors) != 1 || !strings.HasPrefix(s.Mirrors[0], "http://10.0.0.5:5000") || !s.Insecure || s.Experimental == nil || !*s.Experimental || s.Remove {
		t.Errorf("defaults from the inventory: %+v", s)
	}
	if o.Apply != configure.ApplyAuto || o.MaxUnavailable != 1 || o.Timeout != time.Minute || o.DryRun {
		t.Errorf("defaults: %+v", o)
	}

	o, code, msg = captureOptions(t, inv, "--mirror", "https://a.example.com", "--mirror", "https://b.example.com",
		"--insecure=false", "--experimental=false", "--apply", "none", "--drain", "--max-unavailable", "2",
		"--daemon-json", "/etc/x.json", "--service", "docker-latest", "--ready-timeout", "5s", "--dry-run", "--parallel", "3", "--fail-fast")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, msg)
	}
	s = o.Settings
	if len(s.Mirrors) != 2 || s.Insecure || *s.Experimental || o.Apply != configure.ApplyNone || !o.Drain || o.MaxUnavailable != 2 ||
		o.DaemonJSON != "/etc/x.json" || o.Service != "docker-latest" || o.Timeout != 5*time.Second || !o.DryRun || o.Parallel != 3 || !o.FailFast {
		t.Errorf("flags: %+v", o)
	}

	o, _, _ = captureOptions(t, inv, "--remove")
	if !o.Settings.Remove || o.Settings.Experimental != nil {
		t.Errorf("--remove must leave experimental alone: %+v", o.Settings)
	}
	o, _, _ = captureOptions(t, inv, "--remove", "--experimental=false")
	if o.Settings.Experimental == nil || *o.Settings.Experimental {
		t.Errorf("--remove --experimental=false: %+v", o.Settings)
	}
}

func TestConfigureBadInputExits2(t *testing.T) {
	inv := writeInventory(t, "nodes:\n  - host: n1\n")
	for _, args := range [][]string{
		{"--mirror", "ftp://x.example.com"},
		{"--mirror", "https://user:pw@x.example.com"},
		{}, // no mirror anywhere
		{"--mirror", "https://x.example.com", "--apply", "sometimes"},
		{"--mirror", "https://x.example.com", "--max-unavailable", "0"},
	} {
		if _, code, msg := captureOptions(t, inv, args...); code != ExitError {
			t.Errorf("%v: exit %d (%s), want 2", args, code, msg)
		}
	}
}

// factsOutput is what the facts script prints for a plain docker node
// (mirrors as docker info prints them, JSON).
func factsOutput(daemonJSON string, mirrors string) string {
	f := &member.Facts{OS: "Debian", User: "root", Hostname: "n", Service: "docker", ServiceActive: true, DaemonPID: 77,
		ExecStart:      "{ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd -H fd:// ; ignore_errors=no }",
		DaemonJSONPath: "/etc/docker/daemon.json", DaemonJSONExists: true, DaemonJSON: []byte(daemonJSON),
		LiveExperimental: true, DockerVersion: "20.10.24", SwarmState: "inactive"}
	if err := json.Unmarshal([]byte(mirrors), &f.LiveMirrors); err != nil {
		panic(err)
	}
	return string(member.EncodeFacts(f))
}

func TestConfigureRunOutputAndExitCodes(t *testing.T) {
	files := map[string]string{
		"n1": `{"registry-mirrors": ["https://m.example.com"], "experimental": true}`,
		"n2": "{\n  \"debug\": true\n  \"x\": 1\n}\n",
		"n3": `{"debug": true}`,
	}
	hosts := map[string]*fakehost.Host{}
	for name, content := range files {
		content := content
		hosts[name] = fakehost.New(name, map[string]string{"/etc/docker/daemon.json": content}, func(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
			if c.Script.Name() != "facts.sh" {
				return nodes.Output{}, fmt.Errorf("only facts expected, got %s", nodes.CommandLine(c, true))
			}
			return nodes.Output{Stdout: []byte(factsOutput(content, `["https://m.example.com/"]`))}, nil
		})
	}
	dial := func(ctx context.Context, t nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
		return hosts[t.Host], nil
	}
	inv := writeInventory(t, "mirror:\n  url: https://m.example.com\nnodes:\n  - host: n1\n  - host: n2\n  - host: n3\n")

	// Dry run, text: diff on stdout, progress on stderr, exit 1 (n2 is broken).
	d, out, errb := testDeps(dial)
	code := Run(context.Background(), d, []string{"nodes", "configure", "-i", inv, "--dry-run"})
	if code != ExitFailed {
		t.Errorf("exit %d, want 1; stderr:\n%s", code, errb)
	}
	if !strings.Contains(out.String(), "# n3: would-restart") || !strings.Contains(out.String(), "/etc/docker/daemon.json") {
		t.Errorf("stdout:\n%s", out)
	}
	for _, want := range []string{"n1: unchanged", "n2: failed: /etc/docker/daemon.json: line 3, column", "n3: would-restart", "dry run: nothing was changed"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb)
		}
	}
	for _, h := range hosts {
		if len(h.Writes) != 0 || len(h.Commands) != 1 {
			t.Errorf("%s: %d commands, writes %v", h.Name(), len(h.Commands), h.Writes)
		}
	}

	// JSON: one document with the documented fields.
	d, out, _ = testDeps(dial)
	code = Run(context.Background(), d, []string{"nodes", "configure", "-i", inv, "--dry-run", "-o", "json", "--limit", "n1,n3"})
	if code != ExitOK {
		t.Errorf("exit %d, want 0", code)
	}
	var doc struct {
		SchemaVersion int    `json:"schema_version"`
		Command       string `json:"command"`
		Nodes         []map[string]any
		Summary       map[string]int
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.SchemaVersion != SchemaVersion || doc.Command != "nodes configure" || len(doc.Nodes) != 2 || doc.Summary["unchanged"] != 1 || doc.Summary["would-restart"] != 1 {
		t.Errorf("doc %+v", doc)
	}
	for _, k := range []string{"name", "address", "outcome", "path", "service", "role", "changes", "duration_ms"} {
		if _, ok := doc.Nodes[1][k]; !ok {
			t.Errorf("node lacks %q: %v", k, doc.Nodes[1])
		}
	}
	if doc.Nodes[1]["diff"] == "" || doc.Nodes[1]["diff"] == nil {
		t.Errorf("dry-run JSON lacks the diff: %v", doc.Nodes[1])
	}
}

// A --mirror value with a line break is refused, not cut at the break
// (pflag's CSV-based StringSlice kept only the first line).
func TestMirrorFlagRefusesLineBreaks(t *testing.T) {
	var got []string
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	mirrorsVar(fs, &got, "mirror", "")
	if err := fs.Parse([]string{"--mirror", "https://m.example.test\ntouch /tmp/pwned"}); err == nil {
		t.Errorf("accepted a line break: %q", got)
	}
	got = nil
	fs = pflag.NewFlagSet("x", pflag.ContinueOnError)
	mirrorsVar(fs, &got, "mirror", "")
	if err := fs.Parse([]string{"--mirror", "https://a.test, https://b.test", "--mirror", "https://c.test"}); err != nil || strings.Join(got, " ") != "https://a.test https://b.test https://c.test" {
		t.Errorf("got %q %v", got, err)
	}
}

// --limit leaving managers out hands them to the engine as observers
// (for the swarm guard); without --limit there are none.
func TestConfigureLimitPassesOtherManagersAsObservers(t *testing.T) {
	inv := writeInventory(t, "mirror:\n  url: https://m.example.com\nnodes:\n"+
		"  - {host: 10.0.0.1, name: m1, role: manager}\n  - {host: 10.0.0.2, name: m2, role: manager}\n"+
		"  - {host: 10.0.0.3, name: w1, role: worker}\n  - {host: 10.0.0.4, name: w2}\n")
	names := func(o configure.Options) string {
		var s []string
		for _, n := range o.Observers {
			s = append(s, n.Name+"@"+n.Address())
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"--limit", "w1"}, "m1@10.0.0.1,m2@10.0.0.2"},
		{[]string{"--limit", "worker,m2"}, "m1@10.0.0.1"},
		{[]string{"--limit", "manager"}, ""},
	} {
		o, code, errs := captureOptions(t, inv, tc.args...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d %s", tc.args, code, errs)
		}
		if got := names(o); got != tc.want {
			t.Errorf("%v: observers %q, want %q", tc.args, got, tc.want)
		}
		for _, n := range o.Observers {
			if !n.Dialled() {
				t.Errorf("%s: no dialer", n.Name)
			}
		}
	}
}
