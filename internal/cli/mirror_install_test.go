package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/stack"
)

func exitErr(c nodes.Cmd, msg string) error {
	return &nodes.ExitError{Command: nodes.CommandLine(c, true), Status: 1, Stderr: []byte(msg)}
}

// fakeManager answers what a dry-run install asks a manager with no stack.
func fakeManager(name string, files map[string]string) *fakehost.Host {
	return fakehost.New(name, files, func(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		switch {
		case c.Script.Name() == "facts.sh":
			return nodes.Output{Stdout: []byte(swarmFacts(name, `{}`, "[]", true))}, nil
		case len(c.Args) > 2 && c.Args[0] == "docker" && c.Args[1] == "service" && c.Args[2] == "inspect":
			return nodes.Output{}, exitErr(c, "Error: no such service: registry_registry-mirror")
		case len(c.Args) > 0 && c.Args[0] == "test":
			return nodes.Output{}, exitErr(c, "")
		case len(c.Args) > 0 && c.Args[0] == "stat":
			return nodes.Output{Stdout: []byte("644\n")}, nil
		}
		return nodes.Output{}, exitErr(c, "unexpected command "+nodes.CommandLine(c, true))
	})
}

func noDial(t *testing.T) func(context.Context, nodes.Target, nodes.DialOptions) (nodes.Host, error) {
	return func(_ context.Context, tg nodes.Target, _ nodes.DialOptions) (nodes.Host, error) {
		t.Errorf("dialled %s: input errors must stop before any node is touched", tg.Host)
		return nil, fmt.Errorf("no")
	}
}

