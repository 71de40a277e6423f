package nodes

import (
	"bufio"
	"bytes"
	"strings"
)

// Sections is the output of a script that prints several things in one
// round trip: a line "@@name" starts the section name, and every line up
// to the next such line belongs to it (blank lines included). Lines before
// the first marker are dropped; a name given twice keeps the later section.
// Scripts end with "@@end", so a cut-off output is told from a whole one.
type Sections map[string][]string

// maxSectionLine bounds one line of sectioned output (a daemon.json is one
// base64 line).
const maxSectionLine = 16 * 1024 * 1024

// ParseSections splits sectioned script output.
func ParseSections(out []byte) Sections {
	s := Sections{}
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), maxSectionLine)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "@@"); ok {
			cur = name
			s[cur] = nil
			continue
		}
		if cur != "" {
			s[cur] = append(s[cur], line)
		}
	}
	return s
}

// Has reports whether the output had the section (even empty).
func (s Sections) Has(name string) bool {
	_, ok := s[name]
	return ok
}

// First is the section's first line, trimmed ("" when it has none).
func (s Sections) First(name string) string {
	if v := s[name]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// NonBlank is the section's lines that are not blank.
func (s Sections) NonBlank(name string) []string {
	var out []string
	for _, l := range s[name] {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// SectionWriter writes sectioned output in the format ParseSections reads:
// test fakes use it to answer exactly as the scripts do.
type SectionWriter struct{ b bytes.Buffer }

// Section writes the marker for name and then each line.
func (w *SectionWriter) Section(name string, lines ...string) {
	w.b.WriteString("@@" + name + "\n")
	for _, l := range lines {
		w.b.WriteString(l + "\n")
	}
}

// Bytes is what was written.
func (w *SectionWriter) Bytes() []byte { return w.b.Bytes() }
