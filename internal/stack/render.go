package stack

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
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
}

// Rendered is the stack ready to install.
type Rendered struct {
	Values Values `json:"values"`
	Stack  File   `json:"stack_file"`
	Config File   `json:"config_file"`
}

// Files returns the stack file and the registry config, in write order
// (config first: the stack mounts it).
func (r Rendered) Files() []File { return []File{r.Config, r.Stack} }

// Secrets lists every string that must never be shown: the password and the
// form it takes inside the rendered YAML when quoting escapes it.
func (r Rendered) Secrets() []string {
	p := r.Values.UpstreamPassword
	if p == "" {
		return nil
	}
	out := []string{p}
	if q, err := yamlScalar(p); err == nil {
		if len(q) >= 2 && (q[0] == '"' || q[0] == '\'') && q[len(q)-1] == q[0] {
			q = q[1 : len(q)-1]
		}
		if q != p {
			out = append(out, q)
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
	c.Values.UpstreamPassword = ""
	c.Values.Constraints = append([]string(nil), r.Values.Constraints...)
	c.Stack.Data = RedactFile(r.Stack.Data, r.Secrets())
	c.Config.Data = RedactFile(r.Config.Data, r.Secrets())
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
// Custom templates (--templates DIR) get the same data.
type TemplateData struct {
	Values
	// Service is the service key in the stack file (registry-mirror).
	Service string
	// ConfigTarget is the config path inside the container.
	ConfigTarget string
	// Labels are the deploy.labels for the Traefik flavour (none: empty).
	Labels []string
	// Network is the external network to join ("" = none).
	Network string
	// DeleteEnabled is the resolved storage.delete.enabled.
	DeleteEnabled bool
}

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

// render executes the templates without validating v. Quoting alone must
// keep any value inside its scalar (FuzzRenderValues checks that).
func render(tfs fs.FS, v Values) (Rendered, error) {
	if tfs == nil {
		tfs = templates.FS
	}
	data := TemplateData{
		Values:       v,
		Service:      ServiceSuffix,
		ConfigTarget: v.ConfigTarget(),
		Labels:       v.Labels(),
		// A nil DeleteEnabled after Defaults cannot happen; treat as true.
		DeleteEnabled: v.DeleteEnabled == nil || *v.DeleteEnabled,
	}
	if v.NeedsNetwork() {
		data.Network = v.Network
	}
	// The stack file template never sees the password: it cannot leak into
	// the world-readable file even from a custom template.
	stackView := data
	stackView.UpstreamPassword = ""
	stackData, err := execute(tfs, templates.StackFile, stackView)
	if err != nil {
		return Rendered{}, err
	}
	cfgData, err := execute(tfs, templates.ConfigFile, data)
	if err != nil {
		return Rendered{}, err
	}
	if err := checkStackYAML(stackData); err != nil {
		return Rendered{}, fmt.Errorf("template %s: %w", templates.StackFile, err)
	}
	if err := checkConfigYAML(cfgData); err != nil {
		return Rendered{}, fmt.Errorf("template %s: %w", templates.ConfigFile, err)
	}
	secret := v.HasCredentials()
	cfgMode := fs.FileMode(0o644)
	if secret {
		cfgMode = 0o600
	}
	return Rendered{
		Values: v,
		Stack:  File{Path: v.StackFile, Data: stackData, Mode: 0o644},
		Config: File{Path: v.ConfigFile, Data: cfgData, Mode: cfgMode, Secret: secret},
	}, nil
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

// checkStackYAML proves the stack file is one YAML mapping with the
// registry service under services.
func checkStackYAML(b []byte) error {
	var doc struct {
		Services map[string]yaml.Node `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("rendered stack file is not valid YAML: %w", err)
	}
	if len(doc.Services) == 0 {
		return errors.New("rendered stack file has no services")
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
