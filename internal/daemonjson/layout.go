package daemonjson

import (
	"bytes"
	"strings"
)

// layout is how the file is written, learnt from its own text, so what
// swarmctl inserts looks like the rest of it.
type layout struct {
	nl        string // "\n" or "\r\n"
	multiline bool   // members on their own lines
	indent    string // leading whitespace of a member line ("\t", "    ", ...)
	colon     string // between a key and its value: ": ", ":", " : "
	memberSep string // between members on one line: ", " or ","
	// arrays holds an array from the file to copy the style of, if any.
	arrays *value
}

// newFileLayout is the style of a file swarmctl creates.
var newFileLayout = layout{nl: "\n", multiline: true, indent: "  ", colon: ": ", memberSep: ", "}

func detectLayout(d *doc) layout {
	l := newFileLayout
	src := d.src
	if i := bytes.IndexByte(src, '\n'); i > 0 && src[i-1] == '\r' {
		l.nl = "\r\n"
	}
	if len(d.members) == 0 {
		return l
	}
	first := d.members[0]
	if c := src[first.keyEnd:first.val.start]; !hasLineBreak(c) {
		l.colon = string(c)
	}
	l.memberSep = ", "
	if len(d.members) > 1 {
		if s := src[first.val.end:d.members[1].keyStart]; !hasLineBreak(s) {
			l.memberSep = string(s)
		}
	} else if !strings.HasSuffix(l.colon, " ") {
		l.memberSep = ","
	}
	l.multiline = false
	for _, m := range d.members {
		if ind, ok := lineIndent(src, m.keyStart); ok {
			l.multiline, l.indent = true, ind
			break
		}
	}
	for i := range d.members {
		if v := &d.members[i].val; v.kind == kArray && len(v.elems) > 0 {
			l.arrays = v
			break
		}
	}
	return l
}

func hasLineBreak(b []byte) bool { return bytes.ContainsAny(b, "\r\n") }

// lineIndent returns the whitespace before offset at on its line, and
// whether only whitespace precedes it there (at starts the line).
func lineIndent(src []byte, at int) (string, bool) {
	start := bytes.LastIndexByte(src[:at], '\n') + 1
	ws := src[start:at]
	if len(bytes.TrimLeft(ws, " \t")) != 0 || start == 0 {
		return "", false
	}
	return string(ws), true
}

// unit is one level of indentation.
func (l layout) unit() string {
	if l.indent == "" {
		return "  "
	}
	return l.indent
}

// arrayStyle is how an array is written.
type arrayStyle struct {
	multiline   bool
	elemIndent  string // multi-line: before each element
	closeIndent string // multi-line: before ']'
	pad         string // one line: inside the brackets, "[ a ]"
	sep         string // one line: between elements, ", "
}

// styleFor picks the style for the array value of a member whose key line
// is indented by keyIndent: the member's current array if it has elements
// (also a multi-line one in a file whose members share lines), else
// another array of the file, else one element per line when there are
// several (one line in a one-line file).
func (l layout) styleFor(src []byte, cur *value, keyIndent string, n int) arrayStyle {
	s := arrayStyle{
		elemIndent:  keyIndent + l.unit(),
		closeIndent: keyIndent,
		sep:         ", ",
	}
	if !strings.HasSuffix(l.colon, " ") {
		s.sep = ","
	}
	if !l.multiline && cur != nil && len(cur.elems) > 0 && hasLineBreak(src[cur.start:cur.end]) {
		// The member's own array is written one element per line though
		// no member starts its own line: it keeps its layout.
		s.multiline = true
		if ind, ok := lineIndent(src, cur.elems[0].start); ok {
			s.elemIndent = ind
		}
		if ind, ok := lineIndent(src, cur.end-1); ok {
			s.closeIndent = ind
		}
		return s
	}
	if !l.multiline {
		if ex := l.arrays; ex != nil && !hasLineBreak(src[ex.start:ex.end]) {
			s.copyInline(src, ex)
		}
		return s
	}
	ex := cur
	if ex == nil || len(ex.elems) == 0 {
		ex = l.arrays
	}
	if ex == nil {
		s.multiline = n > 1
		return s
	}
	if !hasLineBreak(src[ex.start:ex.end]) {
		s.copyInline(src, ex)
		return s
	}
	s.multiline = true
	if ex == cur {
		if ind, ok := lineIndent(src, ex.elems[0].start); ok {
			s.elemIndent = ind
		}
		if ind, ok := lineIndent(src, ex.end-1); ok {
			s.closeIndent = ind
		}
	}
	return s
}

func (s *arrayStyle) copyInline(src []byte, ex *value) {
	s.pad = string(src[ex.start+1 : ex.elems[0].start])
	if len(ex.elems) > 1 {
		s.sep = string(src[ex.elems[0].end:ex.elems[1].start])
	}
}

// render writes an array of already-encoded JSON elements.
func (s arrayStyle) render(elems []string, nl string) string {
	if len(elems) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteByte('[')
	if s.multiline {
		for i, e := range elems {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(nl + s.elemIndent + e)
		}
		b.WriteString(nl + s.closeIndent)
	} else {
		b.WriteString(s.pad + strings.Join(elems, s.sep) + s.pad)
	}
	b.WriteByte(']')
	return b.String()
}

// quote encodes s as a JSON string, escaping only what JSON requires.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			const hex = "0123456789abcdef"
			b.WriteString(`\u00`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
