package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/swarmctl/swarmctl/internal/report"
)

// SchemaVersion of every JSON document swarmctl prints (see report).
const SchemaVersion = report.SchemaVersion

// document is a command's JSON result: it starts with report.Header.
type document interface{ Head() *report.Header }

// emit prints a command's result and returns err: JSON on stdout with -o
// json, else the human form; with --output-file the JSON also goes to that
// file. The header is filled here, on failure too: the command's name,
// the schema version, the duration and, when err is set, the error
// object. doc must already be free of secrets.
func emit(d *Deps, g *GlobalOptions, doc document, human func(), err error) error {
	g.emitted = true
	h := doc.Head()
	h.SchemaVersion = SchemaVersion
	if h.Command == "" {
		h.Command = g.command
	}
	if h.Problems == nil {
		h.Problems = []report.Problem{}
	}
	if h.Warnings == nil {
		h.Warnings = []string{}
	}
	if !g.start.IsZero() {
		h.DurationMS = d.Now().Sub(g.start).Milliseconds()
	}
	h.Error = errorInfo(err)
	if werr := writeJSON(d, g, doc); werr != nil {
		return werr
	}
	if g.Output != "json" {
		human()
	}
	return err
}

// writeJSON writes doc to --output-file and, with -o json, to stdout.
func writeJSON(d *Deps, g *GlobalOptions, doc any) error {
	if g.OutputFile != "" {
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		if err := writeArtifact(g.OutputFile, append(b, '\n')); err != nil {
			return fmt.Errorf("--output-file: %w", err)
		}
	}
	if g.Output == "json" {
		enc := json.NewEncoder(d.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	return nil
}

// writeArtifact writes an --output-file document readable by its owner
// only (0600), also when the file already existed with a wider mode. A
// special file (/dev/stdout, a pipe) is written as it is.
func writeArtifact(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Mode().Perm() != 0o600 {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// errorDocument is what a command that failed before it had a result
// writes (bad flags, a bad inventory, consent missing): the header alone.
type errorDocument struct {
	report.Header
}
