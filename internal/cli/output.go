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
		if err := writeArtifact(g.OutputFile, append(b, '\n')); err != nil {
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
