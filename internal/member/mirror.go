package member

import (
	"github.com/swarmctl/swarmctl/internal/daemonjson"
)

// MirrorState is what a node's file says and what its daemon uses.
type MirrorState struct {
	FileMirrors      []string `json:"file_mirrors"`
	LiveMirrors      []string `json:"live_mirrors"`
	FileExperimental bool     `json:"file_experimental"`
	LiveExperimental bool     `json:"live_experimental"`
	// Configured: daemon.json lists every wanted mirror (and experimental
	// when wanted). With no wanted mirror: it lists any mirror.
	Configured bool `json:"configured"`
	// Applied: the running daemon reports them too.
	Applied bool `json:"applied"`
	// Pending: configured in the file but not yet applied (needs a
	// reload or restart).
	Pending bool `json:"pending"`
	// FileError is set when daemon.json cannot be parsed.
	FileError string `json:"file_error,omitempty"`
}

// Evaluate judges a node's mirror state from its facts (no I/O) against
// the wanted mirrors.
func Evaluate(f *Facts, want []string, wantExperimental bool) MirrorState {
	st := MirrorState{LiveMirrors: f.LiveMirrors, LiveExperimental: f.LiveExperimental}
	if st.LiveMirrors == nil {
		st.LiveMirrors = []string{}
	}
	if f.DaemonJSONTooLarge {
		st.FileError = f.TooLargeError().Error()
		st.FileMirrors = []string{}
		return st
	}
	mirrors, err := daemonjson.ReadMirrors(f.DaemonJSON)
	if err != nil {
		st.FileError = err.Error()
	}
	exp, _, err := daemonjson.ReadExperimental(f.DaemonJSON)
	if err != nil && st.FileError == "" {
		st.FileError = err.Error()
	}
	if mirrors == nil {
		mirrors = []string{}
	}
	st.FileMirrors, st.FileExperimental = mirrors, exp
	if len(want) == 0 {
		st.Configured = len(mirrors) > 0
		st.Applied = len(st.LiveMirrors) > 0
	} else {
		st.Configured = containsAll(mirrors, want) && (!wantExperimental || exp)
		st.Applied = containsAll(st.LiveMirrors, want) && (!wantExperimental || f.LiveExperimental)
	}
	st.Pending = st.Configured && !st.Applied
	return st
}

func containsAll(have, want []string) bool {
	set := map[string]bool{}
	for _, h := range have {
		set[daemonjson.NormalizeMirror(h)] = true
	}
	for _, w := range want {
		if !set[daemonjson.NormalizeMirror(w)] {
			return false
		}
	}
	return true
}
