package stack

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"text/template"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"

	"github.com/swarmctl/swarmctl/templates"
)

// File is one rendered file and where it goes on the manager.
type File struct {
	Path string      `json:"path"`
	Data []byte      `json:"-"`
	Mode fs.FileMode `json:"mode"`
	// Secret marks a file holding a credential: written 0600, root only,
	// and only ever shown redacted.
	Secret bool `json:"secret,omitempty"`
	// Hidden marks a file never shown nor diffed at all (the TLS key).
	Hidden bool `json:"hidden,omitempty"`
	// SwarmName is the swarm config or secret docker stack deploy makes
	// of the file: named by its content hash, so a new content is a new
	// object and rolls the services that use it ("" for the stack file).
	SwarmName string `json:"swarm_name,omitempty"`
	// Registry is the upstream whose config this is ("" for other files).
	Registry string `json:"registry,omitempty"`
}

// Rendered is the stack ready to install.
type Rendered struct {
	Values    Values     `json:"values"`
	Endpoints []Endpoint `json:"endpoints"`
	Stack     File       `json:"stack_file"`
	// Configs are the registry configs, one per endpoint, in Endpoints
	// order; TLS the certificate and key (none without tls_cert).
	Configs []File `json:"config_files"`
	TLS     []File `json:"tls_files,omitempty"`
}

// Files returns every file, in write order (the stack file last: docker
// stack deploy reads the others through it).
func (r Rendered) Files() []File {
	out := append([]File(nil), r.Configs...)
	out = append(out, r.TLS...)
	return append(out, r.Stack)
}

// Config is the config of registry reg (false when it is not mirrored).
func (r Rendered) Config(reg string) (File, bool) {
	for _, f := range r.Configs {
		if f.Registry == reg {
			return f, true
		}
	}
	return File{}, false
}

// Secrets lists every string that must never be shown: each upstream
// password and the form it takes inside the rendered YAML when quoting
// escapes it.
func (r Rendered) Secrets() []string {
	var out []string
	for _, p := range passwords(r.Values) {
		out = append(out, p)
		if q, err := yamlScalar(p); err == nil {
			if len(q) >= 2 && (q[0] == '"' || q[0] == '\'') && q[len(q)-1] == q[0] {
				q = q[1 : len(q)-1]
			}
			if q != p {
				out = append(out, q)
			}
		}
	}
	return out
}

// passwords are v's upstream passwords (docker.io's first).
func passwords(v Values) []string {
	var out []string
	if v.UpstreamPassword != "" {
		out = append(out, v.UpstreamPassword)
	}
	for _, r := range v.Registries {
		if p := v.Passwords[r.Registry]; p != "" && p != v.UpstreamPassword {
			out = append(out, p)
		}
	}
	return out
}

// Redact hides every secret in s.
func (r Rendered) Redact(s string) string { return Redact(s, r.Secrets()) }

// Redacted returns a copy whose files and values hold no secret, safe to
// print, diff or marshal.
func (r Rendered) Redacted() Rendered {
	c := r
	secrets := r.Secrets()
	c.Values = r.Values.redacted()
	c.Endpoints = nil
	for _, e := range r.Endpoints {
		e.Password = ""
		c.Endpoints = append(c.Endpoints, e)
	}
	c.Stack.Data = RedactFile(r.Stack.Data, secrets)
	c.Configs = nil
	for _, f := range r.Configs {
		f.Data = RedactFile(f.Data, secrets)
		c.Configs = append(c.Configs, f)
	}
	c.TLS = nil
	for _, f := range r.TLS {
		if f.Hidden {
			f.Data = nil
		}
		c.TLS = append(c.TLS, f)
	}
	return c
}

// redacted is a copy of v without any password or key.
func (v Values) redacted() Values {
	c := v
	c.UpstreamPassword, c.Passwords, c.TLSKeyPEM = "", nil, nil
	c.Constraints = append([]string(nil), v.Constraints...)
	return c
}

// Redacted stands in for a secret value in shown text.
const Redacted = "***"

// redactedValue replaces a password value in a shown file; quoted so the
// redacted file still parses as YAML (a bare * starts an alias).
const redactedValue = `"` + Redacted + `"`

