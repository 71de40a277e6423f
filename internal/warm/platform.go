package warm

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Platform is one os/architecture[/variant] the fleet runs, in the OCI
// spelling ("linux/amd64", "linux/arm64", "linux/arm/v7").
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

// DefaultPlatform is used when Options.Platforms is empty.
var DefaultPlatform = Platform{OS: "linux", Architecture: "amd64"}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform reads "os/arch[/variant]". Architecture names are
// normalised as containerd does (x86_64 -> amd64, aarch64 -> arm64,
// armhf -> arm/v7), so "linux/aarch64" and "linux/arm64/v8" are one platform.
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, fmt.Errorf("platform %q: want os/arch or os/arch/variant", s)
	}
	p := Platform{OS: strings.ToLower(parts[0]), Architecture: strings.ToLower(parts[1])}
	if len(parts) == 3 {
		if parts[2] == "" {
			return Platform{}, fmt.Errorf("platform %q: empty variant", s)
		}
		p.Variant = strings.ToLower(parts[2])
	}
	return p.normalize(), nil
}

// PlatformFromDockerInfo turns `docker info`'s OSType and Architecture
// (the kernel's uname -m, e.g. "linux" and "x86_64" or "armv7l") into a
// Platform, for fleets whose node facts carry those two values.
func PlatformFromDockerInfo(osType, arch string) (Platform, error) {
	if osType == "" || arch == "" {
		return Platform{}, fmt.Errorf("platform from docker info: empty OSType %q or Architecture %q", osType, arch)
	}
	return Platform{OS: strings.ToLower(osType), Architecture: strings.ToLower(arch)}.normalize(), nil
}

// normalize maps architecture aliases and default variants to one spelling,
// so that equal platforms compare equal: containerd's platforms.Normalize
// rules (amd64 "v1" is no variant; arm64's default variant is v8 and is
// dropped; arm's default variant is v7).
func (p Platform) normalize() Platform {
	switch p.Architecture {
	case "x86_64", "x86-64", "x64":
		p.Architecture, p.Variant = "amd64", ""
	case "aarch64", "arm64":
		p.Architecture = "arm64"
		if p.Variant == "8" || p.Variant == "v8" {
			p.Variant = ""
		}
	case "armhf", "armv7l", "armv7":
		p.Architecture, p.Variant = "arm", "v7"
	case "armel", "armv6l", "armv6":
		p.Architecture, p.Variant = "arm", "v6"
	case "armv5l", "armv5", "armv5tel":
		p.Architecture, p.Variant = "arm", "v5"
	case "arm":
		switch p.Variant {
		case "", "7":
			p.Variant = "v7"
		case "5", "6", "8":
			p.Variant = "v" + p.Variant
		}
	case "i386", "i486", "i586", "i686", "386":
		p.Architecture, p.Variant = "386", ""
	}
	if p.Architecture == "amd64" && p.Variant == "v1" {
		p.Variant = ""
	}
	return p
}

// armFallback is what an arm node also runs when its own variant is
// missing from an index: containerd's platforms.Only lets v7 run v6 and v5,
// and v6 run v5.
var armFallback = map[string][]string{"v8": {"v7", "v6", "v5"}, "v7": {"v6", "v5"}, "v6": {"v5"}}

// runsOn is what a node of platform node pulls, best first: its own
// platform, then for arm the lower variants.
func runsOn(node Platform) []Platform {
	node = node.normalize()
	out := []Platform{node}
	if node.Architecture == "arm" {
		for _, v := range armFallback[node.Variant] {
			out = append(out, Platform{OS: node.OS, Architecture: "arm", Variant: v})
		}
	}
	return out
}

// selectManifests picks, for every wanted platform, the manifest a node of
// that platform pulls from the index: an exact match after normalisation,
// else for arm the best lower variant. Entries without a platform and
// attestation manifests ("unknown/unknown") are never picked. It returns the
// chosen descriptors (no duplicates, in the order of want) and the wanted
// platforms the index does not serve.
func selectManifests(idx *v1.IndexManifest, want []Platform) (chosen []v1.Descriptor, missing []Platform) {
	type cand struct {
		desc v1.Descriptor
		p    Platform
	}
	var cands []cand
	for _, d := range idx.Manifests {
		if d.Platform == nil || d.Platform.OS == "" || d.Platform.OS == "unknown" || d.Platform.Architecture == "unknown" {
			continue
		}
		cands = append(cands, cand{d, descPlatform(d)})
	}
	picked := map[string]bool{}
	for _, w := range want {
		found := false
		for _, t := range runsOn(w) {
			for _, c := range cands {
				if c.p == t {
					found = true
					if !picked[c.desc.Digest.String()] {
						picked[c.desc.Digest.String()] = true
						chosen = append(chosen, c.desc)
					}
					break
				}
			}
			if found {
				break
			}
		}
		if !found {
			missing = append(missing, w.normalize())
		}
	}
	return chosen, missing
}

// indexPlatforms lists what an index serves, for "it has: ..." messages.
func indexPlatforms(idx *v1.IndexManifest) []string {
	var out []string
	for _, d := range idx.Manifests {
		if d.Platform == nil || d.Platform.OS == "unknown" {
			continue
		}
		out = append(out, descPlatform(d).String())
	}
	return out
}

// descPlatform is an index entry's platform, normalised.
func descPlatform(d v1.Descriptor) Platform {
	if d.Platform == nil {
		return Platform{}
	}
	return Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture, Variant: d.Platform.Variant}.normalize()
}
