package nodes

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeBin writes fake systemctl and docker commands that answer like a
// docker-latest node whose unit passes --config-file cfg.
func fakeBin(t *testing.T, cfg, envFile string) string {
	t.Helper()
	dir := t.TempDir()
	systemctl := `#!/bin/sh
case "$1" in
is-enabled) [ "$2" = docker-latest.service ] && echo enabled || echo masked ;;
is-active) echo active ;;
show)
  case "$*" in
  *"--value"*EnvironmentFiles*|*EnvironmentFiles*--value*) echo "-` + envFile + ` (ignore_errors=yes)" ;;
  *"--value"*) echo "{ path=/usr/bin/dockerd-latest ; argv[]=/usr/bin/dockerd-latest --config-file ` + cfg + ` -H fd:// ; ignore_errors=no }" ;;
  *) echo "MainPID=4242"; echo "ActiveEnterTimestampMonotonic=123456"
     echo "ExecStart={ path=/usr/bin/dockerd-latest ; argv[]=/usr/bin/dockerd-latest --config-file ` + cfg + ` -H fd:// ; ignore_errors=no }"
     echo "Environment=" ; echo "EnvironmentFiles=` + envFile + ` (ignore_errors=yes)" ;;
  esac ;;
esac
`
	docker := `#!/bin/sh
case "$1" in
info) echo '["http://10.0.0.1:5000/"]|true|20.10.24|active|abc123|10.0.0.2|true' ;;
node) echo true ;;
esac
`
	for name, body := range map[string]string{"systemctl": systemctl, "docker": docker} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runFactsScript(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", factsScript, "sh"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("facts script: %v", err)
	}
	return out
}

func TestFactsScriptDetectsUnitConfigAndSwarm(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "daemon.json")
	content := "{\n\t\"log-driver\": \"journald\"\n}\n\x00odd bytes survive"
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	env := filepath.Join(dir, "docker-latest")
	if err := os.WriteFile(env, []byte("# comment\nOPTIONS='--selinux-enabled --registry-mirror=https://x'\nOTHER=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := ParseFacts(runFactsScript(t, fakeBin(t, cfg, env), "", ""))
	if err != nil {
		t.Fatal(err)
	}
	if f.Service != "docker-latest" || !f.ServiceActive || f.DaemonJSONPath != cfg {
		t.Errorf("service=%q active=%v cfg=%q", f.Service, f.ServiceActive, f.DaemonJSONPath)
	}
	if !f.DaemonJSONExists || string(f.DaemonJSON) != content {
		t.Errorf("daemon.json = %q", f.DaemonJSON)
	}
	if !strings.Contains(f.EnvOptions, "--registry-mirror=https://x") || strings.Contains(f.EnvOptions, "OTHER") {
		t.Errorf("env options = %q", f.EnvOptions)
	}
	if f.DaemonPID != 4242 || f.DaemonStart != "123456" || !strings.Contains(f.ExecStart, "dockerd-latest") {
		t.Errorf("unit = %d %q %q", f.DaemonPID, f.DaemonStart, f.ExecStart)
	}
	if len(f.LiveMirrors) != 1 || f.LiveMirrors[0] != "http://10.0.0.1:5000/" || !f.LiveExperimental || f.DockerVersion != "20.10.24" {
		t.Errorf("info = %+v", f)
	}
	if f.Role() != "leader" || f.SwarmAddr != "10.0.0.2" || f.ValidateSupported {
		t.Errorf("role=%s addr=%s validate=%v", f.Role(), f.SwarmAddr, f.ValidateSupported)
	}
}

func TestFactsScriptMissingFileAndOverrides(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.json")
	f, err := ParseFacts(runFactsScript(t, fakeBin(t, "/unused", "/none"), "docker", missing))
	if err != nil {
		t.Fatal(err)
	}
	if f.Service != "docker" || f.DaemonJSONPath != missing || f.DaemonJSONExists {
		t.Errorf("got service=%q path=%q exists=%v", f.Service, f.DaemonJSONPath, f.DaemonJSONExists)
	}
}

func TestParseFactsRejectsTruncatedOutput(t *testing.T) {
	if _, err := ParseFacts([]byte("@@os\nDebian\n@@user\nroot\n")); err == nil {
		t.Fatal("truncated output accepted")
	}
}

func TestParseFactsDockerDown(t *testing.T) {
	f, err := ParseFacts([]byte("@@service\ndocker\n@@info\nCannot connect to the Docker daemon\n@@end\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.DockerError == "" || f.Role() != "none" {
		t.Errorf("facts = %+v", f)
	}
}
