// Package stack renders the registry-mirror swarm stack (stack file and
// registry configuration) from validated values, and installs or removes it
// through a manager node.
package stack

import (
	"strings"

	"github.com/swarmctl/swarmctl/internal/inventory"
)

// Defaults from the recipe.
const (
	DefaultRemoteURL = "https://registry-1.docker.io"
	// DefaultImage is registry:3, the maintained line (registry:2 is end
	// of life; `image: registry:2` keeps an existing install on it).
	DefaultImage = "registry:3"
	// DefaultTTL is registry:3's proxy.ttl when none is given, written
	// out: the 7 days registry:2 always used (so moving to v3 changes no
	// expiry) and distribution's own default today, pinned so a change of
	// that default does not change a fleet's cache silently. Shorter means
	// more expiries, which is when distribution#2367 ("unexpected EOF" on
	// a blob expiring under a pull) can bite; 0 never expires and lets the
	// disk only grow.
	DefaultTTL        = "168h"
	DefaultStackName  = "registry"
	DefaultStackFile  = "/var/data/config/registry/registry.yml"
	DefaultConfigFile = "/var/data/registry/registry-mirror-config.yml"
	DefaultDataDir    = "/var/data/registry/registry-mirror-data"
	// DefaultTraefik is auto: the labels of the Traefik the swarm runs,
	// else none (a deployed stack keeps its labels; see DecideTraefik).
	DefaultTraefik      = TraefikAuto
	DefaultNetwork      = "traefik_public"
	DefaultEntrypoint   = "websecure"
	DefaultCertResolver = "letsencrypt"
	DefaultPublishMode  = PublishIngress

	// ServiceSuffix is the service's name inside the stack; swarm names the
	// service <stack>_registry-mirror.
	ServiceSuffix = "registry-mirror"
	// ContainerPort is where the registry listens inside its container.
	ContainerPort = 5000
)

// Traefik label flavours.
const (
	// TraefikAuto is decided at install time, through the manager
	// (ResolveTraefik); it is never rendered.
	TraefikAuto = "auto"
	TraefikV1   = "v1"
	TraefikV2   = "v2"
	TraefikV3   = "v3"
	TraefikNone = "none"
)

// Publish modes.
const (
	PublishIngress = "ingress"
	PublishHost    = "host"
)

// Values is everything the stack templates need: the mirror settings as
// the inventory and flags declare them (inventory.Mirror: one field per
// setting), and the upstream password read from where they say. Zero
// values mean "default" (see Defaults); Validate must pass before Render
// uses them. Publish 0 means "not published" here (FromInventory applies
// the default port).
type Values struct {
	inventory.Mirror
	// UpstreamPassword is docker.io's upstream password, Passwords every
	// upstream's by registry name. They only ever go into the registry
	// configs (mode 0600, swarm secrets) and are never marshalled, printed
	// or put on a command line.
	UpstreamPassword string            `json:"-"`
	Passwords        map[string]string `json:"-"`
	// ReplicaHosts is the address nodes reach each replica node at (its
	// inventory host), by replica node name; a node missing here is
	// reached by its name.
	ReplicaHosts map[string]string `json:"-"`
	// CAPEM, TLSCertPEM and TLSKeyPEM are the contents of ca_file,
	// tls_cert and tls_key. The key is never marshalled or printed.
	CAPEM      []byte `json:"-"`
	TLSCertPEM []byte `json:"-"`
	TLSKeyPEM  []byte `json:"-"`
}

// registryEntry is one upstream as the inventory declares it.
type registryEntry = inventory.Registry

// DefaultPublish is the port published when the inventory says nothing.
const DefaultPublish = 5000

// DefaultValues are the values an empty mirror section resolves to, with
// the Traefik v2/v3 settings' defaults too: the flags' help shows them.
func DefaultValues() Values {
	v := Values{}
	v.Publish = DefaultPublish
	v.Defaults()
	v3 := Values{}
	v3.Traefik = TraefikV3
	v3.Defaults()
	v.Entrypoint, v.CertResolver = v3.Entrypoint, v3.CertResolver
	return v
}

// Defaults fills every unset field with the recipe's value.
func (v *Values) Defaults() {
	def := func(p *string, d string) {
		if *p == "" {
			*p = d
		}
	}
	v.defaultRegistries()
	def(&v.Image, DefaultImage)
	def(&v.StackName, DefaultStackName)
	def(&v.StackFile, DefaultStackFile)
	def(&v.ConfigFile, DefaultConfigFile)
	def(&v.DataDir, DefaultDataDir)
	def(&v.Traefik, DefaultTraefik)
	if v.Traefik != TraefikNone && v.Traefik != TraefikAuto {
		def(&v.Network, DefaultNetwork)
	}
	if v.Traefik == TraefikV2 || v.Traefik == TraefikV3 {
		def(&v.Entrypoint, DefaultEntrypoint)
		def(&v.CertResolver, DefaultCertResolver)
	}
	if v.URL == "" && v.FQDN != "" {
		v.URL = "https://" + v.FQDN
	}
	if v.Replicas == 0 {
		v.Replicas = max(1, len(v.ReplicaNodes))
	}
	if v.PerNode() {
		// Each replica is reached on its own node: the routing mesh would
		// spread one URL's requests over every cache.
		def(&v.PublishMode, PublishHost)
	}
	if v.DeleteEnabled == nil {
		t := true
		v.DeleteEnabled = &t
	}
	def(&v.PublishMode, DefaultPublishMode)
	if v.RegistryV3() {
		def(&v.TTL, DefaultTTL)
	}
}

