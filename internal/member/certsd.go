package member

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
)

// CertsD is /etc/docker/certs.d as facts.sh saw it, nothing followed
// through a symbolic link.
type CertsD struct {
	// Link: certs.d itself is a symbolic link.
	Link bool
	Dirs map[string]*CertsDir
}

// CertsDir is one directory of certs.d (a registry's or a mirror host's).
type CertsDir struct {
	Name string
	// Link: the directory is a symbolic link (its entries are not read).
	Link bool
	// Entries are the names in it (regular files, links, others).
	Entries []string
	// Files are hosts.toml and ca.crt when they are regular files of at
	// most 1 MiB.
	Files map[string][]byte
	// Refused are entries that are a link, not a regular file or too
	// large, with why.
	Refused map[string]string
}

// Dir returns the directory name, or nil.
func (c *CertsD) Dir(name string) *CertsDir {
	if c == nil || c.Dirs == nil {
		return nil
	}
	return c.Dirs[name]
}

func parseCertsD(lines []string) (*CertsD, error) {
	c := &CertsD{Dirs: map[string]*CertsDir{}}
	var cur *CertsDir
	for _, l := range lines {
		kind, rest, _ := strings.Cut(l, " ")
		switch kind {
		case "L":
			if rest == "." {
				c.Link = true
				continue
			}
			c.Dirs[rest] = &CertsDir{Name: rest, Link: true}
			cur = nil
		case "D":
			cur = &CertsDir{Name: rest, Files: map[string][]byte{}, Refused: map[string]string{}}
			c.Dirs[rest] = cur
		case "l", "o", "n", "big", "f":
			if cur == nil {
				continue
			}
			name := rest
			var data string
			if kind == "f" {
				name, data, _ = strings.Cut(rest, " ")
			}
			cur.Entries = append(cur.Entries, name)
			switch kind {
			case "l":
				cur.Refused[name] = "a symbolic link"
			case "o":
				cur.Refused[name] = "not a regular file"
			case "big":
				cur.Refused[name] = "over 1 MiB"
			case "f":
				b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
				if err != nil {
					return nil, fmt.Errorf("node facts: decoding certs.d/%s/%s: %w", cur.Name, name, err)
				}
				cur.Files[name] = b
			}
		}
	}
	return c, nil
}

// encodeCertsD prints c as facts.sh does.
func encodeCertsD(c *CertsD) []string {
	if c == nil {
		return nil
	}
	if c.Link {
		return []string{"L ."}
	}
	var names []string
	for n := range c.Dirs {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		d := c.Dirs[n]
		if d.Link {
			out = append(out, "L "+n)
			continue
		}
		out = append(out, "D "+n)
		for _, e := range d.Entries {
			switch why := d.Refused[e]; {
			case why == "a symbolic link":
				out = append(out, "l "+e)
			case why == "over 1 MiB":
				out = append(out, "big "+e)
			case why != "":
				out = append(out, "o "+e)
			case d.Files[e] != nil:
				out = append(out, "f "+e+" "+base64.StdEncoding.EncodeToString(d.Files[e]))
			default:
				out = append(out, "n "+e)
			}
		}
	}
	return out
}
