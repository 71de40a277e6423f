package hoststoml

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a Docker engine version as `docker version`/`docker info`
// print it; distribution suffixes ("+dfsg1", "-1~deb12u1", "-rc.1") are
// ignored, so a pre-release counts as its release.
type Version struct{ Major, Minor, Patch int }

// ParseVersion reads "28.5.2", "20.10.24+dfsg1", "26.1.5+dfsg1", "v29.0.0",
// "29.1", "18.09.1" (Docker's old two-digit months) and the like.
func ParseVersion(s string) (Version, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(t, "+-~ "); i >= 0 {
		t = t[:i]
	}
	parts := strings.Split(t, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("engine version %q: want MAJOR.MINOR[.PATCH]", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || p == "" || p[0] == '+' {
			return Version{}, fmt.Errorf("engine version %q: %q is not a number", s, p)
		}
		n[i] = v
	}
	return Version{n[0], n[1], n[2]}, nil
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast compares with major.minor.patch.
func (v Version) AtLeast(major, minor, patch int) bool {
	if v.Major != major {
		return v.Major > major
	}
	if v.Minor != minor {
		return v.Minor > minor
	}
	return v.Patch >= patch
}

// ImageStore is the node's image store, from `docker info` DriverStatus
// (io.containerd.snapshotter.v1 means containerd).
type ImageStore string

const (
	StoreClassic    ImageStore = "classic"
	StoreContainerd ImageStore = "containerd"
)

// Route is how a node can pull a registry through a mirror.
type Route string

const (
	// ViaHostsTOML: /etc/docker/certs.d/<registry>/hosts.toml.
	ViaHostsTOML Route = "hosts.toml"
	// ViaDaemonJSON: daemon.json registry-mirrors (docker.io only).
	ViaDaemonJSON Route = "daemon.json"
	// NotPossible: this node cannot mirror the registry.
	NotPossible Route = "not-possible"
)

// Decision is issue 13's per-node, per-registry choice.
type Decision struct {
	Registry string `json:"registry"`
	Route    Route  `json:"route"`
	// AlsoDaemonJSON: docker.io on a hosts.toml node keeps registry-mirrors
	// in daemon.json too, so `docker info` stays truthful and a later
	// switch of image store keeps the mirror.
	AlsoDaemonJSON bool `json:"also_daemon_json,omitempty"`
	// Reason and Fix are set when Route is NotPossible.
	Reason string `json:"reason,omitempty"`
	Fix    string `json:"fix,omitempty"`
}

// Decide chooses how a node running Docker engine (a version string) with
// the given image store can pull registry through a mirror:
//   - Docker >= 28 with the containerd image store reads hosts.toml
//     (moby daemon/hosts.go, first in v28.0.0): every registry, docker.io
//     included.
//   - Any other node reads only daemon.json registry-mirrors, which apply
//     to Docker Hub alone: docker.io there, every other registry not
//     possible, with the reason and what would make it possible.
func Decide(engine string, store ImageStore, registry string) (Decision, error) {
	reg, err := NormalizeRegistry(registry)
	if err != nil {
		return Decision{}, err
	}
	v, err := ParseVersion(engine)
	if err != nil {
		return Decision{}, err
	}
	if store != StoreClassic && store != StoreContainerd {
		return Decision{}, fmt.Errorf("image store %q: want %q or %q", store, StoreClassic, StoreContainerd)
	}
	d := Decision{Registry: reg}
	newEnough := v.AtLeast(28, 0, 0)
	switch {
	case newEnough && store == StoreContainerd:
		d.Route = ViaHostsTOML
		d.AlsoDaemonJSON = reg == DockerHub
	case reg == DockerHub:
		d.Route = ViaDaemonJSON
	default:
		d.Route = NotPossible
		d.Reason = fmt.Sprintf("needs Docker >= 28 with the containerd image store; this node runs %s with the %s store, where registry-mirrors apply to Docker Hub only", v, store)
		const enable = `enable the containerd image store ("features": {"containerd-snapshotter": true} in daemon.json, then restart dockerd; images and containers of the classic store are not visible in it)`
		switch {
		case !newEnough && store == StoreClassic:
			d.Fix = "upgrade Docker to 28 or later and " + enable
		case !newEnough:
			d.Fix = "upgrade Docker to 28 or later (25 to 27 read only daemon.json's registry-mirrors, even with the containerd image store)"
		default:
			d.Fix = enable
		}
	}
	return d, nil
}

// CheckEngine says what a node's engine makes of f, from the containerd
// that each Docker release vendors: capability "referrers" is known from
// Docker 29.1 (containerd 2.2) and makes older engines ignore the whole
// file, an error; dial_timeout is read from Docker 28.3 (containerd 2.1)
// and ignored before, a warning. Debian's +dfsg builds link Debian's own
// containerd, so for them these thresholds are approximate.
func CheckEngine(f *File, engine string) ([]Warning, error) {
	v, err := ParseVersion(engine)
	if err != nil {
		return nil, err
	}
	var ws []Warning
	for _, h := range append([]Host{f.Root}, f.Hosts...) {
		name := "top level"
		if h.Key != "" {
			name = fmt.Sprintf("[host.%s]", quote(h.Key))
		}
		for _, c := range h.Capabilities {
			if strings.EqualFold(c, "referrers") && !v.AtLeast(29, 1, 0) {
				return nil, &Error{Position: h.Position, Msg: fmt.Sprintf(
					"%s: capability \"referrers\" is known from Docker 29.1; Docker %s ignores this whole file for it", name, v)}
			}
		}
		if h.DialTimeout != "" && !v.AtLeast(28, 3, 0) {
			ws = append(ws, Warning{Code: CodeEngineIgnoresKey, Message: fmt.Sprintf(
				"%s: dial_timeout is read from Docker 28.3; Docker %s ignores it", name, v)})
		}
	}
	return ws, nil
}
