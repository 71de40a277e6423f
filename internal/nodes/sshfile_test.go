package nodes

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes/sshtest"
)

// fileHosts returns a root host (SFTP path) and a sudo host (script path)
// on the same test server.
func fileHosts(t *testing.T) (*env, map[string]*SSHHost) {
	e, hosts, _ := fileHostsServer(t)
	return e, hosts
}

func fileHostsServer(t *testing.T) (*env, map[string]*SSHHost, *sshtest.Server) {
	t.Helper()
	e := newEnv(t)
	fakeSudo(t, e)
	s := e.server(t)
	tg := e.target(s)
	root := e.dial(t, tg)
	tg.User, tg.Sudo = "deploy", true
	sudo := e.dial(t, tg)
	return e, map[string]*SSHHost{"sftp": root, "sudo": sudo}, s
}

func TestReadFile(t *testing.T) {
	e, hosts := fileHosts(t)
	p := filepath.Join(e.dir, "it's a file")
	os.WriteFile(p, []byte("data\x00\n"), 0o600)
	for via, h := range hosts {
		got, err := h.ReadFile(context.Background(), p)
		if err != nil || string(got) != "data\x00\n" {
			t.Errorf("%s: %q %v", via, got, err)
		}
		_, err = h.ReadFile(context.Background(), filepath.Join(e.dir, "missing"))
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "node1") {
			t.Errorf("%s: missing file: %v", via, err)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	e, hosts, srv := fileHostsServer(t)
	ctx := context.Background()
	for via, h := range hosts {
		dir := filepath.Join(e.dir, via)
		real := filepath.Join(dir, "real")
		os.MkdirAll(real, 0o755)

		// New file: created with mode.
		newf := filepath.Join(dir, "new.json")
		if err := h.WriteFile(ctx, newf, []byte("{}\n"), 0o640); err != nil {
			t.Fatalf("%s: %v", via, err)
		}
		if st, err := os.Stat(newf); err != nil || st.Mode().Perm() != 0o640 {
			t.Fatalf("%s: new file %v %v", via, st.Mode(), err)
		}

		// Existing file behind a relative symlink: written through, owner
		// and mode kept, link intact, a new inode renamed into place.
		target := filepath.Join(real, "daemon.json")
		os.WriteFile(target, []byte("old"), 0o600)
		os.Chown(target, 1234, 5678)
		os.Chmod(target, 0o604)
		link := filepath.Join(dir, "daemon.json")
		os.Symlink("real/daemon.json", link)
		var before syscall.Stat_t
		syscall.Stat(target, &before)
		data := []byte("{\"registry-mirrors\": [\"http://m:5000\"]}\n$(touch x)'\n")
		if err := h.WriteFile(ctx, link, data, 0o644); err != nil {
			t.Fatalf("%s: %v", via, err)
		}
		if got, _ := os.ReadFile(target); string(got) != string(data) {
			t.Fatalf("%s: target = %q", via, got)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Fatalf("%s: symlink replaced", via)
		}
		var after syscall.Stat_t
		syscall.Stat(target, &after)
		if after.Uid != 1234 || after.Gid != 5678 || after.Mode&0o7777 != 0o604 {
			t.Fatalf("%s: owner/mode %d:%d %o", via, after.Uid, after.Gid, after.Mode&0o7777)
		}
		if after.Ino == before.Ino {
			t.Fatalf("%s: written in place, not renamed", via)
		}
		assertNoTemps(t, via, dir, real)
	}
	// Data went on stdin, never on a command line.
	execs := srv.Execs()
	if len(execs) == 0 {
		t.Fatal("the sudo path ran no command")
	}
	for _, x := range execs {
		if strings.Contains(x.Command, "registry-mirrors") {
			t.Fatalf("data on the command line: %q", x.Command)
		}
	}
}

func assertNoTemps(t *testing.T, via string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		ents, _ := os.ReadDir(d)
		for _, en := range ents {
			if strings.Contains(en.Name(), ".swarmctl-") {
				t.Fatalf("%s: temp file left: %s", via, filepath.Join(d, en.Name()))
			}
		}
	}
}

// TestWriteFileDiskFull fills a small tmpfs: both write paths fail with a
// clear error, remove their temp file and leave the original intact.
func TestWriteFileDiskFull(t *testing.T) {
	e, hosts := fileHosts(t)
	mnt := filepath.Join(e.dir, "small")
	os.MkdirAll(mnt, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("needs root and mount(8) for a full-disk tmpfs (covered by the fake cat test otherwise): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	p := filepath.Join(mnt, "daemon.json")
	os.WriteFile(p, []byte("original"), 0o644)
	big := make([]byte, 512*1024)
	for via, h := range hosts {
		err := h.WriteFile(context.Background(), p, big, 0o644)
		if err == nil {
			t.Fatalf("%s: write of 512k into 256k succeeded", via)
		}
		t.Logf("%s: %v", via, err)
		if !strings.Contains(err.Error(), "no space left") {
			t.Errorf("%s: err = %v", via, err)
		}
		if got, _ := os.ReadFile(p); string(got) != "original" {
			t.Fatalf("%s: original damaged: %q", via, got[:min(len(got), 20)])
		}
		assertNoTemps(t, via, mnt)
	}
}
