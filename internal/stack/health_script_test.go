package stack

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// healthScript in a real sh against a loopback registry stand-in, with
// each probe tool alone on PATH: curl, GNU wget, busybox wget (Debian's
// 1.35 crashes on -T; the script must still answer). 401 counts as an
// answer (auth on), a refused connection is an error.
func TestHealthScriptWithEachTool(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/":
			w.WriteHeader(http.StatusOK)
		case "/auth/v2/":
			w.WriteHeader(http.StatusUnauthorized)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	tools := map[string]string{}
	for name, cands := range map[string][]string{"curl": {"curl"}, "wget": {"wget"}, "busybox": {"busybox"}} {
		for _, c := range cands {
			if p, err := exec.LookPath(c); err == nil {
				tools[name] = p
			}
		}
	}
	if len(tools) == 0 {
		t.Fatal("none of curl, wget, busybox on this machine")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	for name, path := range tools {
		t.Run(name, func(t *testing.T) {
			bin := t.TempDir()
			for _, tool := range []string{"sh", "sed", "tail", "printf"} {
				if p, err := exec.LookPath(tool); err == nil {
					if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
						t.Fatal(err)
					}
				}
			}
			link := name
			if name == "busybox" {
				link = "wget"
			}
			if err := os.Symlink(path, filepath.Join(bin, link)); err != nil {
				t.Fatal(err)
			}
			run := func(url string) (string, error) {
				cmd := exec.Command(sh, "-c", healthScript, "sh", url)
				cmd.Env = []string{"PATH=" + bin}
				out, err := cmd.Output()
				return string(out), err
			}
			for _, tc := range []struct{ path, want string }{{"/v2/", "200"}, {"/auth/v2/", "401"}, {"/nope", "404"}} {
				if got, err := run(srv.URL + tc.path); err != nil || strings.TrimSpace(got) != tc.want {
					t.Errorf("%s: %q %v, want %s", tc.path, got, err, tc.want)
				}
			}
			closed := httptest.NewServer(http.NotFoundHandler())
			url := closed.URL + "/v2/"
			closed.Close()
			if got, err := run(url); err == nil {
				t.Errorf("refused connection: %q, want an error", got)
			}
		})
	}
}
