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
		if err := os.WriteFile(g.OutputFile, append(b, '\n'), 0o644); err != nil {
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

// errorDocument is what a command that failed before it had a result
// writes (bad flags, a bad inventory, consent missing): the header alone.
type errorDocument struct {
	report.Header
}