func TestStackFlagsWinOverInventory(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("inv-secret\n"), 0o600)
	inv := writeInventory(t, `mirror:
  fqdn: inv.example.com
  image: registry:2
  traefik: v2
  publish: 5001
  constraints: [node.role==manager]
  upstream_username: invuser
  upstream_password_file: `+pwFile+`
nodes:
  - host: n1
`)
	var got stack.Rendered
	capture := func(args ...string) int {
		d, _, errb := testDeps(noDial(t))
		g := &GlobalOptions{}
		root := &cobra.Command{Use: "swarmctl", SilenceErrors: true, SilenceUsage: true}
		g.addFlags(root.PersistentFlags())
		root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return applyEnv(cmd.Flags(), d.Getenv) }
		mirror := &cobra.Command{Use: "mirror"}
		root.AddCommand(mirror)
		mirror.AddCommand(NewCmdMirrorInstall(d, g, func(ctx context.Context, o *MirrorInstallOptions) error {
			f, err := openFleet(d, o.Global, true)
			if err != nil {
				return err
			}
			defer f.Close()
			got, err = o.Stack.render(f.Inventory())
			return err
		}))
		root.SetArgs(append([]string{"mirror", "install", "-i", inv}, args...))
		err := root.ExecuteContext(context.Background())
		if err != nil {
			errb.WriteString(err.Error())
			t.Logf("%v: %s", args, errb)
			return exitCodeOf(err)
		}
		return 0
	}
	if code := capture(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	v := got.Values
	if v.FQDN != "inv.example.com" || v.Traefik != "v2" || v.Publish != 5001 || v.UpstreamPassword != "inv-secret" ||
		len(v.Constraints) != 1 || v.URL != "https://inv.example.com" {
		t.Errorf("inventory values: %+v", v)
	}
	t.Setenv("SWARMCTL_TEST_PW", "flag-secret")
	if code := capture("--fqdn", "flag.example.com", "--traefik", "none", "--publish", "0", "--url", "http://10.0.0.9:5000",
		"--constraint", "node.hostname==m1", "--constraint", "node.labels.x==y", "--replicas", "2", "--replica-node", "m1", "--replica-node", "m2", "--upstream-username", "u2",
		"--upstream-password-env", "SWARMCTL_TEST_PW", "--stack", "mirror", "--remote-url", "http://10.0.0.2:5000"); code != ExitError {
		t.Fatalf("traefik none without a published port must be refused, exit %d", code)
	}
	if code := capture("--fqdn", "flag.example.com", "--traefik", "none", "--publish-mode", "host", "--url", "http://10.0.0.9:5000",
		"--constraint", "node.hostname==m1", "--constraint", "node.labels.x==y", "--replicas", "2", "--replica-node", "m1", "--replica-node", "m2", "--upstream-username", "u2",
		"--upstream-password-env", "SWARMCTL_TEST_PW", "--stack", "mirror", "--remote-url", "http://10.0.0.2:5000"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	v = got.Values
	if v.FQDN != "flag.example.com" || v.Traefik != "none" || v.PublishMode != "host" || v.URL != "http://10.0.0.9:5000" ||
		strings.Join(v.Constraints, ",") != "node.hostname==m1,node.labels.x==y" || v.Replicas != 2 || strings.Join(v.ReplicaNodes, ",") != "m1,m2" ||
		v.UpstreamUsername != "u2" || v.UpstreamPassword != "flag-secret" || v.StackName != "mirror" || v.RemoteURL != "http://10.0.0.2:5000" {
		t.Errorf("flags must win: %+v", v)
	}
}

func TestInstallBadInputExits2BeforeAnyNode(t *testing.T) {
	inv := writeInventory(t, "mirror:\n  fqdn: m.example.com\nnodes:\n  - host: n1\n")
	for _, args := range [][]string{
		{"--traefik", "v4"},
		{"--publish-mode", "both"},
		{"--constraint", "node.role=manager"},
		{"--replicas", "0"},
		{"--publish", "70000"},
		{"--fqdn", "bad_host!"},
		{"--remote-url", "ftp://x"},
		{"--image", "Not An Image"},
		{"--upstream-username", "u"}, // no password
		{"--upstream-password-file", "/nonexistent/pw", "--upstream-username", "u"},
		{"--ttl", "1h", "--image", "registry:2"}, // registry:2 has no TTL
		{"--templates", "/nonexistent"},
		{"--wait", "-1s"},
	} {
		d, _, errb := testDeps(noDial(t))
		if code := Run(context.Background(), d, append([]string{"mirror", "install", "-i", inv}, args...)); code != ExitError {
			t.Errorf("%v: exit %d, want 2; stderr:\n%s", args, code, errb)
		}
	}
	// Several problems are reported at once.
	d, _, errb := testDeps(noDial(t))
	Run(context.Background(), d, []string{"mirror", "install", "-i", inv, "--traefik", "v9", "--image", "X Y"})
	if !strings.Contains(errb.String(), "--traefik") || !strings.Contains(errb.String(), "--image") {
		t.Errorf("want both problems:\n%s", errb)
	}
}

func TestInstallDryRunShowsDiffNeverThePassword(t *testing.T) {
	const secret = "s3cr3t-P@ss:word"
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte(secret+"\n"), 0o600)
	inv := writeInventory(t, `mirror:
  url: http://10.0.0.1:5000
  traefik: none
  publish_mode: host
  upstream_username: bob
  upstream_password_file: `+pwFile+`
nodes:
  - {host: w1, role: worker}
  - {host: m1, role: manager}
`)
	var mu sync.Mutex
	dialled := map[string]int{}
	mgr := fakeManager("m1", nil)
	dial := func(_ context.Context, tg nodes.Target, _ nodes.DialOptions) (nodes.Host, error) {
		mu.Lock()
		dialled[tg.Host]++
		mu.Unlock()
		if tg.Host != "m1" {
			return nil, fmt.Errorf("only the manager should be dialled")
		}
		return mgr, nil
	}
	for _, format := range []string{"text", "json"} {
		d, out, errb := testDeps(dial)
		outFile := filepath.Join(t.TempDir(), "res.json")
		code := Run(context.Background(), d, []string{"mirror", "install", "-i", inv, "--dry-run", "-o", format, "--output-file", outFile, "-v"})
		if code != ExitOK {
			t.Fatalf("%s: exit %d\n%s", format, code, errb)
		}
		artifact, _ := os.ReadFile(outFile)
		all := out.String() + errb.String() + string(artifact)
		if strings.Contains(all, secret) || strings.Contains(all, "s3cr3t") {
			t.Fatalf("%s: the password was printed:\n%s", format, all)
		}
		if format == "text" {
			for _, want := range []string{"+++ " + stack.DefaultConfigFile, "remoteurl", "username: bob", `password: "***"`,
				"would run docker stack deploy --prune registry on m1", "mode: host"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("text output lacks %q:\n%s", want, out)
				}
			}
			if !strings.Contains(errb.String(), "dry run: nothing was changed") {
				t.Errorf("stderr:\n%s", errb)
			}
			continue
		}
		var doc struct {
			SchemaVersion int    `json:"schema_version"`
			Command       string `json:"command"`
			DryRun        bool   `json:"dry_run"`
			Manager       string `json:"manager"`
			Changed       bool   `json:"changed"`
			Result        struct {
				Plan struct {
					Deploy bool `json:"deploy"`
					Files  []struct {
						Path string `json:"path"`
						Diff string `json:"diff"`
					} `json:"files"`
				} `json:"plan"`
			} `json:"result"`
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if doc.SchemaVersion != SchemaVersion || doc.Command != "mirror install" || !doc.DryRun || doc.Manager != "m1" || !doc.Changed ||
			!doc.Result.Plan.Deploy || len(doc.Result.Plan.Files) != 2 || doc.Result.Plan.Files[0].Diff == "" {
			t.Errorf("doc %+v", doc)
		}
	}
	if len(mgr.Writes) != 0 {
		t.Errorf("dry run wrote %v", mgr.Writes)
	}
	for _, c := range mgr.Commands {
		if len(c.Args) > 1 && c.Args[0] == "docker" && (c.Args[1] == "stack" || c.Args[1] == "network") {
			t.Errorf("dry run ran %s", nodes.CommandLine(c, true))
		}
	}
	if dialled["w1"] != 0 {
		t.Errorf("workers need not be dialled for install: %v", dialled)
	}
}

