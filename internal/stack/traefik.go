package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// TraefikService is a Traefik that runs as a swarm service, as its spec
// says (the image and the command line; a file configuration is not seen).
type TraefikService struct {
	Service string `json:"service"`
	Image   string `json:"image"`
	// Version is the major version: v1, v2 or v3 ("" when neither the
	// image tag nor the provider flags tell).
	Version string `json:"version,omitempty"`
	// SwarmProvider: the command line turns the swarm provider on
	// (v3 --providers.swarm, v2 --providers.docker.swarmMode, v1
	// --docker.swarmMode).
	SwarmProvider bool `json:"swarm_provider"`
	// Network is the provider's default network (--providers.swarm.network
	// and the like), Entrypoint the one listening on :443 (else the only
	// or first one), CertResolver the first certificate resolver.
	Network      string `json:"network,omitempty"`
	Entrypoint   string `json:"entrypoint,omitempty"`
	CertResolver string `json:"cert_resolver,omitempty"`
}

// TraefikDecision is what mirror.traefik: auto became, and why in words.
type TraefikDecision struct {
	Mode    string          `json:"mode"` // v1, v2, v3 or none
	Reason  string          `json:"reason"`
	Service *TraefikService `json:"service,omitempty"`
	// Warnings are things to check (no swarm provider on the command
	// line, a Traefik found but no fqdn to route).
	Warnings []string `json:"warnings,omitempty"`
}

// traefikServicesScript lists every swarm service's name, image, command
// and arguments on a manager.
var traefikServicesScript = nodes.MustScript(scriptFiles, "scripts/traefik-services.sh")

// DetectTraefik asks the manager h for the Traefik services of the swarm.
func DetectTraefik(ctx context.Context, h nodes.Host) ([]TraefikService, error) {
	out, err := h.Run(ctx, nodes.Cmd{Script: traefikServicesScript, Sudo: true})
	if err != nil {
		return nil, fmt.Errorf("%s: listing the swarm's services: %w", h.Name(), nodes.Unnamed(h.Name(), err))
	}
	return ParseTraefikServices(string(out.Stdout)), nil
}

// ParseTraefikServices reads traefik-services.sh's lines (name, image,
// command and arguments as JSON, tab separated) and keeps the services
// whose image is Traefik, by name.
func ParseTraefikServices(out string) []TraefikService {
	var found []TraefikService
	for _, l := range strings.Split(out, "\n") {
		p := strings.Split(strings.TrimRight(l, "\r"), "\t")
		if len(p) != 4 || !isTraefikImage(p[1]) {
			continue
		}
		var cmd, args []string
		_ = json.Unmarshal([]byte(p[2]), &cmd)
		_ = json.Unmarshal([]byte(p[3]), &args)
		found = append(found, traefikFromSpec(p[0], p[1], append(cmd, args...)))
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].Service < found[j].Service })
	return found
}

// isTraefikImage: the image's repository is named traefik (traefik:v3.1,
// docker.io/library/traefik, registry.lan/proxy/traefik@sha256:...).
func isTraefikImage(image string) bool {
	repo, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndexByte(repo, '/'); i >= 0 {
		repo = repo[i+1:]
	}
	name, _, _ := strings.Cut(repo, ":")
	return strings.EqualFold(name, "traefik")
}

