package member

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A worker (ControlAvailable=false) cannot be leader: the facts script must
// not spend a second docker CLI run asking, while a manager still does.
func TestFactsScriptAsksLeaderOnlyOnManagers(t *testing.T) {
	for _, tc := range []struct {
		name, control string
		wantNode      bool
		wantLeader    bool
	}{
		{"worker", "false", false, false},
		{"manager", "true", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			calls := filepath.Join(dir, "docker-calls")
			docker := `#!/bin/sh
echo "$1" >> ` + calls + `
case "$1" in
info) echo '["https://m.example.com/"]|true|24.0.7|active|id1|10.0.0.2|` + tc.control + `' ;;
node) echo true ;;
esac
`
			fakeSystemctl(t, dir, map[string]string{"docker.service": "MainPID=3\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n"})
			for name, body := range map[string]string{"docker": docker} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("sh", "-c", factsScript.Text(), factsScript.Name(), "docker", filepath.Join(dir, "daemon.json"))
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("facts script: %v", err)
			}
			f, err := ParseFacts(out)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(calls)
			gotNode := strings.Contains(string(b), "node")
			if gotNode != tc.wantNode {
				t.Errorf("docker calls %q: node inspect run = %v, want %v", b, gotNode, tc.wantNode)
			}
			if f.SwarmLeader != tc.wantLeader || f.SwarmManager != (tc.control == "true") || f.DockerVersion != "24.0.7" {
				t.Errorf("facts: leader %v manager %v version %q", f.SwarmLeader, f.SwarmManager, f.DockerVersion)
			}
		})
	}
}
