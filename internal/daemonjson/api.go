// Package daemonjson edits dockerd's daemon.json bytes in place. It does no
// I/O: callers read the file, call Merge, and write Result.Bytes.
package daemonjson

// Settings is the desired state swarmctl owns inside daemon.json.
type Settings struct {
	// Mirrors to put first in "registry-mirrors" (already validated by
	// ValidateMirror; Merge validates again).
	Mirrors []string
	// Experimental, when non-nil, is the desired value of "experimental".
	Experimental *bool
	// Insecure also adds each mirror's host[:port] to "insecure-registries".
	Insecure bool
	// Remove takes Mirrors (and with Insecure their insecure-registries
	// entries) out instead of adding them; leaves [] when none are left.
	Remove bool
}

// Change is one edit Merge made, for humans and JSON output.
type Change struct {
	Key    string `json:"key"`             // e.g. "registry-mirrors"
	Action string `json:"action"`          // "set", "add", "remove"
	Value  string `json:"value,omitempty"` // JSON of the value added/set/removed
	Old    string `json:"old,omitempty"`   // JSON of the previous value, if any
}

// Result of a merge.
type Result struct {
	Bytes   []byte   // the new file; equal to the input when !Changed
	Changes []Change // empty when nothing changed
	Changed bool
	// ReloadOnly is true when every change is to a key dockerd reloads on
	// SIGHUP (registry-mirrors, insecure-registries); false when a restart
	// is needed (experimental).
	ReloadOnly bool
}
