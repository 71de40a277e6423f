package nodes

import (
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
	if c.Script != "" {
		line = Join(append([]string{"sh", "-c", c.Script, "sh"}, c.ScriptArgs...))
	} else {
		line = Join(c.Args)
	}
	if c.Sudo && !asRoot {
		line = "sudo -n -- " + line
	}
	return line
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
