package hoststoml

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// profiles are the edits every input of testdata/in goes through.
var profiles = map[string]func(reg string, in []byte) (Result, error){
	// two replicas, the node's own first, one with a company CA, and a
	// daemon.json that has a Hub mirror and lists the second as insecure.
	"two": func(reg string, in []byte) (Result, error) {
		return Apply(in, Desired{Registry: reg, Mirrors: []Mirror{
			{URL: "https://ghcr.mirror.example.com"},
			{URL: "http://10.0.0.5:5001", CAPath: "/etc/docker/certs.d/10.0.0.5:5001/ca.crt"},
		}, DaemonJSON: &DaemonJSON{Mirrors: []string{"https://hub.mirror.example.com/"}, Insecure: []string{"10.0.0.5:5001"}}})
	},
	// a mirror serving the registry under a path, daemon.json unknown.
	"override": func(reg string, in []byte) (Result, error) {
		return Apply(in, Desired{Registry: reg, Mirrors: []Mirror{{URL: "https://proxy.example.com/v2/ghcr", OverridePath: true}}})
	},
	// Apply with no mirrors takes swarmctl's tables out.
	"none":   func(reg string, in []byte) (Result, error) { return Apply(in, Desired{Registry: reg}) },
	"remove": func(_ string, in []byte) (Result, error) { return Remove(in, nil) },
	"remove-one": func(_ string, in []byte) (Result, error) {
		return Remove(in, []string{"HTTPS://ghcr.mirror.example.com:443/"})
	},
}

func registryOf(name string) string {
	if strings.HasPrefix(name, "hub-") {
		return "docker.io"
	}
	return "ghcr.io"
}

func inputs(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/in/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	in := map[string][]byte{"missing": nil}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in[strings.TrimSuffix(filepath.Base(f), ".toml")] = b
	}
	return in
}

// render writes a result as the golden text: changes, warnings, then the
// exact bytes of the file (or "(delete)", "(no file)", or the error).
func render(res Result, err error) []byte {
	var b bytes.Buffer
	if err != nil {
		fmt.Fprintf(&b, "error:\n%s\n", err)
		return b.Bytes()
	}
	fmt.Fprintf(&b, "changed: %v\n", res.Changed)
	for _, c := range res.Changes {
		fmt.Fprintf(&b, "change: %s %s %s\n", c.Action, c.Host, c.Detail)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(&b, "warning: %s: %s\n", w.Code, w.Message)
	}
	switch {
	case res.Delete:
		b.WriteString("-- (delete the file) --\n")
	case res.Out == nil:
		b.WriteString("-- (no file) --\n")
	default:
		b.WriteString("-- hosts.toml --\n")
		b.Write(res.Out)
	}
	return b.Bytes()
}

func checkGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

// TestGolden runs every input through every profile and compares with
// testdata/golden/<input>.<profile>.txt (go test -update rewrites them).
// Each result must also be stable: the same edit on the output changes
// nothing.
func TestGolden(t *testing.T) {
	for name, in := range inputs(t) {
		for pname, edit := range profiles {
			t.Run(name+"."+pname, func(t *testing.T) {
				reg := registryOf(name)
				res, err := edit(reg, in)
				checkGolden(t, filepath.Join("testdata/golden", name+"."+pname+".txt"), render(res, err))
				if err != nil {
					return
				}
				if res.Changed != !bytes.Equal(res.Out, in) && !res.Delete {
					t.Errorf("Changed=%v but bytes equal=%v", res.Changed, bytes.Equal(res.Out, in))
				}
				if res.Out != nil {
					if _, err := Parse(res.Out); err != nil {
						t.Fatalf("output does not parse: %v", err)
					}
				}
				if res.Delete {
					return
				}
				again, err := edit(reg, res.Out)
				if err != nil || again.Changed || !bytes.Equal(again.Out, res.Out) {
					t.Errorf("second run: err %v, changed %v %+v\n%s", err, again.Changed, again.Changes, again.Out)
				}
			})
		}
	}
}

// TestBad: every file of testdata/bad is refused by Parse with a line and
// column, kept in testdata/golden/bad.<name>.txt, and Apply and Remove
// refuse it the same way.
func TestBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad inputs: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".toml")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f, perr := Parse(b)
			if perr == nil {
				t.Fatalf("Parse accepted it: %+v", f)
			}
			if !strings.Contains(perr.Error(), ": line ") || !strings.Contains(perr.Error(), ", column ") {
				t.Errorf("error has no line and column: %v", perr)
			}
			checkGolden(t, filepath.Join("testdata/golden", "bad."+name+".txt"), []byte(perr.Error()+"\n"))
			_, aerr := Apply(b, Desired{Registry: "ghcr.io", Mirrors: []Mirror{{URL: "https://m.example.com"}}})
			_, rerr := Remove(b, nil)
			if aerr == nil || rerr == nil || aerr.Error() != perr.Error() || rerr.Error() != perr.Error() {
				t.Errorf("Apply/Remove do not refuse the same way:\nparse  %v\napply  %v\nremove %v", perr, aerr, rerr)
			}
		})
	}
}