func TestInstallManagerSelection(t *testing.T) {
	inv := writeInventory(t, "mirror:\n  url: http://10.0.0.1:5000\n  traefik: none\nnodes:\n  - {host: m1, role: manager}\n  - {host: m2, role: manager}\n")
	hosts := map[string]*fakehost.Host{"m1": fakeManager("m1", nil), "m2": fakeManager("m2", nil)}
	dial := func(_ context.Context, tg nodes.Target, _ nodes.DialOptions) (nodes.Host, error) {
		if tg.Host == "m1" {
			return nil, fmt.Errorf("connection refused")
		}
		return hosts[tg.Host], nil
	}
	d, out, errb := testDeps(dial)
	if code := Run(context.Background(), d, []string{"mirror", "install", "-i", inv, "--dry-run", "-o", "json"}); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb)
	}
	if !strings.Contains(out.String(), `"manager": "m2"`) {
		t.Errorf("first reachable manager is m2:\n%s", out)
	}
	d, _, errb = testDeps(dial)
	if code := Run(context.Background(), d, []string{"mirror", "install", "-i", inv, "--dry-run", "--manager", "m1"}); code != ExitFailed ||
		!strings.Contains(errb.String(), "m1 is unreachable") {
		t.Errorf("named unreachable manager: exit %d\n%s", code, errb)
	}
	d, _, errb = testDeps(noDial(t))
	if code := Run(context.Background(), d, []string{"mirror", "install", "-i", inv, "--manager", "m9"}); code != ExitError {
		t.Errorf("unknown manager: exit %d\n%s", code, errb)
	}
}

func TestRenderWritesFilesAndRedactsOnStdout(t *testing.T) {
	const secret = "hunter2-xyz"
	t.Setenv("SWARMCTL_TEST_PW", secret)
	inv := writeInventory(t, "mirror:\n  fqdn: m.example.com\n  traefik: v1\n  upstream_username: u\n  upstream_password_env: SWARMCTL_TEST_PW\n")
	d, out, errb := testDeps(noDial(t))
	if code := Run(context.Background(), d, []string{"mirror", "render", "-i", inv}); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb)
	}
	if strings.Contains(out.String(), secret) || !strings.Contains(out.String(), "traefik.frontend.rule=Host:m.example.com") {
		t.Errorf("stdout:\n%s", out)
	}
	dir := filepath.Join(t.TempDir(), "out")
	d, out, errb = testDeps(noDial(t))
	if code := Run(context.Background(), d, []string{"mirror", "render", "-i", inv, "--out-dir", dir, "--traefik", "v3"}); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb)
	}
	cfg := filepath.Join(dir, filepath.Base(stack.DefaultConfigFile))
	b, err := os.ReadFile(cfg)
	if err != nil || !strings.Contains(string(b), secret) {
		t.Fatalf("the written config must hold the real password: %v\n%s", err, b)
	}
	if st, _ := os.Stat(cfg); st.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600", st.Mode().Perm())
	}
	sb, _ := os.ReadFile(filepath.Join(dir, filepath.Base(stack.DefaultStackFile)))
	if !strings.Contains(string(sb), "traefik.http.routers") || strings.Contains(string(sb), secret) {
		t.Errorf("stack file:\n%s", sb)
	}
	if strings.Contains(out.String(), secret) {
		t.Errorf("stdout: %s", out)
	}
}