// traefikFromSpec reads the version from the image tag and the provider
// settings from the command line.
func traefikFromSpec(service, image string, argv []string) TraefikService {
	t := TraefikService{Service: service, Image: stripDigestRef(image)}
	t.Version = tagMajor(imageTag(image))
	flags := map[string]string{}
	var entrypoints []string // names as written, in order
	entryAddr := map[string]string{}
	for _, a := range argv {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		k, v, hasV := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !hasV {
			v = "true"
		}
		flags[strings.ToLower(k)] = v
		parts := strings.Split(k, ".")
		switch {
		case len(parts) >= 2 && strings.EqualFold(parts[0], "entrypoints"):
			if _, seen := entryAddr[parts[1]]; !seen {
				entrypoints = append(entrypoints, parts[1])
				entryAddr[parts[1]] = ""
			}
			if len(parts) == 3 && strings.EqualFold(parts[2], "address") {
				entryAddr[parts[1]] = v
			}
		case len(parts) >= 2 && strings.EqualFold(parts[0], "certificatesresolvers") && t.CertResolver == "":
			t.CertResolver = parts[1]
		}
	}
	on := func(k string) bool {
		v, ok := flags[k]
		return ok && v != "false"
	}
	prefixed := func(p string) bool {
		for k := range flags {
			if strings.HasPrefix(k, p) {
				return true
			}
		}
		return false
	}
	switch {
	case on("providers.swarm") || prefixed("providers.swarm."):
		t.SwarmProvider = true
		t.Version = firstNonEmptyStr(t.Version, TraefikV3)
		t.Network = flags["providers.swarm.network"]
	case on("providers.docker.swarmmode"):
		t.SwarmProvider = true
		t.Version = firstNonEmptyStr(t.Version, TraefikV2)
		t.Network = flags["providers.docker.network"]
	case on("docker.swarmmode"):
		t.SwarmProvider = true
		t.Version = firstNonEmptyStr(t.Version, TraefikV1)
		t.Network = flags["docker.network"]
	}
	for _, e := range entrypoints {
		if strings.HasSuffix(entryAddr[e], ":443") {
			t.Entrypoint = e
			break
		}
	}
	if t.Entrypoint == "" && len(entrypoints) > 0 {
		t.Entrypoint = entrypoints[0]
		for _, e := range entrypoints {
			if e == DefaultEntrypoint {
				t.Entrypoint = e
			}
		}
	}
	if t.Version == TraefikV1 {
		t.Entrypoint, t.CertResolver = "", ""
	}
	return t
}

// tagMajor is v1, v2 or v3 for a Traefik image tag ("v3.1", "2.11.31",
// "v1.7-alpine"); "" for "latest" or another word.
func tagMajor(tag string) string {
	t := strings.TrimPrefix(strings.ToLower(tag), "v")
	end := strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(t)
	}
	n, err := strconv.Atoi(t[:end])
	if err != nil || n < 1 || n > 3 {
		return ""
	}
	return "v" + strconv.Itoa(n)
}

func stripDigestRef(image string) string {
	i, _, _ := strings.Cut(image, "@")
	return i
}

func firstNonEmptyStr(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// Deployed is what a deployed stack file's labels say: the flavour (v1,
// v2 for the router labels v2 and v3 share, none) and the settings they
// carry.
type Deployed struct {
	Mode         string
	Network      string
	Entrypoint   string
	CertResolver string
}

// DeployedTraefik reads the Traefik labels of a deployed stack file (nil:
// no file, Mode "").
func DeployedTraefik(stackFile []byte) Deployed {
	if stackFile == nil {
		return Deployed{}
	}
	d := Deployed{Mode: TraefikNone}
	for _, l := range strings.Split(string(stackFile), "\n") {
		l = strings.Trim(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "-")), `"'`)
		k, v, ok := strings.Cut(l, "=")
		if !ok || !strings.HasPrefix(k, "traefik.") {
			continue
		}
		switch {
		case k == "traefik.frontend.rule":
			d.Mode = TraefikV1
		case strings.HasPrefix(k, "traefik.http.routers."):
			if d.Mode != TraefikV1 {
				d.Mode = TraefikV2
			}
			switch {
			case strings.HasSuffix(k, ".entrypoints"):
				d.Entrypoint = v
			case strings.HasSuffix(k, ".tls.certresolver"):
				d.CertResolver = v
			}
		case k == "traefik.docker.network":
			d.Network = v
		}
	}
	return d
}

