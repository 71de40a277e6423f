package probe

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// probe.sh in a real sh against a loopback registry stand-in, with each
// probe tool alone on PATH: curl, GNU wget, busybox wget (Debian's 1.35
// crashes on -T; the script must still answer). 401 counts as an answer
// (auth on), a refused connection is an error, and with neither tool the
// script says so.
func TestProbeScriptWithEachTool(t *testing.T) {
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
	for name, cands := range map[string][]string{"curl": {"curl"}, "wget": {"wget"}, "busybox": {"busybox"}, "neither": {"sh"}} {
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
			for _, tool := range []string{"sh", "sed", "tail", "printf", "grep"} {
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
			if name != "neither" {
				if err := os.Symlink(path, filepath.Join(bin, link)); err != nil {
					t.Fatal(err)
				}
			}
			run := func(url string) (Result, error) {
				cmd := exec.Command(sh, "-c", Script.Text(), Script.Name(), url, "5")
				cmd.Env = []string{"PATH=" + bin}
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if xe, ok := err.(*exec.ExitError); ok {
					return Parse(string(out)+"\n"+stderr.String(), xe.ExitCode()), err
				}
				return Parse(string(out), 0), err
			}
			if name == "neither" {
				if r, err := run(srv.URL + "/v2/"); err == nil || !r.NoTool || r.Err != "neither curl nor wget on this node" {
					t.Errorf("no tool: %+v %v", r, err)
				}
				return
			}
			for _, tc := range []struct {
				path string
				want int
			}{{"/v2/", 200}, {"/auth/v2/", 401}, {"/nope", 404}} {
				if got, err := run(srv.URL + tc.path); err != nil || got.Status != tc.want || got.Answers() != (tc.want != 404) {
					t.Errorf("%s: %+v %v, want %d", tc.path, got, err, tc.want)
				}
			}
			closed := httptest.NewServer(http.NotFoundHandler())
			url := closed.URL + "/v2/"
			closed.Close()
			if got, err := run(url); err == nil || got.Status != 0 || got.Err == "" {
				t.Errorf("refused connection: %+v, want an error", got)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		out  string
		exit int
		want Result
	}{
		{"200 0.004\n", 0, Result{Status: 200, Latency: 4 * time.Millisecond}},
		{"401 -", 0, Result{Status: 401, Latency: -1}},
		{"wget: can't connect to remote host (10.0.0.1): Connection refused\n", 1, Result{Err: "wget: can't connect to remote host (10.0.0.1): Connection refused"}},
		{"\nneither curl nor wget on this node\n", NoToolStatus, Result{NoTool: true, Err: "neither curl nor wget on this node"}},
		{"", 1, Result{Err: "probe.sh exited with status 1"}},
		{"garbage", 0, Result{Err: `unexpected answer "garbage"`}},
	} {
		if got := Parse(c.out, c.exit); got != c.want {
			t.Errorf("Parse(%q, %d) = %+v, want %+v", c.out, c.exit, got, c.want)
		}
	}
	if got := Parse(Output(503, 1500*time.Microsecond), 0); got != (Result{Status: 503, Latency: 1500 * time.Microsecond}) {
		t.Errorf("Output does not read back: %+v", got)
	}
	if !Answers(200) || !Answers(401) || Answers(404) || Answers(0) {
		t.Error("Answers: 200 and 401 only")
	}
}