// Redact replaces every secret in s with ***.
func Redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}

// RedactFile hides the value of every `password:` key (whatever it is, so a
// password already on a node and unknown to us is hidden too) and every
// known secret.
func RedactFile(data []byte, secrets []string) []byte {
	lines := strings.SplitAfter(string(data), "\n")
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " \t")
		if strings.HasPrefix(trimmed, "password:") {
			indent := l[:len(l)-len(trimmed)]
			nl := ""
			if strings.HasSuffix(l, "\n") {
				nl = "\n"
			}
			lines[i] = indent + "password: " + redactedValue + nl
		}
	}
	return []byte(Redact(strings.Join(lines, ""), secrets))
}

// TemplateData is what the templates see: the values plus derived fields.
// Custom templates (--templates DIR) get the same data. The stack
// template ranges over Services; the config template is executed once
// per upstream with Endpoint set and the upstream's RemoteURL,
// UpstreamUsername and UpstreamPassword in the Values fields of those
// names (so a config template written for one upstream serves them all).
type TemplateData struct {
	Values
	// Service is docker.io's service key in the stack file
	// (registry-mirror; the first upstream's without docker.io).
	Service string
	// ConfigTarget is the config path inside the container.
	ConfigTarget string
	// Labels are docker.io's deploy.labels (see Services for each).
	Labels []string
	// Network is the external network to join ("" = none).
	Network string
	// DeleteEnabled is the resolved storage.delete.enabled.
	DeleteEnabled bool

	// Services are the stack's services, one per upstream.
	Services []ServiceData
	// Configs and Secrets are the swarm objects the services use, made by
	// docker stack deploy from files on the manager.
	Configs []ObjectData
	Secrets []ObjectData
	// Environment is every service's environment (NAME=value).
	Environment []string
	// PerNode: each service runs one task on each replica node (global,
	// constrained to the node label).
	PerNode bool

	// Endpoint is the upstream a config template renders.
	Endpoint Endpoint
	// TLS: the registry serves HTTPS with the certificate and key at
	// TLSCertTarget and TLSKeyTarget (inside the container).
	TLS                         bool
	TLSCertTarget, TLSKeyTarget string
	// DebugAddr is the registry's debug listener (Prometheus metrics,
	// /debug/health): the container's loopback only, never published.
	DebugAddr string
}

// ServiceData is one service of the stack.
type ServiceData struct {
	Endpoint
	// Labels are its deploy.labels (Traefik).
	Labels []string
	// DataSource is the bind mount source of its data (per node with
	// replica nodes: swarm expands {{.Node.Hostname}} on each node).
	DataSource string
	// Constraints are its placement constraints.
	Constraints []string
	// Configs and Secrets are the objects it mounts.
	Configs []ObjectRef
	Secrets []ObjectRef
}

// ObjectData is one swarm config or secret of the stack file: its key,
// its name in the swarm (content hash) and the file on the manager.
type ObjectData struct {
	Key, Name, File string
}

// ObjectRef mounts an object at Target with Mode (decimal in the stack
// file: YAML 1.1 and 1.2 read 0400 differently).
type ObjectRef struct {
	Key, Target string
	Mode        int
}

// In-container paths of the TLS files (swarm secrets).
const (
	TLSCertTarget = "/run/secrets/registry-tls.crt"
	TLSKeyTarget  = "/run/secrets/registry-tls.key"
)

// Render validates v (after Defaults) and executes the two templates from
// tfs (templates.FS, or os.DirFS of a --templates directory). The output
// is parsed back as YAML, so a broken custom template fails here and not
// on the manager.
func Render(tfs fs.FS, v Values) (Rendered, error) {
	v.Defaults()
	if v.Traefik == TraefikAuto {
		return Rendered{}, errors.New("mirror.traefik auto must be resolved through a manager before rendering (ResolveTraefik)")
	}
	if err := v.Validate(); err != nil {
		return Rendered{}, err
	}
	return render(tfs, v)
}