// DecideTraefik resolves mirror.traefik: auto. A stack swarmctl already
// deployed keeps the labels it has (deployed, from DeployedTraefik), so
// upgrading swarmctl or re-running apply never relabels a running mirror
// by itself; otherwise the Traefik services found decide: one whose
// command line turns the swarm provider on wins, its major version picks
// the labels, and its network, entrypoint and certificate resolver fill
// the settings the inventory leaves empty. No Traefik (or no fqdn to
// route by): no labels, the registry is reached on its published port.
func DecideTraefik(v Values, dep Deployed, found []TraefikService) (Values, TraefikDecision) {
	deployed := dep.Mode
	var pick *TraefikService
	for i := range found {
		if found[i].Version != "" && (pick == nil || found[i].SwarmProvider && !pick.SwarmProvider) {
			pick = &found[i]
		}
	}
	d := TraefikDecision{}
	switch {
	case deployed == TraefikV2 && pick != nil && (pick.Version == TraefikV2 || pick.Version == TraefikV3):
		d.Mode, d.Service = pick.Version, pick
		d.Reason = fmt.Sprintf("the deployed stack has Traefik v2/v3 labels, kept; service %s runs %s", pick.Service, pick.Image)
	case deployed == TraefikV2:
		d.Mode, d.Reason = TraefikV3, "the deployed stack has Traefik v2/v3 labels, kept"
	case deployed != "":
		d.Mode, d.Reason = deployed, "the deployed stack has "+labelsName(deployed)+", kept"
	case pick == nil && len(found) > 0:
		d.Mode = TraefikNone
		d.Reason = fmt.Sprintf("service %s runs %s, whose major version neither its tag nor its provider flags tell: no Traefik labels, the registry is published on port %d; pass --traefik v2 or v3 to route through it", found[0].Service, found[0].Image, v.Publish)
	case pick == nil:
		d.Mode = TraefikNone
		d.Reason = fmt.Sprintf("no Traefik service in the swarm: no Traefik labels, the registry is published on port %d", v.Publish)
	case v.FQDN == "":
		d.Mode, d.Service = TraefikNone, pick
		d.Reason = fmt.Sprintf("service %s runs Traefik %s, but there is no mirror.fqdn to route by: no Traefik labels, the registry is published on port %d", pick.Service, pick.Version, v.Publish)
		d.Warnings = append(d.Warnings, "set mirror.fqdn (--fqdn) to route the mirror through Traefik "+pick.Version+" (service "+pick.Service+")")
	default:
		d.Mode, d.Service = pick.Version, pick
		d.Reason = fmt.Sprintf("service %s runs %s", pick.Service, pick.Image)
		if pick.SwarmProvider {
			d.Reason += " with the swarm provider on"
		} else {
			d.Warnings = append(d.Warnings, fmt.Sprintf("service %s runs Traefik %s but its command line does not turn the swarm provider on (a configuration file may): check that it watches the swarm, or the mirror's labels are ignored", pick.Service, pick.Version))
		}
		if pick.Version == TraefikV1 {
			d.Reason += " (Traefik v1 is end of life)"
		}
	}
	v.Traefik = d.Mode
	if deployed != "" && d.Mode != TraefikNone {
		// Kept labels keep their settings too, unless the inventory names them.
		if v.Network == "" {
			v.Network = dep.Network
		}
		if v.Entrypoint == "" {
			v.Entrypoint = dep.Entrypoint
		}
		if v.CertResolver == "" {
			v.CertResolver = dep.CertResolver
		}
	}
	if s := d.Service; s != nil && d.Mode != TraefikNone {
		if v.Network == "" {
			v.Network = s.Network
		}
		if v.Entrypoint == "" {
			v.Entrypoint = s.Entrypoint
		}
		if v.CertResolver == "" {
			v.CertResolver = s.CertResolver
		}
	}
	return v, d
}

func labelsName(mode string) string {
	if mode == TraefikNone {
		return "no Traefik labels"
	}
	return "Traefik " + mode + " labels"
}

// ResolveTraefik resolves mirror.traefik: auto through the manager h: the
// deployed stack file's labels, else the Traefik services the swarm runs
// (DecideTraefik). Values whose Traefik is not auto come back unchanged
// with a nil decision.
func ResolveTraefik(ctx context.Context, h nodes.Host, v Values) (Values, *TraefikDecision, error) {
	if v.Traefik != TraefikAuto {
		return v, nil, nil
	}
	stackFile := v.StackFile
	if stackFile == "" {
		stackFile = DefaultStackFile
	}
	b, err := h.ReadFile(ctx, stackFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return v, nil, fmt.Errorf("reading the deployed stack file for traefik: auto: %w", err)
	}
	var found []TraefikService
	deployed := DeployedTraefik(b)
	if deployed.Mode == "" || deployed.Mode == TraefikV2 {
		if found, err = DetectTraefik(ctx, h); err != nil {
			return v, nil, err
		}
	}
	nv, d := DecideTraefik(v, deployed, found)
	return nv, &d, nil
}
