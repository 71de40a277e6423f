package cli

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

const mod = "github.com/swarmctl/swarmctl/internal/"

// The arrows point one way: commands -> fleet -> engines -> transport.
// `go list` reads the real import graph (transitive, without tests), so
// the rules stay true as code moves.
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		name := strings.TrimPrefix(f[0], mod)
		deps[name] = deps[name][:0:0]
		for _, d := range f[1:] {
			if strings.HasPrefix(d, mod) {
				deps[name] = append(deps[name], strings.TrimPrefix(d, mod))
			}
		}
	}
	imports := func(pkg, dep string) bool {
		if _, ok := deps[pkg]; !ok {
			t.Fatalf("package %s not found by go list", pkg)
		}
		return slices.Contains(deps[pkg], dep)
	}
	for _, want := range []string{"fleet", "configure", "stack", "status"} {
		if !imports("cli", want) {
			t.Errorf("cli does not import %s", want)
		}
	}
	// No package below the commands imports them, and only the commands
	// import the fleet layer: the engines work on members, never on it.
	for pkg := range deps {
		if pkg != "cli" && imports(pkg, "cli") {
			t.Errorf("%s imports cli: the arrows must point down", pkg)
		}
		if pkg != "cli" && pkg != "fleet" && imports(pkg, "fleet") {
			t.Errorf("%s imports fleet: only the commands use the fleet layer", pkg)
		}
	}
	for _, e := range []string{"configure", "stack", "status", "cli"} {
		if imports("fleet", e) {
			t.Errorf("fleet imports %s: it sits below the commands and beside no engine", e)
		}
	}
	for pkg, ds := range deps {
		if pkg != "nodes" && !strings.HasPrefix(pkg, "nodes/") {
			continue
		}
		for _, d := range ds {
			if d != "nodes" && !strings.HasPrefix(d, "nodes/") {
				t.Errorf("%s imports %s: the transport imports none of swarmctl's other packages", pkg, d)
			}
		}
	}
	if imports("status", "configure") {
		t.Error("status imports configure: a node's mirror state belongs beside its facts (member)")
	}
}

// Every remote script is a file under internal/*/scripts/ that its package
// loads (nodes.MustScript), and every script swarmctl runs is such a file.
func TestEveryRemoteScriptIsALoadedFile(t *testing.T) {
	files, err := filepath.Glob("../*/scripts/*.sh")
	if err != nil || len(files) == 0 {
		t.Fatalf("no script files: %v", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	slices.Sort(names)
	if got := nodes.ScriptNames(); !slices.Equal(got, names) {
		t.Errorf("loaded scripts %v, files %v", got, names)
	}
}
