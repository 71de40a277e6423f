package nodes

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var hostile = []string{
	"", "plain", "with space", "it's", `"double"`, "$(touch PWNED)", "`touch PWNED`",
	"a;touch PWNED", "a&&touch PWNED", "a|touch PWNED", "new\nline", "tab\there", "back\\slash",
	"glob*?[x]", "~root", "-n", "'; touch PWNED; '", "$HOME", "!event", "#comment", "\x01ctrl",
}

// TestQuoteRoundTripsThroughShell runs each hostile string through a real
// POSIX shell and checks it arrives byte-exact with no side effect.
func TestQuoteRoundTripsThroughShell(t *testing.T) {
	dir := t.TempDir()
	for _, s := range hostile {
		cmd := exec.Command("sh", "-c", "printf '%s' "+Quote(s))
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if string(out) != s {
			t.Errorf("Quote(%q) came back as %q", s, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
		t.Fatal("a hostile string was executed")
	}
}

func TestCommandLineScriptArgsAndSudo(t *testing.T) {
	dir := t.TempDir()
	c := Cmd{Script: Script{name: "print-args.sh", text: `printf '%s|' "$@"`}, ScriptArgs: hostile, Sudo: true}
	line := CommandLine(c, true)
	out, err := exec.Command("sh", "-c", line).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, s := range hostile {
		want += s + "|"
	}
	if string(out) != want {
		t.Errorf("got %q\nwant %q", out, want)
	}
	if got := CommandLine(Cmd{Args: []string{"cat", "a b"}, Sudo: true}, false); got != "sudo -n -- cat 'a b'" {
		t.Errorf("sudo line = %q", got)
	}
	if got := CommandLine(Cmd{Args: []string{"cat"}, Sudo: true}, true); got != "cat" {
		t.Errorf("root line = %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
		t.Fatal("executed")
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("pw=s3cret s3cret", []string{"s3cret", ""}); got != "pw=*** ***" {
		t.Errorf("got %q", got)
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i := 0; i < len(s); i++ {
			if s[i] == 0 {
				return // argv cannot carry NUL
			}
		}
		out, err := exec.Command("sh", "-c", "printf '%s' "+Quote(s)).Output()
		if err != nil || string(out) != s {
			t.Fatalf("Quote(%q) -> %q, %v", s, out, err)
		}
	})
}