// defaultRegistries makes the upstream list complete: docker.io alone when
// none is given; docker.io's entry and the top-level remote_url /
// upstream_* keys are one setting (the top level wins: FromInventory has
// already refused the two disagreeing in a file); every remote URL
// defaulted. The slice is copied: the inventory's stays as it was.
func (v *Values) defaultRegistries() {
	if len(v.Registries) == 0 {
		v.Registries = []registryEntry{{Registry: DockerHub}}
	} else {
		v.Registries = append([]registryEntry(nil), v.Registries...)
	}
	pw := make(map[string]string, len(v.Passwords)+1)
	for k, p := range v.Passwords {
		pw[k] = p
	}
	for i := range v.Registries {
		r := &v.Registries[i]
		if r.Registry != DockerHub {
			if r.RemoteURL == "" {
				r.RemoteURL = "https://" + r.Registry
			}
			continue
		}
		sync := func(top, entry *string) {
			if *top != "" {
				*entry = *top
			}
			*top = *entry
		}
		sync(&v.RemoteURL, &r.RemoteURL)
		if r.RemoteURL == "" {
			r.RemoteURL, v.RemoteURL = DefaultRemoteURL, DefaultRemoteURL
		}
		sync(&v.UpstreamUsername, &r.Username)
		sync(&v.URL, &r.URL)
		p := pw[DockerHub]
		sync(&v.UpstreamPassword, &p)
		if p != "" {
			pw[DockerHub] = p
		}
	}
	v.Passwords = pw
}

// Service is docker.io's swarm service name: <stack>_registry-mirror
// (Endpoints has every upstream's).
func (v Values) Service() string { return v.StackName + "_" + ServiceSuffix }

// RegistryV3 reports whether Image is a registry:3 (distribution v3) image,
// judged by its tag's major version. Untagged images count as v2.
func (v Values) RegistryV3() bool {
	tag := imageTag(v.Image)
	tag = strings.TrimPrefix(tag, "v")
	major := tag
	if i := strings.IndexAny(tag, ".-_"); i >= 0 {
		major = tag[:i]
	}
	return major == "3"
}

// ConfigTarget is where the registry reads its config inside the container.
func (v Values) ConfigTarget() string {
	if v.RegistryV3() {
		return "/etc/distribution/config.yml"
	}
	return "/etc/docker/registry/config.yml"
}

// NeedsNetwork reports whether the stack joins the external Traefik network.
func (v Values) NeedsNetwork() bool {
	return v.Traefik != TraefikNone && v.Traefik != TraefikAuto && v.Network != ""
}

// HasCredentials reports whether upstream credentials are configured.
func (v Values) HasCredentials() bool { return v.UpstreamUsername != "" || v.UpstreamPassword != "" }

// Labels are docker.io's service's deploy.labels for the Traefik flavour.
func (v Values) Labels() []string {
	return v.LabelsFor(Endpoint{Registry: DockerHub, Host: v.FQDN})
}

// NodeLabelKey is the node label that places the per-node caches:
// swarmctl.mirror.<stack>, set to true on the replica nodes.
func (v Values) NodeLabelKey() string { return NodeLabel + "." + v.StackName }

// LabelsFor are one upstream's service's deploy.labels for the Traefik
// flavour: a Host rule for its host, and a router and service of its own
// (docker.io's keep today's name, <stack>-mirror).
func (v Values) LabelsFor(e Endpoint) []string {
	router := v.StackName + "-mirror"
	if e.Registry != DockerHub {
		router += "-" + e.Slug
	}
	switch v.Traefik {
	case TraefikV1:
		return []string{
			"traefik.frontend.rule=Host:" + e.Host,
			"traefik.docker.network=" + v.Network,
			"traefik.port=5000",
		}
	case TraefikV2, TraefikV3:
		return []string{
			"traefik.enable=true",
			"traefik.http.routers." + router + ".rule=Host(`" + e.Host + "`)",
			"traefik.http.routers." + router + ".entrypoints=" + v.Entrypoint,
			"traefik.http.routers." + router + ".tls.certresolver=" + v.CertResolver,
			"traefik.http.routers." + router + ".service=" + router,
			"traefik.http.services." + router + ".loadbalancer.server.port=5000",
			"traefik.docker.network=" + v.Network,
		}
	}
	return nil
}

// imageTag returns the tag of an image reference ("" when untagged).
func imageTag(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndexByte(ref, '/')
	colon := strings.LastIndexByte(ref, ':')
	if colon > slash {
		return ref[colon+1:]
	}
	return ""
}