func TestUninstallNeedsOnlyNameAndPaths(t *testing.T) {
	// No fqdn: install would refuse, uninstall must not.
	inv := writeInventory(t, "mirror:\n  stack: reg\nnodes:\n  - host: n1\n")
	var f StackFlags
	loaded, err := inventory.Load(inv)
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.values(loaded)
	if err != nil || v.StackName != "reg" || v.DataDir != stack.DefaultDataDir {
		t.Errorf("values %+v, %v", v, err)
	}
	d, _, errb := testDeps(noDial(t))
	if code := Run(context.Background(), d, []string{"mirror", "uninstall", "-i", inv, "--stack", "bad name"}); code != ExitError {
		t.Errorf("bad stack name: exit %d\n%s", code, errb)
	}
	d, _, errb = testDeps(noDial(t))
	if code := Run(context.Background(), d, []string{"mirror", "uninstall", "-i", inv, "--data-dir", "relative/dir", "--purge"}); code != ExitError {
		t.Errorf("relative data dir: exit %d\n%s", code, errb)
	}
}

// --publish and --delete-enabled default to the inventory's publish and
// delete_enabled; a flag given wins. publish: 0 and --publish 0 both mean
// "not published"; no key at all means 5000.
func TestStackFlagsPublishAndDeleteEnabled(t *testing.T) {
	render := func(invText string, args ...string) stack.Rendered {
		t.Helper()
		inv, err := inventory.Load(writeInventory(t, invText))
		if err != nil {
			t.Fatal(err)
		}
		var f StackFlags
		fs := pflag.NewFlagSet("install", pflag.ContinueOnError)
		f.addFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		r, err := f.render(inv)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return r
	}
	base := "mirror:\n  fqdn: m.example.com\n"
	cases := []struct {
		name, inv string
		args      []string
		publish   int
		deleteOn  bool
	}{
		{"defaults", base, nil, 5000, true},
		{"inventory publish 0", base + "  publish: 0\n", nil, 0, true},
		{"flag publish 0", base, []string{"--publish", "0"}, 0, true},
		{"flag wins over publish 0", base + "  publish: 0\n", []string{"--publish", "5002"}, 5002, true},
		{"inventory delete off", base + "  delete_enabled: false\n", nil, 5000, false},
		{"flag delete off", base, []string{"--delete-enabled=false"}, 5000, false},
		{"flag wins over delete off", base + "  delete_enabled: false\n", []string{"--delete-enabled"}, 5000, true},
	}
	for _, tc := range cases {
		r := render(tc.inv, tc.args...)
		if r.Values.Publish != tc.publish {
			t.Errorf("%s: publish %d, want %d", tc.name, r.Values.Publish, tc.publish)
		}
		want := fmt.Sprintf("  delete:\n    enabled: %v\n", tc.deleteOn)
		if !strings.Contains(string(r.Configs[0].Data), want) {
			t.Errorf("%s: config lacks %q:\n%s", tc.name, want, r.Configs[0].Data)
		}
	}
	inv, err := inventory.Load(writeInventory(t, base))
	if err != nil {
		t.Fatal(err)
	}
	var f StackFlags
	fs := pflag.NewFlagSet("install", pflag.ContinueOnError)
	f.addFlags(fs)
	_ = fs.Parse([]string{"--publish", "-1"})
	if _, err := f.render(inv); err == nil || exitCodeOf(err) != ExitError {
		t.Errorf("--publish -1: %v", err)
	}
}

func TestNotCheckedWarning(t *testing.T) {
	if w := notCheckedWarning("m1", nil); w != "" {
		t.Errorf("not waited: %q", w)
	}
	if w := notCheckedWarning("m1", &stack.Health{OK: true, Via: stack.HealthViaTask}); w != "" {
		t.Errorf("checked: %q", w)
	}
	w := notCheckedWarning("m1", &stack.Health{Via: stack.HealthViaTask, NotChecked: "no task runs on the manager"})
	if w != "registry not checked from the manager m1: no task runs on the manager" {
		t.Errorf("warning %q", w)
	}
}

// Every mirror setting with a flag tag is a flag of the stack commands,
// whose help names the inventory key it overrides (the declaration in
// inventory.Mirror is the only list).
func TestEveryMirrorSettingHasItsFlag(t *testing.T) {
	for _, cmd := range []string{"install", "render", "uninstall"} {
		d, out, _ := testDeps(nil)
		Run(context.Background(), d, []string{"mirror", cmd, "--help"})
		n := 0
		for _, mf := range inventory.MirrorFields() {
			if mf.Flag == "" {
				continue
			}
			n++
			line := ""
			for _, l := range strings.Split(out.String(), "\n") {
				if strings.Contains(l, "--"+mf.Flag+" ") {
					line = l
				}
			}
			if !strings.Contains(line, "mirror."+mf.Key) {
				t.Errorf("mirror %s: --%s missing or not naming mirror.%s: %q", cmd, mf.Flag, mf.Key, line)
			}
		}
		if n < 20 {
			t.Errorf("only %d settings have flags", n)
		}
	}
}
