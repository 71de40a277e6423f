package cli

import (
	"fmt"
	"io"
	"regexp"
	"unicode/utf8"
)

// terminalSafe wraps a stream of human output (or JSON) so that text from
// nodes (docker versions, OS names, hostnames, errors, journal lines,
// daemon.json diffs) never reaches a terminal raw: every control character
// but newline and tab (ESC, CR not before a newline, BEL, DEL, the C1
// controls) and the bidirectional overrides are written escaped (\x1b,
// \u009b, \u202e), as are bytes that are not UTF-8. The colour sequences
// Paint emits pass. In a JSON document such characters can only stand in
// strings, where \u escapes keep it valid and the value unchanged.
func terminalSafe(w io.Writer) io.Writer { return safeWriter{w} }

type safeWriter struct{ w io.Writer }

// ownColour matches the sequences Paint writes (colour on, reset).
var ownColour = regexp.MustCompile(`^\x1b\[(?:0|3[0-7])m`)

func (s safeWriter) Write(p []byte) (int, error) {
	if _, err := s.w.Write(escapeControls(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func escapeControls(p []byte) []byte {
	clean := true
	for _, c := range p {
		if c < 0x20 && c != '\n' && c != '\t' || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return p
	}
	out := make([]byte, 0, len(p)+16)
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\n' || c == '\t':
			out = append(out, c)
			i++
		case c == '\r' && i+1 < len(p) && p[i+1] == '\n':
			out = append(out, c)
			i++
		case c == 0x1b && ownColour.Match(p[i:]):
			m := ownColour.Find(p[i:])
			out = append(out, m...)
			i += len(m)
		case c < 0x20 || c == 0x7f:
			out = fmt.Appendf(out, `\x%02x`, c)
			i++
		case c < 0x80:
			out = append(out, c)
			i++
		default:
			r, n := utf8.DecodeRune(p[i:])
			switch {
			case r == utf8.RuneError && n <= 1:
				out = fmt.Appendf(out, `\x%02x`, c)
			case r >= 0x80 && r <= 0x9f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
				out = fmt.Appendf(out, `\u%04x`, r)
			default:
				out = append(out, p[i:i+n]...)
			}
			i += n
		}
	}
	return out
}
