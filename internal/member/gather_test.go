package member

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSystemctl writes a fake systemctl into dir that answers
// "systemctl show -p ... UNIT..." like systemd does: one block per unit, in
// argument order, separated by an empty line. A unit's block is the file
// units/UNIT; a unit without one is not-found. Every call is logged to
// dir/systemctl-calls.
func fakeSystemctl(t *testing.T, dir string, units map[string]string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "units"), 0o755); err != nil {
		t.Fatal(err)
	}
	for u, blk := range units {
		if err := os.WriteFile(filepath.Join(dir, "units", u), []byte(blk), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := `#!/bin/sh
echo "$*" >> ` + filepath.Join(dir, "systemctl-calls") + `
[ "$1" = show ] || exit 1
shift
first=1
while [ $# -gt 0 ]; do
  case "$1" in
  -p) shift 2; continue ;;
  esac
  [ $first = 1 ] || echo
  first=0
  if [ -f ` + filepath.Join(dir, "units") + `/"$1" ]; then cat ` + filepath.Join(dir, "units") + `/"$1"
  else printf 'MainPID=0\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n'; fi
  shift
done
`
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// A docker-latest unit as systemd 252 shows it (properties in systemd's
// own order, not the order asked for).
func dockerLatestUnit(cfg, envFile string) string {
	return "MainPID=4242\n" +
		"ExecStart={ path=/usr/bin/dockerd-latest ; argv[]=/usr/bin/dockerd-latest --config-file " + cfg + " -H fd:// $OPTIONS ; ignore_errors=no ; start_time=[Wed 2026-12-02 05:08:31 UTC] ; pid=4242 ; code=(null) ; status=0/0 }\n" +
		"Environment=\n" +
		"EnvironmentFiles=-" + envFile + " (ignore_errors=yes)\n" +
		"LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nActiveEnterTimestampMonotonic=123456\n"
}

const maskedUnit = "MainPID=0\nEnvironment=\nLoadState=masked\nActiveState=inactive\nUnitFileState=masked\nActiveEnterTimestampMonotonic=0\n"

// fakeBin writes fake systemctl and docker commands that answer like a
// docker-latest node whose unit passes --config-file cfg (docker.service
// masked).
func fakeBin(t *testing.T, cfg, envFile string) string {
	t.Helper()
	dir := t.TempDir()
	fakeSystemctl(t, dir, map[string]string{
		"docker-latest.service": dockerLatestUnit(cfg, envFile),
		"docker.service":        maskedUnit,
	})
	// docker info prints both lines of the script's format; docker
	// version the containerd component's version.
	docker := `#!/bin/sh
case "$1" in
info) printf '%s\n' '["http://10.0.0.1:5000/"]|true|28.5.2+dfsg4|active|abc123|10.0.0.2|true' 'native|[["driver-type","io.containerd.snapshotter.v1"]]' ;;
version) echo '2.1.9+unknown' ;;
node) echo true ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(docker), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runFactsScript(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", factsScript.Text(), factsScript.Name()}, args...)...)
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
	if len(f.LiveMirrors) != 1 || f.LiveMirrors[0] != "http://10.0.0.1:5000/" || !f.LiveExperimental || f.DockerVersion != "28.5.2+dfsg4" {
		t.Errorf("info = %+v", f)
	}
	if f.ContainerdVersion != "2.1.9+unknown" || f.ImageStore != ImageStoreContainerd || f.StorageDriver != "native" {
		t.Errorf("engine: containerd %q, store %q, driver %q", f.ContainerdVersion, f.ImageStore, f.StorageDriver)
	}
	if f.Role() != "leader" || f.SwarmAddr != "10.0.0.2" || !f.ValidateSupported {
		t.Errorf("role=%s addr=%s validate=%v", f.Role(), f.SwarmAddr, f.ValidateSupported)
	}
}

// Detection asks systemd once, skips masked and missing units, and takes
// the config path and OPTIONS from the unit it picked.
func TestFactsScriptPicksUnitInOneSystemctlCall(t *testing.T) {
	for _, tc := range []struct {
		name    string
		units   map[string]string
		wantSvc string
		active  bool
	}{
		{"docker-latest wins", map[string]string{"docker-latest.service": dockerLatestUnit("/etc/dl/daemon.json", "/none"), "docker.service": maskedUnit}, "docker-latest", true},
		{"masked docker-latest skipped", map[string]string{"docker-latest.service": maskedUnit,
			"docker.service": "MainPID=9\nExecStart={ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd -H fd:// ; ignore_errors=no }\nLoadState=loaded\nActiveState=failed\nUnitFileState=enabled\n"}, "docker", false},
		{"missing docker-latest skipped", map[string]string{
			"docker.service": "MainPID=9\nExecStart={ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd --config-file=/srv/d.json ; ignore_errors=no }\nLoadState=loaded\nActiveState=active\nUnitFileState=static\n"}, "docker", true},
		{"nothing installed", map[string]string{}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fakeSystemctl(t, dir, tc.units)
			if err := os.WriteFile(filepath.Join(dir, "docker"), []byte("#!/bin/sh\necho 'Cannot connect'\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := ParseFacts(runFactsScript(t, dir, "", ""))
			if err != nil {
				t.Fatal(err)
			}
			if f.Service != tc.wantSvc || f.ServiceActive != tc.active {
				t.Errorf("service %q active %v, want %q %v", f.Service, f.ServiceActive, tc.wantSvc, tc.active)
			}
			wantCfg := map[string]string{"docker-latest wins": "/etc/dl/daemon.json", "masked docker-latest skipped": "/etc/docker/daemon.json",
				"missing docker-latest skipped": "/srv/d.json", "nothing installed": "/etc/docker/daemon.json"}[tc.name]
			if f.DaemonJSONPath != wantCfg {
				t.Errorf("config %q, want %q", f.DaemonJSONPath, wantCfg)
			}
			calls, _ := os.ReadFile(filepath.Join(dir, "systemctl-calls"))
			if n := strings.Count(string(calls), "\n"); n != 1 {
				t.Errorf("systemctl ran %d times, want once:\n%s", n, calls)
			}
		})
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
	f, err := ParseFacts([]byte("@@service\ndocker\n@@info\nCannot connect to the Docker daemon\n@@engine\nis the docker daemon running?\n@@end\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.DockerError == "" || f.Role() != "none" || f.ImageStore != "" || f.ContainerdVersion != "" {
		t.Errorf("facts = %+v", f)
	}
}

// The image store, storage driver and containerd version as each engine
// of the lab prints them; output without the @@engine lines (an older
// script's) leaves them empty.
func TestParseFactsEngine(t *testing.T) {
	for _, tc := range []struct {
		engine                    []string
		store, driver, containerd string
	}{
		{[]string{`native|[["driver-type","io.containerd.snapshotter.v1"]]`, "2.1.9+unknown"}, ImageStoreContainerd, "native", "2.1.9+unknown"},
		{[]string{`vfs|null`, "1.6.20~ds1"}, ImageStoreClassic, "vfs", "1.6.20~ds1"},
		{[]string{`overlay2|[["Backing Filesystem","extfs"],["Supports d_type","true"]]`, "1.7.24~ds1"}, ImageStoreClassic, "overlay2", "1.7.24~ds1"},
		{[]string{"", "1.7.24"}, "", "", "1.7.24"},
		{nil, "", "", ""},
	} {
		out := "@@service\ndocker\n@@info\n[]|false|26.1.5|inactive|||false\n@@leader\n"
		if tc.engine != nil {
			out += "@@engine\n" + strings.Join(tc.engine, "\n") + "\n"
		}
		f, err := ParseFacts([]byte(out + "@@end\n"))
		if err != nil {
			t.Fatal(err)
		}
		if f.ImageStore != tc.store || f.StorageDriver != tc.driver || f.ContainerdVersion != tc.containerd {
			t.Errorf("%q: store %q driver %q containerd %q", tc.engine, f.ImageStore, f.StorageDriver, f.ContainerdVersion)
		}
	}
}

// awkImplementations returns one PATH directory per awk found on this
// machine (mawk, gawk, busybox awk, whatever awk is), each holding only an
// "awk" link to it: the facts script must stay POSIX awk.
func awkImplementations(t *testing.T) map[string]string {
	t.Helper()
	dirs := map[string]string{}
	link := func(name, target string) {
		dir := t.TempDir()
		if err := os.Symlink(target, filepath.Join(dir, "awk")); err != nil {
			t.Fatal(err)
		}
		dirs[name] = dir
	}
	for _, name := range []string{"awk", "mawk", "gawk", "original-awk"} {
		if p, err := exec.LookPath(name); err == nil {
			link(name, p)
		}
	}
	if p, err := exec.LookPath("busybox"); err == nil {
		link("busybox", p)
	}
	return dirs
}

// RHEL/Atomic docker(-latest) units expand $INSECURE_REGISTRY,
// $ADD_REGISTRY, $BLOCK_REGISTRY and $REGISTRIES besides $OPTIONS: the
// facts carry those variables from every EnvironmentFile, so the conflict
// check can see an --insecure-registry passed through them.
func TestFactsScriptKeepsRegistryVariablesOfEnvironmentFiles(t *testing.T) {
	dir := t.TempDir()
	sysconfig := filepath.Join(dir, "docker-latest")
	if err := os.WriteFile(sysconfig, []byte("# /etc/sysconfig/docker-latest\n"+
		"OPTIONS='--selinux-enabled --log-driver=journald'\n"+
		"DOCKER_CERT_PATH=/etc/docker\n"+
		"ADD_REGISTRY='--add-registry registry.example.com'\n"+
		"# BLOCK_REGISTRY='--block-registry'\n"+
		"BLOCK_REGISTRY='--block-registry public'\n"+
		"  INSECURE_REGISTRY='--insecure-registry 10.0.0.5:5000'\n"+
		"INSECURE_REGISTRY_NOTE=unused\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	registries := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(registries, []byte("REGISTRIES=' --add-registry registry.example.org --insecure-registry 10.0.0.6:5000'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unit := "MainPID=4242\n" +
		"ExecStart={ path=/usr/bin/dockerd-latest ; argv[]=/usr/bin/dockerd-latest --config-file /etc/docker-latest/daemon.json $OPTIONS $DOCKER_STORAGE_OPTIONS $ADD_REGISTRY $BLOCK_REGISTRY $INSECURE_REGISTRY $REGISTRIES ; ignore_errors=no ; start_time=[n/a] ; pid=4242 ; code=(null) ; status=0/0 }\n" +
		"Environment=\n" +
		"EnvironmentFiles=-" + registries + " (ignore_errors=yes)\n" +
		"EnvironmentFiles=-" + sysconfig + " (ignore_errors=yes)\n" +
		"EnvironmentFiles=-" + filepath.Join(dir, "missing") + " (ignore_errors=yes)\n" +
		"LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nActiveEnterTimestampMonotonic=1\n"
	want := []string{
		"REGISTRIES=' --add-registry registry.example.org --insecure-registry 10.0.0.6:5000'",
		"OPTIONS='--selinux-enabled --log-driver=journald'",
		"ADD_REGISTRY='--add-registry registry.example.com'",
		"BLOCK_REGISTRY='--block-registry public'",
		"  INSECURE_REGISTRY='--insecure-registry 10.0.0.5:5000'",
	}
	awks := awkImplementations(t)
	if len(awks) == 0 {
		t.Fatal("no awk found")
	}
	for name, awkDir := range awks {
		t.Run(name, func(t *testing.T) {
			bin := t.TempDir()
			fakeSystemctl(t, bin, map[string]string{"docker-latest.service": unit, "docker.service": maskedUnit})
			if err := os.WriteFile(filepath.Join(bin, "docker"), []byte("#!/bin/sh\necho 'Cannot connect'\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := ParseFacts(runFactsScript(t, bin+":"+awkDir, "", ""))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Split(f.EnvOptions, "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("env options:\n%s\nwant:\n%s", f.EnvOptions, strings.Join(want, "\n"))
			}
			if f.Service != "docker-latest" || f.DaemonJSONPath != "/etc/docker-latest/daemon.json" || !strings.Contains(f.ExecStart, "$INSECURE_REGISTRY") {
				t.Errorf("service %q config %q exec %q", f.Service, f.DaemonJSONPath, f.ExecStart)
			}
		})
	}
}
