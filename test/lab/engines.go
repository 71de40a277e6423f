package lab

import (
	"fmt"
	"slices"
	"strings"
)

// Engines a machine can run. Each is whatever Docker the named Debian
// suite serves today (the version is read from the machine, never assumed).
const (
	// Engine2010 is Debian 12 (bookworm)'s docker.io: Docker 20.10 with
	// containerd 1.6. Classic image store only.
	Engine2010 = "20.10"
	// Engine261 is Debian 13 (trixie)'s docker.io and docker-cli: Docker
	// 26.1 with containerd 1.7.
	Engine261 = "26.1"
	// Engine285 is Debian unstable (sid)'s docker.io, containerd, runc and
	// docker-cli on a trixie base (sid's own systemd refuses these hosts'
	// cgroup v1): Docker 28.5 with containerd 2.1.
	Engine285 = "28.5"
)

// Image stores a machine's dockerd can use.
const (
	// StoreClassic is the graphdriver store (vfs in the lab).
	StoreClassic = "classic"
	// StoreContainerd is the containerd image store ("features":
	// {"containerd-snapshotter": true} in daemon.json at boot, snapshotter
	// native in the lab).
	StoreContainerd = "containerd"
)

// engineRecipe says how to build one engine's machine image.
type engineRecipe struct {
	name  string
	suite string // debootstrap suite of the base system
	// packages go to debootstrap --include.
	packages []string
	// sidPackages are installed afterwards from sid, pinned low so that
	// only these (and what they need) come from it.
	sidPackages []string
	// systemPaths: nested dockerd needs a writable /proc/sys (docker run
	// fails with "failed to disable IPv6 on container's interface eth0"
	// without it on 28.5), so the machine container runs with
	// --security-opt systempaths=unconfined.
	systemPaths bool
	// stores the engine supports.
	stores []string
}

// nodePackages are what a swarm node needs and no more: swarmctl must work
// with a POSIX shell, coreutils, systemd and docker only (no python, no jq).
// dbus is there because real hosts have it: without it systemctl fails for
// non-root users.
var nodePackages = []string{
	"systemd", "systemd-sysv", "openssh-server", "sudo",
	"iproute2", "ca-certificates", "curl", "dbus",
}

var engineRecipes = []engineRecipe{
	{
		name: Engine2010, suite: "bookworm",
		packages: append(slices.Clone(nodePackages), "docker.io"),
		stores:   []string{StoreClassic},
	},
	{
		// On trixie the docker client is the separate docker-cli package.
		name: Engine261, suite: "trixie",
		packages:    append(slices.Clone(nodePackages), "docker.io", "docker-cli"),
		systemPaths: true,
		stores:      []string{StoreClassic, StoreContainerd},
	},
	{
		name: Engine285, suite: "trixie",
		packages:    slices.Clone(nodePackages),
		sidPackages: []string{"docker.io", "containerd", "docker-cli", "runc", "tini-static"},
		systemPaths: true,
		stores:      []string{StoreClassic, StoreContainerd},
	},
}

// Engines lists the engines the lab can run, oldest first.
func Engines() []string {
	var out []string
	for _, r := range engineRecipes {
		out = append(out, r.name)
	}
	return out
}

func recipeOf(engine string) (engineRecipe, error) {
	for _, r := range engineRecipes {
		if r.name == engine {
			return r, nil
		}
	}
	return engineRecipe{}, fmt.Errorf("unknown engine %q (want one of %s)", engine, strings.Join(Engines(), ", "))
}

// Spec is what one machine runs: an engine and an image store.
type Spec struct {
	Engine     string `json:"engine"`
	ImageStore string `json:"image_store"`
}

func (s Spec) String() string { return s.Engine + "/" + s.ImageStore }

// ParseSpec reads "28.5", "28.5/containerd" or "26.1/classic" (the image
// store defaults to classic).
func ParseSpec(s string) (Spec, error) {
	e, st, _ := strings.Cut(strings.TrimSpace(s), "/")
	sp := Spec{Engine: e, ImageStore: st}
	return sp, sp.fill(Spec{})
}

// fill takes empty fields from def (then the lab's defaults) and checks
// the pair.
func (s *Spec) fill(def Spec) error {
	if s.Engine == "" {
		s.Engine = def.Engine
	}
	if s.ImageStore == "" {
		s.ImageStore = def.ImageStore
	}
	if s.Engine == "" {
		s.Engine = Engine2010
	}
	if s.ImageStore == "" {
		s.ImageStore = StoreClassic
	}
	r, err := recipeOf(s.Engine)
	if err != nil {
		return err
	}
	if s.ImageStore != StoreClassic && s.ImageStore != StoreContainerd {
		return fmt.Errorf("unknown image store %q (want %s or %s)", s.ImageStore, StoreClassic, StoreContainerd)
	}
	if !slices.Contains(r.stores, s.ImageStore) {
		return fmt.Errorf("engine %s has no %s image store (it has: %s)", s.Engine, s.ImageStore, strings.Join(r.stores, ", "))
	}
	return nil
}
