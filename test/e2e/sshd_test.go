package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// realSSHD is Debian's OpenSSH server on a loopback port with its own host
// key and authorized_keys.
type realSSHD struct {
	dir, clientKey, hostPub string
	port                    int
}

func startRealSSHD(t *testing.T) *realSSHD {
	t.Helper()
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	if _, err := os.Stat(sshd); err != nil {
		if os.Getenv("SWARMCTL_SKIP_REAL_SSHD") == "1" {
			t.Skip("SWARMCTL_SKIP_REAL_SSHD=1: real OpenSSH test skipped on request")
		}
		t.Fatalf("OpenSSH server not found (%v): apt-get install openssh-server, or set SWARMCTL_SKIP_REAL_SSHD=1", err)
	}
	dir := t.TempDir()
	for _, k := range []string{"host", "client"} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", k, "-f", filepath.Join(dir, k)).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "client.pub"))
	os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host
AuthorizedKeysFile %s/authorized_keys
PidFile %s/sshd.pid
StrictModes no
UsePAM no
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
Subsystem sftp internal-sftp
`, port, dir, dir, dir)
	os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600)
	os.MkdirAll("/run/sshd", 0o755)
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	logf, _ := os.Create(filepath.Join(dir, "sshd.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
			t.Fatalf("sshd did not listen: %s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	hostPub, _ := os.ReadFile(filepath.Join(dir, "host.pub"))
	return &realSSHD{dir: dir, clientKey: filepath.Join(dir, "client"), hostPub: string(hostPub), port: port}
}

// knownHosts writes a known_hosts file holding pubLine for the server.
func (s *realSSHD) knownHosts(t *testing.T, pubLine string) string {
	f := filepath.Join(t.TempDir(), "known_hosts")
	fields := strings.Fields(pubLine)
	line := fmt.Sprintf("[127.0.0.1]:%d %s %s\n", s.port, fields[0], fields[1])
	if err := os.WriteFile(f, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (s *realSSHD) inventory(t *testing.T, knownHosts string) string {
	f := filepath.Join(t.TempDir(), "inv.yaml")
	inv := fmt.Sprintf("defaults:\n  user: root\n  key: %s\n  known_hosts: %s\nnodes:\n  - host: 127.0.0.1\n    port: %d\n    name: local\n", s.clientKey, knownHosts, s.port)
	os.WriteFile(f, []byte(inv), 0o600)
	return f
}

func TestRealOpenSSHNodesList(t *testing.T) {
	s := startRealSSHD(t)
	inv := s.inventory(t, s.knownHosts(t, s.hostPub))
	r := swarmctl(t, nil, "nodes", "list", "-i", inv, "-o", "json")
	var doc struct {
		Nodes []struct {
			Name      string `json:"name"`
			Reachable bool   `json:"reachable"`
			OS        string `json:"os"`
			User      string `json:"user"`
			Error     string `json:"error"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("JSON output does not parse: %v", err)
	}
	if len(doc.Nodes) != 1 || !doc.Nodes[0].Reachable || doc.Nodes[0].User != "root" || doc.Nodes[0].OS == "" {
		t.Fatalf("node not reached through strict host key checking: %+v", doc.Nodes)
	}
}

func TestRealOpenSSHSwappedHostKeyRefused(t *testing.T) {
	s := startRealSSHD(t)
	other := filepath.Join(t.TempDir(), "other")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	otherPub, _ := os.ReadFile(other + ".pub")
	inv := s.inventory(t, s.knownHosts(t, string(otherPub)))
	r := swarmctl(t, nil, "nodes", "list", "-i", inv)
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1", r.Code)
	}
	fp, err := exec.Command("ssh-keygen", "-l", "-f", filepath.Join(s.dir, "host.pub")).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(string(fp))[1] // SHA256:...
	if !strings.Contains(r.Stderr, want) {
		t.Errorf("refusal does not name the offered fingerprint %s:\n%s", want, r.Stderr)
	}
	if !strings.Contains(strings.ToLower(r.Stderr), "host key") {
		t.Errorf("refusal does not say it is about the host key:\n%s", r.Stderr)
	}
}

func TestBrokenInventoryFileLine(t *testing.T) {
	f := filepath.Join(t.TempDir(), "inv.yaml")
	os.WriteFile(f, []byte("defaults:\n  user: root\nnodes:\n  - host: 10.9.9.9\n    prot: 22\n"), 0o600)
	r := swarmctl(t, nil, "nodes", "list", "-i", f)
	if r.Code != 2 {
		t.Fatalf("exit %d, want 2", r.Code)
	}
	if !strings.Contains(r.Stderr, f+":5:") || !strings.Contains(r.Stderr, `"prot"`) {
		t.Errorf("error lacks file:line and the key:\n%s", r.Stderr)
	}
}
