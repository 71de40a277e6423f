package cli

import (
	"encoding/json"
	"fmt"
	"os"
)

// SchemaVersion of every JSON document swarmctl prints. Fields are only
// ever added within a version.
const SchemaVersion = 1

// emit prints a command's result: JSON on stdout with -o json, else the
// human form; with --output-file the JSON also goes to that file. doc must
// already be free of secrets.
func emit(d *Deps, g *GlobalOptions, doc any, human func()) error {
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
	human()
	return nil
}
