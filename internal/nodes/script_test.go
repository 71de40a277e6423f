package nodes

import (
	"slices"
	"strings"
	"testing"
)

// SplitWords reads back exactly what Join wrote, hostile words included.
func TestSplitWordsInvertsJoin(t *testing.T) {
	for _, words := range [][]string{hostile, {"a"}, {"", ""}, {"it's", "'", "''"}} {
		got, err := SplitWords(Join(words))
		if err != nil || !slices.Equal(got, words) {
			t.Errorf("SplitWords(Join(%q)) = %q, %v", words, got, err)
		}
	}
	for _, bad := range []string{"'open", `ends\`} {
		if _, err := SplitWords(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A node receives `[sudo -n --] sh -c TEXT NAME ARGS`: ParseCommandLine
// names the script from it, and refuses a text that is not that script's.
func TestParseCommandLineNamesTheScript(t *testing.T) {
	c := Cmd{Script: writeScript, ScriptArgs: []string{"/etc/my dir/daemon.json", "644"}, Sudo: true}
	got, err := ParseCommandLine(CommandLine(c, false))
	if err != nil || got.Script.Name() != "write.sh" || !got.Sudo || !slices.Equal(got.ScriptArgs, c.ScriptArgs) {
		t.Fatalf("got %+v, %v", got, err)
	}
	if got, err := ParseCommandLine(CommandLine(Cmd{Args: []string{"systemctl", "reload", "docker.service"}, Sudo: true}, true)); err != nil ||
		got.Sudo || !got.Script.IsZero() || strings.Join(got.Args, " ") != "systemctl reload docker.service" {
		t.Errorf("argv: %+v, %v", got, err)
	}
	forged := Join([]string{"sh", "-c", "rm -rf /", "write.sh"})
	if _, err := ParseCommandLine(forged); err == nil {
		t.Error("a text that is not write.sh was taken for it")
	}
	for _, name := range []string{"write.sh", "lock.sh"} {
		if !slices.Contains(ScriptNames(), name) {
			t.Errorf("%s not loaded: %v", name, ScriptNames())
		}
	}
}

func FuzzSplitWords(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, "x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		words := []string{a, b}
		got, err := SplitWords(Join(words))
		if err != nil || !slices.Equal(got, words) {
			t.Fatalf("SplitWords(Join(%q)) = %q, %v", words, got, err)
		}
	})
}

func TestSectionsParseAndWrite(t *testing.T) {
	var w SectionWriter
	w.Section("a", "one", "", "  two ")
	w.Section("empty")
	w.Section("end")
	s := ParseSections(append([]byte("noise before\n"), w.Bytes()...))
	if !slices.Equal(s["a"], []string{"one", "", "  two "}) || !s.Has("empty") || s.Has("noise before") || !s.Has("end") {
		t.Errorf("sections %q", s)
	}
	if s.First("a") != "one" || s.First("empty") != "" || !slices.Equal(s.NonBlank("a"), []string{"one", "  two "}) {
		t.Errorf("first %q, non-blank %q", s.First("a"), s.NonBlank("a"))
	}
}
