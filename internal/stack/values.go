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
	DefaultRemoteURL  = "https://registry-1.docker.io"
	DefaultImage      = "registry:2"
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
	// UpstreamPassword only ever goes into the registry config file
	// (mode 0600). It is never marshalled, printed or put on a command line.
	UpstreamPassword string `json:"-"`
}

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
	def(&v.RemoteURL, DefaultRemoteURL)
	def(&v.Image, DefaultImage)
	def(&v.StackName, DefaultStackName)
	def(&v.StackFile, DefaultStackFile)
	def(&v.ConfigFile, DefaultConfigFile)
	def(&v.DataDir, DefaultDataDir)
	def(&v.Traefik, DefaultTraefik)
	def(&v.PublishMode, DefaultPublishMode)
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
		v.Replicas = 1
	}
	if v.DeleteEnabled == nil {
		t := true
		v.DeleteEnabled = &t
	}
}

// Service is the swarm service name: <stack>_registry-mirror.
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

// Labels are the service's deploy.labels for the Traefik flavour.
func (v Values) Labels() []string {
	router := v.StackName + "-mirror"
	switch v.Traefik {
	case TraefikV1:
		return []string{
			"traefik.frontend.rule=Host:" + v.FQDN,
			"traefik.docker.network=" + v.Network,
			"traefik.port=5000",
		}
	case TraefikV2, TraefikV3:
		return []string{
			"traefik.enable=true",
			"traefik.http.routers." + router + ".rule=Host(`" + v.FQDN + "`)",
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
