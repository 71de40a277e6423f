// Package certsd plans and makes swarmctl's changes to a node's
// /etc/docker/certs.d: a hosts.toml per mirrored registry on nodes whose
// engine reads it (internal/hoststoml decides and edits), and the
// mirror's CA certificate as ca.crt in each mirror host's directory
// (mirror.ca_file).
//
// Ownership. swarmctl's hosts.toml tables carry hoststoml's markers. A
// ca.crt swarmctl writes starts with the line CAMarker (text before the
// first "-----BEGIN" is ignored by every PEM reader, dockerd's and
// containerd's included); a ca.crt without it is never changed or
// deleted. Only files that are swarmctl's are ever removed, and a
// directory only when it is empty afterwards.
//
// Nothing here needs a reload or restart: dockerd and containerd read
// certs.d at each pull.
package certsd

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/swarmctl/swarmctl/internal/hoststoml"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/textdiff"
)

// CAMarker starts the first line of a ca.crt swarmctl wrote.
const CAMarker = "# swarmctl-managed"

const caMarkerLine = CAMarker + ": CA certificates of the registry mirror (mirror.ca_file); swarmctl rewrites or removes this file"

// Kinds of files.
const (
	KindHostsTOML = "hosts.toml"
	KindCA        = "ca.crt"
)

// Actions on a file.
const (
	ActCreate = "create"
	ActUpdate = "update"
	ActDelete = "delete"
)

// Want is what swarmctl wants in one node's certs.d.
type Want struct {
	// Hosts: one hosts.toml per registry this node mirrors that way
	// (Mirrors empty: swarmctl's tables come out).
	Hosts []hoststoml.Desired
	// CA is mirror.ca_file's PEM (nil: none), for every host in CAHosts
	// (host[:port] of each mirror URL).
	CA      []byte
	CAHosts []string
}

// CAHostsOf lists the host[:port] of each https URL, once, in order.
func CAHostsOf(urls []string) []string {
	var out []string
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil || p.Host == "" || p.Scheme != "https" {
			continue
		}
		if !slices.Contains(out, p.Host) {
			out = append(out, p.Host)
		}
	}
	return out
}

// Op is one file change on a node.
type Op struct {
	Path   string `json:"path"`
	Kind   string `json:"kind"`   // hosts.toml | ca.crt
	Action string `json:"action"` // create | update | delete
	// Changes are hosts.toml's table edits.
	Changes []hoststoml.Change `json:"changes,omitempty"`
	// Diff is the unified diff (dry run only; set by the caller).
	Diff string `json:"diff,omitempty"`

	Old     []byte `json:"-"`
	New     []byte `json:"-"`
	Existed bool   `json:"-"`
}

// UnifiedDiff is the op's unified diff (old file, or /dev/null, to new).
func (o Op) UnifiedDiff() string {
	old := o.Old
	newName := o.Path + " (swarmctl)"
	if o.Action == ActDelete {
		newName = "/dev/null"
	}
	oldName := o.Path
	if !o.Existed {
		oldName = "/dev/null"
	}
	return textdiff.Unified(oldName, newName, old, o.New, 3)
}

// Plan is a node's certs.d changes in the order they are made: CA files
// first (a hosts.toml names them and containerd fails a pull whose ca it
// cannot read), then hosts.toml files, then deletions of hosts.toml,
// then of CA files.
type Plan struct {
	Ops      []Op
	Warnings []string
}

// Changed says whether anything is to be written or deleted.
func (p Plan) Changed() bool { return len(p.Ops) > 0 }