// objectName names a swarm object after the stack, its key and its
// content (10 hex digits of SHA-256). Only swarm managers see the names,
// and they can read the objects themselves.
func objectName(stack, key string, data []byte) string {
	sum := sha256.Sum256(data)
	return stack + "_" + key + "-" + hex.EncodeToString(sum[:5])
}

// maxObjectName is swarm's limit on a config or secret name.
const maxObjectName = 64

// render executes the templates without validating v. Quoting alone must
// keep any value inside its scalar (FuzzRenderValues checks that).
func render(tfs fs.FS, v Values) (Rendered, error) {
	if tfs == nil {
		tfs = templates.FS
	}
	eps := v.Endpoints()
	if len(eps) == 0 {
		return Rendered{}, errors.New("no upstream to mirror")
	}
	base := TemplateData{
		Values:       v,
		Service:      eps[0].ServiceKey,
		ConfigTarget: v.ConfigTarget(),
		Labels:       v.LabelsFor(eps[0]),
		// A nil DeleteEnabled after Defaults cannot happen; treat as true.
		DeleteEnabled: v.DeleteEnabled == nil || *v.DeleteEnabled,
		PerNode:       v.PerNode(),
		TLS:           v.TLSCert != "",
		TLSCertTarget: TLSCertTarget,
		TLSKeyTarget:  TLSKeyTarget,
		DebugAddr:     "127.0.0.1:" + fmt.Sprint(DebugPort),
		Environment:   v.Environment(),
	}
	// No template sees the key or certificate bytes: they are files of
	// their own (a custom template could otherwise copy the key into a
	// config, which may be a world-readable swarm config).
	base.TLSKeyPEM, base.TLSCertPEM, base.CAPEM = nil, nil, nil
	for _, e := range eps {
		if e.Registry == DockerHub {
			base.Service, base.Labels = e.ServiceKey, v.LabelsFor(e)
		}
	}
	if v.NeedsNetwork() {
		base.Network = v.Network
	}

	out := Rendered{Values: v, Endpoints: eps}
	// TLS files: one certificate and key for every service.
	var tlsRefs []ObjectRef
	if base.TLS {
		dir := path.Dir(v.ConfigFile)
		for _, f := range []struct {
			key, target string
			data        []byte
			mode        fs.FileMode
			hidden      bool
		}{
			{"tls-cert", TLSCertTarget, v.TLSCertPEM, 0o644, false},
			{"tls-key", TLSKeyTarget, v.TLSKeyPEM, 0o600, true},
		} {
			file := File{Path: path.Join(dir, "registry-mirror-"+f.key+".pem"), Data: f.data, Mode: f.mode,
				Secret: f.hidden, Hidden: f.hidden, SwarmName: objectName(v.StackName, f.key, f.data)}
			out.TLS = append(out.TLS, file)
			base.Secrets = append(base.Secrets, ObjectData{Key: f.key, Name: file.SwarmName, File: file.Path})
			tlsRefs = append(tlsRefs, ObjectRef{Key: f.key, Target: f.target, Mode: int(f.mode)})
		}
	}

	// One registry config per upstream; the config template never sees
	// another upstream's password.
	for _, e := range eps {
		cv := base
		cv.Endpoint = e
		cv.RemoteURL, cv.UpstreamUsername, cv.UpstreamPassword = e.RemoteURL, e.Username, e.Password
		cv.Passwords = nil
		data, err := execute(tfs, templates.ConfigFile, cv)
		if err != nil {
			return Rendered{}, err
		}
		if err := checkConfigYAML(data); err != nil {
			return Rendered{}, fmt.Errorf("template %s (%s): %w", templates.ConfigFile, e.Registry, err)
		}
		secret := e.Password != "" || e.Username != ""
		f := File{Path: e.ConfigFile, Data: data, Mode: 0o644, Secret: secret, Registry: e.Registry,
			SwarmName: objectName(v.StackName, e.Slug+"-config", data)}
		if secret {
			f.Mode = 0o600
		}
		out.Configs = append(out.Configs, f)

		sd := ServiceData{Endpoint: e, Labels: v.LabelsFor(e), DataSource: e.DataDir, Constraints: append([]string(nil), v.Constraints...)}
		sd.Password = ""
		if v.PerNode() {
			sd.DataSource = e.DataDir + "/{{.Node.Hostname}}"
			sd.Constraints = append(sd.Constraints, "node.labels."+v.NodeLabelKey()+"==true")
		}
		ref := ObjectRef{Key: e.Slug + "-config", Target: base.ConfigTarget, Mode: 0o444}
		obj := ObjectData{Key: ref.Key, Name: f.SwarmName, File: f.Path}
		if secret {
			ref.Mode = 0o400
			sd.Secrets = append(sd.Secrets, ref)
			base.Secrets = append(base.Secrets, obj)
		} else {
			sd.Configs = append(sd.Configs, ref)
			base.Configs = append(base.Configs, obj)
		}
		sd.Secrets = append(sd.Secrets, tlsRefs...)
		base.Services = append(base.Services, sd)
	}

	// The stack file template never sees a password: it cannot leak into
	// the world-readable file even from a custom template.
	stackView := base
	stackView.Values = v.redacted()
	stackData, err := execute(tfs, templates.StackFile, stackView)
	if err != nil {
		return Rendered{}, err
	}
	if err := checkStackYAML(stackData, eps); err != nil {
		return Rendered{}, fmt.Errorf("template %s: %w", templates.StackFile, err)
	}
	out.Stack = File{Path: v.StackFile, Data: stackData, Mode: 0o644}
	return out, nil
}

