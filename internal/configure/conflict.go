package configure

import (
	"fmt"
	"sort"
	"strings"
)

// flagForKey maps the daemon.json keys swarmctl writes to the dockerd flag
// that sets the same directive (flags are singular, keys plural).
var flagForKey = map[string]string{
	"registry-mirrors":    "--registry-mirror",
	"insecure-registries": "--insecure-registry",
	"experimental":        "--experimental",
}

// Conflict is a dockerd flag in the unit that sets a key we write to the
// file: dockerd refuses to start with a directive given in both places.
type Conflict struct {
	Key   string // daemon.json key
	Flag  string // the flag as found, e.g. --registry-mirror=https://m
	Where string // "ExecStart" or "$OPTIONS"
}

// findConflicts looks for flags in the unit's ExecStart and in the
// environment variables it expands (OPTIONS of an EnvironmentFile, and on
// RHEL/Atomic units INSECURE_REGISTRY, ADD_REGISTRY, BLOCK_REGISTRY and
// REGISTRIES) that set one of keys.
func findConflicts(execStart, envOptions string, keys []string) []Conflict {
	argv := execArgv(execStart)
	vars := parseEnv(envOptions)
	used := expandedVars(argv)
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	var sources []struct{ where, text string }
	sources = append(sources, struct{ where, text string }{"ExecStart", argv})
	for _, name := range names {
		// A variable only matters when ExecStart expands it; with no
		// ExecStart known, be safe and look at every variable.
		if argv == "" || used[name] {
			sources = append(sources, struct{ where, text string }{"$" + name, vars[name]})
		}
	}
	var out []Conflict
	for _, key := range keys {
		flag := flagForKey[key]
		for _, src := range sources {
			for _, tok := range strings.Fields(src.text) {
				tok = strings.Trim(tok, `"'`)
				if tok == flag || strings.HasPrefix(tok, flag+"=") {
					out = append(out, Conflict{Key: key, Flag: tok, Where: src.where})
				}
			}
		}
	}
	return out
}

// execArgv extracts the argv[]= part of systemctl's ExecStart property
// ("{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// ; ... }").
func execArgv(execStart string) string {
	i := strings.Index(execStart, "argv[]=")
	if i < 0 {
		return execStart
	}
	rest := execStart[i+len("argv[]="):]
	if j := strings.Index(rest, " ; "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// expandedVars are the variables a systemd command line expands: $NAME
// (the longest run of letters, digits and '_') or ${NAME}; "$$" is a
// literal '$'.
func expandedVars(argv string) map[string]bool {
	used := map[string]bool{}
	isName := func(c byte) bool {
		return c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
	}
	for i := 0; i < len(argv); i++ {
		if argv[i] != '$' || i+1 == len(argv) {
			continue
		}
		switch next := argv[i+1]; {
		case next == '$':
			i++
		case next == '{':
			if end := strings.IndexByte(argv[i+2:], '}'); end >= 0 {
				used[argv[i+2:i+2+end]] = true
				i += 2 + end
			}
		case isName(next):
			j := i + 1
			for j < len(argv) && isName(argv[j]) {
				j++
			}
			used[argv[i+1:j]] = true
			i = j - 1
		}
	}
	return used
}

// execPath is the binary of the unit's ExecStart ("" if unknown).
func execPath(execStart string) string {
	i := strings.Index(execStart, "path=")
	if i < 0 {
		return ""
	}
	f := strings.Fields(execStart[i+len("path="):])
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// parseEnv reads NAME=value assignments: lines of an EnvironmentFile
// (OPTIONS='--a --b', or unquoted to the end of the line) and systemctl's
// Environment= property (space separated, "NAME=value with spaces" quoted).
func parseEnv(s string) map[string]string {
	vars := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "export "))
		if strings.HasPrefix(line, "#") {
			continue
		}
		for line != "" {
			var assign string
			if q := line[0]; q == '\'' || q == '"' {
				end := strings.IndexByte(line[1:], q)
				if end < 0 {
					assign, line = line[1:], ""
				} else {
					assign, line = line[1:end+1], line[end+2:]
				}
				if name, val, ok := strings.Cut(assign, "="); ok {
					vars[name] = val
				}
				line = strings.TrimSpace(line)
				continue
			}
			eq := strings.IndexByte(line, '=')
			if eq <= 0 {
				break
			}
			name, rest := line[:eq], line[eq+1:]
			var val string
			switch {
			case rest != "" && (rest[0] == '\'' || rest[0] == '"'):
				end := strings.IndexByte(rest[1:], rest[0])
				if end < 0 {
					val, rest = rest[1:], ""
				} else {
					val, rest = rest[1:end+1], rest[end+2:]
				}
			default:
				// Unquoted: up to the next NAME=... word, else the line's end.
				val, rest = rest, ""
				words := strings.Fields(val)
				for i := 1; i < len(words); i++ {
					if looksLikeAssignment(words[i]) {
						val, rest = strings.Join(words[:i], " "), strings.Join(words[i:], " ")
						break
					}
				}
			}
			vars[strings.TrimSpace(name)] = val
			line = strings.TrimSpace(rest)
		}
	}
	return vars
}

func looksLikeAssignment(s string) bool {
	s = strings.TrimLeft(strings.TrimSpace(s), `"'`)
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return false
	}
	for _, r := range s[:eq] {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// conflictError explains why writing would stop dockerd from starting.
func conflictError(service string, cs []Conflict) error {
	var flags, keys []string
	for _, c := range cs {
		flags = append(flags, fmt.Sprintf("%s (in %s)", c.Flag, c.Where))
		keys = append(keys, fmt.Sprintf("%q", c.Key))
	}
	return fmt.Errorf("%s.service passes %s and daemon.json would set %s too: dockerd would refuse to start "+
		"(\"the following directives are specified both as a flag and in the configuration file: %s\"); "+
		"remove the flag from the unit or its EnvironmentFile first. Nothing was written",
		service, strings.Join(flags, ", "), strings.Join(keys, ", "), cs[0].Key)
}
