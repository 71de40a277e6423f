// Package templates holds the bundled registry-mirror stack files as Go
// text/template sources. `--templates DIR` replaces them with a directory
// holding files of the same names (see internal/stack for the data they get).
package templates

import "embed"

// Names of the template files, in FS and in a --templates directory.
const (
	StackFile  = "registry.yml.tmpl"
	ConfigFile = "registry-mirror-config.yml.tmpl"
)

// FS holds the bundled templates.
//
//go:embed *.tmpl
var FS embed.FS
