package hoststoml

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// splice copies the file's lines, dropping the sections drop says are
// swarmctl's (whole-line comments inside them other than the marker stay),
// and writes blocks as one group: where the first marked section was, else
// before the first [host...] section, else at the end.
func splice(l *layout, drop func(section) bool, blocks []mirrorBlock) []byte {
	var out bytes.Buffer
	at := -1
	for i, s := range l.sections[1:] {
		if s.marked {
			at = i + 1
			break
		}
	}
	if at < 0 {
		for i, s := range l.sections[1:] {
			if len(s.key) >= 1 && s.key[0] == "host" {
				at = i + 1
				break
			}
		}
	}
	keptComment := false // the last line written is a comment kept from a dropped section
	lastBlank := func() bool {
		b := out.Bytes()
		if len(b) == 0 {
			return true
		}
		j := bytes.LastIndexByte(b[:len(b)-1], '\n')
		return len(bytes.TrimSpace(b[j+1:])) == 0
	}
	groupEnd := -1
	group := func() {
		if len(blocks) == 0 {
			return
		}
		if b := out.Bytes(); len(b) > 0 && b[len(b)-1] != '\n' {
			out.WriteString(l.eol)
		}
		if !lastBlank() && !keptComment {
			out.WriteString(l.eol)
		}
		for _, b := range blocks {
			for _, ln := range b.lines {
				out.WriteString(ln + l.eol)
			}
			out.WriteString(l.eol)
		}
		groupEnd = out.Len()
	}
	for i, s := range l.sections {
		if i == at && !drop(s) {
			group()
		}
		if i > 0 && drop(s) {
			// Comments above the header stay above the group, those
			// below it below, so a second run finds them where they are.
			header := l.items[s.header].first
			keep := func(from, to int) {
				for ln := from; ln < to; ln++ {
					if l.comment[ln] && !l.isMarker(ln, MarkerTable) {
						out.Write(l.line(ln))
						keptComment = true
					}
				}
			}
			keep(s.start, header)
			if i == at {
				group()
			}
			keep(header+1, s.end)
			continue
		}
		for ln := s.start; ln < s.end; ln++ {
			out.Write(l.line(ln))
			keptComment = false
		}
	}
	if at < 0 {
		group()
	}
	if groupEnd == out.Len() {
		out.Truncate(out.Len() - len(l.eol)) // nothing follows the group: no trailing blank line
	}
	return out.Bytes()
}

// diffOwned lists what changes among swarmctl's tables.
func diffOwned(f *File, blocks []mirrorBlock) []Change {
	l := f.layout
	old := map[string]string{}
	var oldOrder []string
	for _, s := range l.sections[1:] {
		if !s.marked {
			continue
		}
		k := keyNorm(s.key[1])
		var lines []string
		for ln := s.start; ln < s.end; ln++ {
			if !l.blank(ln) && (!l.comment[ln] || l.isMarker(ln, MarkerTable)) {
				lines = append(lines, strings.TrimRight(string(l.line(ln)), "\r\n"))
			}
		}
		old[k] = strings.Join(lines, "\n")
		oldOrder = append(oldOrder, k)
	}
	var cs []Change
	var newOrder []string
	for _, b := range blocks {
		prev, ok := old[b.key]
		switch {
		case !ok:
			cs = append(cs, Change{Action: "add", Host: b.key})
		case prev != strings.Join(b.lines, "\n"):
			cs = append(cs, Change{Action: "update", Host: b.key})
		}
		if ok {
			newOrder = append(newOrder, b.key)
		}
	}
	for _, k := range oldOrder {
		if !slices.ContainsFunc(blocks, func(b mirrorBlock) bool { return b.key == k }) {
			cs = append(cs, Change{Action: "remove", Host: k})
		}
	}
	kept := slices.DeleteFunc(slices.Clone(oldOrder), func(k string) bool { return !slices.Contains(newOrder, k) })
	if !slices.Equal(kept, newOrder) {
		cs = append(cs, Change{Action: "move", Detail: "order: " + strings.Join(newOrder, ", ")})
	}
	return cs
}

// verifyOrder checks that dockerd would try swarmctl's mirrors in the
// desired order, one after another, and marked as swarmctl's.
func verifyOrder(f *File, blocks []mirrorBlock) error {
	var owned []string
	for _, h := range f.Hosts {
		if h.Owned {
			owned = append(owned, h.Key)
		}
	}
	want := make([]string, len(blocks))
	for i, b := range blocks {
		want[i] = b.key
	}
	if !slices.Equal(owned, want) {
		return fmt.Errorf("the edited file lists swarmctl's mirrors as %q, want %q", owned, want)
	}
	return nil
}
