package daemonjson

import "fmt"

// SyntaxError says why daemon.json cannot be edited safely and where: the
// file is not valid JSON (trailing comma, comment, truncated, duplicate
// key, ...), its top level is not an object, or one of the keys swarmctl
// owns holds a value of the wrong type (then Key names it and the position
// is that of the value). Line and Column are 1-based; Column counts
// characters, not bytes, after a UTF-8 byte order mark if there is one.
type SyntaxError struct {
	Line, Column int
	Msg          string
	// Key is set for a wrong-type error, e.g. "registry-mirrors".
	Key string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// MirrorError is a mirror URL dockerd would refuse (or silently ignore).
type MirrorError struct {
	URL  string // as given, with any password masked
	Rule string // what is wrong, e.g. "scheme must be http or https"
}

func (e *MirrorError) Error() string {
	return fmt.Sprintf("invalid mirror URL %q: %s", e.URL, e.Rule)
}