// Environment is the registry's environment: registry:3 sends
// OpenTelemetry traces to localhost:4318 unless told otherwise, so
// tracing is off (OTEL_TRACES_EXPORTER=none) unless otlp_endpoint asks
// for it.
func (v Values) Environment() []string {
	if !v.RegistryV3() {
		return nil
	}
	if v.OTLPEndpoint != "" {
		return []string{"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_ENDPOINT=" + v.OTLPEndpoint}
	}
	return []string{"OTEL_TRACES_EXPORTER=none"}
}

func execute(tfs fs.FS, name string, data TemplateData) ([]byte, error) {
	src, err := fs.ReadFile(tfs, name)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	t, err := template.New(name).Funcs(template.FuncMap{"yaml": yamlScalar}).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// yamlScalar renders s as a single-line YAML string scalar: plain when
// yaml.v3 finds that unambiguous, else double-quoted with escapes, so quotes,
// colons, # and newlines in a value can never change the document's shape.
func yamlScalar(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("value is not valid UTF-8")
	}
	enc := func(style yaml.Style) (string, error) {
		b, err := yaml.Marshal(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: style})
		if err != nil {
			return "", err
		}
		return strings.TrimSuffix(string(b), "\n"), nil
	}
	out, err := enc(0)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(out, "\n\r") || strings.HasPrefix(out, "|") || strings.HasPrefix(out, ">") || out == "" {
		return enc(yaml.DoubleQuotedStyle)
	}
	// yaml.v3's choice of style is not always one it reads back the same:
	// keep the plain or single-quoted form only when it does.
	var back string
	if err := yaml.Unmarshal([]byte(out), &back); err != nil || back != s {
		return enc(yaml.DoubleQuotedStyle)
	}
	return out, nil
}

// checkStackYAML proves the stack file is one YAML mapping with a service
// for every upstream under services.
func checkStackYAML(b []byte, eps []Endpoint) error {
	var doc struct {
		Services map[string]yaml.Node `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("rendered stack file is not valid YAML: %w", err)
	}
	if len(doc.Services) == 0 {
		return errors.New("rendered stack file has no services")
	}
	var missing []string
	for _, e := range eps {
		if _, ok := doc.Services[e.ServiceKey]; !ok {
			missing = append(missing, e.ServiceKey+" ("+e.Registry+")")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("rendered stack file has no service %s: a stack template must range over .Services", strings.Join(missing, ", "))
	}
	return nil
}

func checkConfigYAML(b []byte) error {
	var doc struct {
		Proxy struct {
			RemoteURL string `yaml:"remoteurl"`
		} `yaml:"proxy"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("rendered registry config is not valid YAML: %w", err)
	}
	if doc.Proxy.RemoteURL == "" {
		return errors.New("rendered registry config has no proxy.remoteurl")
	}
	return nil
}
