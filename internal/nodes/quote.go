package nodes

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Quote returns s as one POSIX shell word. Anything not in a small safe set
// is wrapped in single quotes, with embedded single quotes written as '\”.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("-_./:=@%+,", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes every argument and joins them with spaces.
func Join(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}

// CommandLine renders c as the exact string sent to the remote shell.
// asRoot tells whether the login user is already root (no sudo needed).
func CommandLine(c Cmd, asRoot bool) string {
	var line string
	if !c.Script.IsZero() {
		line = Join(append([]string{"sh", "-c", c.Script.Text(), c.Script.Name()}, c.ScriptArgs...))
	} else {
		line = Join(c.Args)
	}
	if c.Sudo && !asRoot {
		line = "sudo -n -- " + line
	}
	return line
}

// SplitWords splits a command line as a POSIX shell splits the words
// Quote and Join write: blanks separate words, single quotes quote,
// a backslash outside quotes escapes the next byte. It is the inverse of
// Join, for test fakes and the benchmark's virtual nodes, which answer the
// command line a node receives.
func SplitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case quoted:
			if ch == '\'' {
				quoted = false
			} else {
				cur.WriteByte(ch)
			}
		case ch == '\'':
			quoted, inWord = true, true
		case ch == '\\':
			if i+1 == len(line) {
				return nil, errors.New("command line ends in a backslash")
			}
			i++
			cur.WriteByte(line[i])
			inWord = true
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quoted {
		return nil, errors.New("unterminated quote in command line")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// ParseCommandLine is the inverse of CommandLine: it returns the command
// a node received, with Script set when it runs one of swarmctl's scripts
// (looked up by its name, and the text must match). Sudo is set when the
// line runs through sudo -n.
func ParseCommandLine(line string) (Cmd, error) {
	w, err := SplitWords(line)
	if err != nil {
		return Cmd{}, err
	}
	var c Cmd
	if len(w) >= 3 && w[0] == "sudo" && w[1] == "-n" && w[2] == "--" {
		c.Sudo, w = true, w[3:]
	}
	if len(w) >= 4 && w[0] == "sh" && w[1] == "-c" {
		s, ok := ScriptNamed(w[3])
		if !ok || s.Text() != w[2] {
			return Cmd{}, fmt.Errorf("not one of swarmctl's scripts: sh -c ... %s", w[3])
		}
		c.Script, c.ScriptArgs = s, w[4:]
		return c, nil
	}
	c.Args = w
	return c, nil
}

// Redact replaces every secret in s with "***".
func Redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}

func trimTail(b []byte, n int) []byte {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return []byte(s)
}

func itoa(i int) string { return strconv.Itoa(i) }