// Build compares want with the node's certs.d (nil: unknown, as empty).
// Files swarmctl owns that want no longer names (another upstream or
// mirror host, --remove) are taken out. An error names the file (and, for
// hosts.toml, the line): nothing is changed on that node.
func Build(c *member.CertsD, want Want) (Plan, error) {
	var out Plan
	if c != nil && c.Link && (len(want.Hosts) > 0 || len(want.CA) > 0) {
		return out, fmt.Errorf("%s is a symbolic link: swarmctl does not write through it", hoststoml.CertsDir)
	}
	var errs []error
	var caOps, tomlOps, tomlDel, caDel []Op

	// CA files.
	wantCA := map[string]bool{}
	if len(want.CA) > 0 {
		content := caContent(want.CA)
		for _, h := range want.CAHosts {
			if wantCA[h] {
				continue
			}
			wantCA[h] = true
			p := hoststoml.CAPath(h)
			d := c.Dir(h)
			if d != nil && d.Link {
				errs = append(errs, fmt.Errorf("%s is a symbolic link: swarmctl does not write through it", path.Dir(p)))
				continue
			}
			old, exists, refused := fileOf(d, KindCA)
			switch {
			case refused != "":
				errs = append(errs, fmt.Errorf("%s is %s: swarmctl does not write it", p, refused))
			case !exists:
				caOps = append(caOps, Op{Path: p, Kind: KindCA, Action: ActCreate, New: content})
			case !ownedCA(old):
				if !holdsAll(old, want.CA) {
					errs = append(errs, fmt.Errorf("%s exists and is not swarmctl's (its first line is not %q): not overwritten; add mirror.ca_file's certificates to it, or delete it so swarmctl writes its own", p, CAMarker))
				}
			case !bytes.Equal(old, content):
				caOps = append(caOps, Op{Path: p, Kind: KindCA, Action: ActUpdate, Old: old, New: content, Existed: true})
			}
		}
	}

	// hosts.toml files.
	wantReg := map[string]bool{}
	for _, d := range want.Hosts {
		reg, err := hoststoml.NormalizeRegistry(d.Registry)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		wantReg[reg] = true
		p := hoststoml.HostsPath(reg)
		dir := c.Dir(reg)
		if dir != nil && dir.Link {
			errs = append(errs, fmt.Errorf("%s is a symbolic link: swarmctl does not write through it", path.Dir(p)))
			continue
		}
		old, exists, refused := fileOf(dir, KindHostsTOML)
		if refused != "" {
			errs = append(errs, fmt.Errorf("%s is %s: swarmctl does not edit it", p, refused))
			continue
		}
		if !exists && dir != nil {
			d.CertFiles = certFiles(dir)
		}
		// A ca.crt swarmctl is about to write in the registry's own
		// directory is not there yet: name it too.
		if !exists && wantCA[reg] && !slices.Contains(d.CertFiles, KindCA) {
			d.CertFiles = append(d.CertFiles, KindCA)
		}
		r, err := hoststoml.Apply(old, d)
		if err != nil {
			errs = append(errs, named(p, err))
			continue
		}
		for _, w := range r.Warnings {
			out.addWarning(p, w.Message)
		}
		if !r.Changed {
			continue
		}
		op := Op{Path: p, Kind: KindHostsTOML, Changes: r.Changes, Old: old, Existed: exists, New: r.Out}
		switch {
		case r.Delete:
			op.Action, op.New = ActDelete, nil
			tomlDel = append(tomlDel, op)
			continue
		case exists:
			op.Action = ActUpdate
		default:
			op.Action = ActCreate
		}
		tomlOps = append(tomlOps, op)
	}

	// swarmctl's files that want no longer names.
	if c != nil {
		var names []string
		for n := range c.Dirs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			dir := c.Dirs[n]
			if dir.Link {
				continue
			}
			if b, ok := dir.Files[KindHostsTOML]; ok && !wantReg[n] && bytes.Contains(b, []byte(hoststoml.MarkerTable)) {
				p := path.Join(hoststoml.CertsDir, n, KindHostsTOML)
				r, err := hoststoml.Remove(b, nil)
				if err != nil {
					errs = append(errs, named(p, err))
				} else if r.Changed {
					op := Op{Path: p, Kind: KindHostsTOML, Action: ActUpdate, Changes: r.Changes, Old: b, New: r.Out, Existed: true}
					if r.Delete {
						op.Action, op.New = ActDelete, nil
					}
					tomlDel = append(tomlDel, op)
				}
			}
			if b, ok := dir.Files[KindCA]; ok && !wantCA[n] && ownedCA(b) {
				caDel = append(caDel, Op{Path: path.Join(hoststoml.CertsDir, n, KindCA), Kind: KindCA, Action: ActDelete, Old: b, Existed: true})
			}
		}
	}
	if len(errs) > 0 {
		return Plan{}, errors.Join(errs...)
	}
	out.Ops = slices.Concat(caOps, tomlOps, tomlDel, caDel)
	return out, nil
}

func (p *Plan) addWarning(file, msg string) {
	w := file + ": " + msg
	if !slices.Contains(p.Warnings, w) {
		p.Warnings = append(p.Warnings, w)
	}
}

// named puts the file's path into a hosts.toml error (line and column
// stay).
func named(p string, err error) error {
	var he *hoststoml.Error
	if errors.As(err, &he) && he.Name == "" {
		he.Name = p
		return err
	}
	if strings.Contains(err.Error(), p) {
		return err
	}
	return fmt.Errorf("%s: %w", p, err)
}

// fileOf returns a file of a certs.d directory as facts.sh read it.
func fileOf(d *member.CertsDir, name string) (b []byte, exists bool, refused string) {
	if d == nil {
		return nil, false, ""
	}
	if why := d.Refused[name]; why != "" {
		return nil, true, why
	}
	b, ok := d.Files[name]
	return b, ok, ""
}

// certFiles are the *.crt, *.cert and *.key files of a directory, which
// containerd stops reading once a hosts.toml is there.
func certFiles(d *member.CertsDir) []string {
	var out []string
	for _, e := range d.Entries {
		if d.Refused[e] != "" {
			continue
		}
		if strings.HasSuffix(e, ".crt") || strings.HasSuffix(e, ".cert") || strings.HasSuffix(e, ".key") {
			out = append(out, e)
		}
	}
	return out
}

// caContent is the ca.crt swarmctl writes: the marker, then the PEM.
func caContent(pemBytes []byte) []byte {
	b := []byte(caMarkerLine + "\n")
	b = append(b, bytes.TrimRight(pemBytes, "\n")...)
	return append(b, '\n')
}

// ownedCA says whether a ca.crt is swarmctl's (CAMarker first).
func ownedCA(b []byte) bool { return bytes.HasPrefix(b, []byte(CAMarker)) }

// HoldsAll says whether every certificate of want is in have (PEM).
func HoldsAll(have, want []byte) bool { return holdsAll(have, want) }

// holdsAll: every certificate of want is in have.
func holdsAll(have, want []byte) bool {
	got := map[string]bool{}
	for rest := have; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		got[string(blk.Bytes)] = true
	}
	n := 0
	for rest := want; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		n++
		if !got[string(blk.Bytes)] {
			return false
		}
	}
	return n > 0
}
