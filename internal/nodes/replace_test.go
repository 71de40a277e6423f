package nodes

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ReplaceFile and ReadRegularFile never go through a symbolic link at the
// path (whoever can write the directory could plant one to read the secret
// or clobber another file): over SFTP (root) and through the sudo script.
// A secret is written 0600 even over a file that was 0644.
func TestReplaceFileRefusesSymlinks(t *testing.T) {
	e, hosts := fileHosts(t)
	ctx := context.Background()
	for via, h := range hosts {
		dir := filepath.Join(e.dir, "replace-"+via)
		os.MkdirAll(dir, 0o755)
		victim := filepath.Join(dir, "victim")
		os.WriteFile(victim, []byte("victim\n"), 0o644)
		link := filepath.Join(dir, "config.yml")
		os.Symlink(victim, link)

		err := ReplaceFile(ctx, h, link, []byte("password: s3cret\n"), 0o600, true)
		var nr *NotRegularError
		if !errors.As(err, &nr) || !strings.Contains(err.Error(), link+" is a symbolic link") {
			t.Errorf("%s: write through a link: %v", via, err)
		}
		if _, err := ReadRegularFile(ctx, h, link); !errors.As(err, &nr) {
			t.Errorf("%s: read through a link: %v", via, err)
		}
		if b, _ := os.ReadFile(victim); string(b) != "victim\n" {
			t.Errorf("%s: the link's target was written: %q", via, b)
		}
		if st, _ := os.Lstat(link); st.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("%s: the link was replaced", via)
		}

		// A regular file: replaced, 0600, with the new content.
		p := filepath.Join(dir, "secret.yml")
		os.WriteFile(p, []byte("old\n"), 0o644)
		if err := ReplaceFile(ctx, h, p, []byte("password: s3cret\n"), 0o600, true); err != nil {
			t.Fatalf("%s: %v", via, err)
		}
		st, _ := os.Stat(p)
		b, err := ReadRegularFile(ctx, h, p)
		if err != nil || string(b) != "password: s3cret\n" || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %q %v mode %v", via, b, err, st.Mode().Perm())
		}
		if _, err := ReadRegularFile(ctx, h, filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: missing file: %v", via, err)
		}
		// Not private: an existing file keeps its mode.
		os.Chmod(p, 0o640)
		if err := ReplaceFile(ctx, h, p, []byte("x\n"), 0o644, false); err != nil {
			t.Fatalf("%s: %v", via, err)
		}
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, want the file's own 0640", via, st.Mode().Perm())
		}
	}
}
