package cli

import (
	"context"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
)

// Text from a node (OS name, docker version, hostname, errors, the
// journal) never reaches the terminal raw: control characters (ESC, CR,
// BEL, C1 controls, bidi overrides) are shown escaped, so no node can
// retitle the terminal, clear it, move the cursor or hide a line.
func TestNodeTextReachesTheTerminalEscaped(t *testing.T) {
	const evil = "\x1b]0;owned\x07\x1b[2J\rX\u009b31m\u202eevil"
	facts := member.EncodeFacts(&member.Facts{OS: "Debian" + evil, User: "root", Hostname: "h" + evil, Service: "docker-latest",
		ServiceActive: true, DaemonPID: 77, DaemonJSONPath: "/etc/docker-latest/daemon.json", DockerVersion: "20.10.24" + evil,
		SwarmState: "inactive"})
	dial := func(_ context.Context, tg nodes.Target, _ nodes.DialOptions) (nodes.Host, error) {
		return fakehost.New(tg.Host, nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
			switch {
			case c.Script.Name() == "facts.sh":
				return nodes.Output{Stdout: facts}, nil
			case len(c.Args) > 0 && c.Args[0] == "journalctl":
				return nodes.Output{Stdout: []byte("dockerd: failed" + evil + "\n")}, nil
			}
			// Every change fails, with the node's own words.
			return nodes.Output{}, &nodes.ExitError{Host: tg.Host, Status: 1, Stderr: []byte("boom" + evil)}
		}), nil
	}
	for _, args := range [][]string{
		{"nodes", "list"},
		{"nodes", "configure", "--yes", "--mirror", "https://m.example.test"},
		{"nodes", "configure", "--dry-run", "--mirror", "https://m.example.test"},
		{"nodes", "list", "-o", "json"},
	} {
		d, out, errb := testDeps(dial)
		Run(context.Background(), d, append(args, "--host", "10.0.0.1"))
		all := out.String() + errb.String()
		for _, raw := range []string{"\x1b", "\x07", "\r", "\u009b", "\u202e"} {
			if strings.Contains(all, raw) {
				t.Errorf("%v: %q reached the terminal raw:\n%q", args, raw, all)
			}
		}
		if !slices.Contains(args, "--dry-run") && !strings.Contains(all, `\x1b]0;owned`) && !strings.Contains(all, `\u001b]0;owned`) {
			t.Errorf("%v: the node's text is not shown (escaped):\n%s", args, all)
		}
	}
}

// swarmctl's own colours still work on a terminal.
func TestOwnColoursKept(t *testing.T) {
	var b strings.Builder
	w := terminalSafe(&b)
	w.Write([]byte("\x1b[31mfailed\x1b[0m and \x1b[2J\n"))
	if got := b.String(); got != "\x1b[31mfailed\x1b[0m and \\x1b[2J\n" {
		t.Errorf("got %q", got)
	}
}

// Whatever a node sends, what terminalSafe writes holds no control
// character but newline, tab, CR before a newline and swarmctl's own
// colours, no C1 control, no bidi override and only valid UTF-8.
func FuzzEscapeControls(f *testing.F) {
	for _, s := range []string{"plain", "\x1b]0;t\x07", "a\r\nb\rc", "\x1b[31mred\x1b[0m", "\u009b2J\u202e", "\xff\xfe", "\x1b[31", "\x1b[38;5;1m"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := escapeControls(in)
		if !utf8.Valid(out) && utf8.Valid(in) {
			t.Fatalf("%q -> %q: not UTF-8", in, out)
		}
		rest := out
		for len(rest) > 0 {
			if m := ownColour.Find(rest); m != nil {
				rest = rest[len(m):]
				continue
			}
			r, n := utf8.DecodeRune(rest)
			switch {
			case r == utf8.RuneError && n <= 1:
				t.Fatalf("%q -> %q: invalid byte kept", in, out)
			case r == '\r' && (len(rest) < 2 || rest[1] != '\n'):
				t.Fatalf("%q -> %q: lone CR kept", in, out)
			case r < 0x20 && r != '\n' && r != '\t' && r != '\r', r == 0x7f, r >= 0x80 && r <= 0x9f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
				t.Fatalf("%q -> %q: control %U kept", in, out, r)
			}
			rest = rest[n:]
		}
	})
}
