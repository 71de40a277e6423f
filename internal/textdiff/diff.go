// Package textdiff renders unified diffs of small text files (daemon.json
// before and after an edit) for dry runs and reports.
package textdiff

import (
	"bytes"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// noNewline is the marker diff(1) and patch(1) use for a last line that has
// no line ending.
const noNewline = "\n\\ No newline at end of file\n"

// Unified returns a unified diff from old to new with context lines of
// context (3 when negative), or "" when the two are byte-for-byte equal.
// A missing final newline is shown with diff's usual marker, so a change
// that only adds or removes the last line ending is still visible.
func Unified(oldName, newName string, old, new []byte, context int) string {
	if bytes.Equal(old, new) {
		return ""
	}
	if context < 0 {
		context = 3
	}
	d := difflib.UnifiedDiff{
		A:        lines(old),
		B:        lines(new),
		FromFile: oldName,
		ToFile:   newName,
		Context:  context,
	}
	s, err := difflib.GetUnifiedDiffString(d)
	if err != nil {
		// Writing to a strings.Builder cannot fail.
		panic("textdiff: " + err.Error())
	}
	return s
}

// lines splits b after each "\n", keeping the endings (and any "\r"), so
// the diff reproduces the text exactly.
func lines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	ls := strings.SplitAfter(string(b), "\n")
	if ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	} else {
		ls[len(ls)-1] += noNewline
	}
	return ls
}
