package warm

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// StackImage is one service's image in a compose/stack file.
type StackImage struct {
	Service string
	Image   string
	Line    int // 1-based line of the image value
}

// yamlLine finds "line N" in go.yaml.in/yaml's error messages ("yaml: line
// 3: mapping values are not allowed in this context").
var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// ParseStackFile reads every service's image from a compose or stack file,
// in file order. file names the file in errors, which read "file:line:
// what". A service without an image, an image that is not a plain string
// or not a valid reference, and an image that needs variable substitution
// (`${TAG}`: docker stack deploy fills it from the environment, which this
// file alone does not know) are errors. Anchors, aliases and `<<` merges
// are followed.
func ParseStackFile(file string, data []byte) ([]StackImage, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(file, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty file", file)
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping with services:, got %s", file, root.Line, kindName(root))
	}
	services := lookup(root, "services")
	if services == nil {
		return nil, fmt.Errorf("%s: no services: section", file)
	}
	services = resolve(services)
	if services.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: services: want a mapping of service names, got %s", file, services.Line, kindName(services))
	}
	var out []StackImage
	for i := 0; i+1 < len(services.Content); i += 2 {
		key, svc := services.Content[i], resolve(services.Content[i+1])
		name := key.Value
		if strings.HasPrefix(name, "x-") {
			continue
		}
		if svc.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d: service %q: want a mapping, got %s", file, svc.Line, name, kindName(svc))
		}
		img := lookup(svc, "image")
		if img == nil {
			return nil, fmt.Errorf("%s:%d: service %q has no image: (docker stack deploy needs one; build: is ignored)", file, key.Line, name)
		}
		img = resolve(img)
		if img.Kind != yaml.ScalarNode || img.Tag == "!!null" || strings.TrimSpace(img.Value) == "" {
			return nil, fmt.Errorf("%s:%d: service %q: image: want an image reference, got %s", file, img.Line, name, kindName(img))
		}
		if strings.Contains(img.Value, "$") {
			return nil, fmt.Errorf("%s:%d: service %q: image %q uses variable substitution; give the image itself", file, img.Line, name, img.Value)
		}
		if _, err := parseImage(img.Value); err != nil {
			return nil, fmt.Errorf("%s:%d: service %q: image %q: %v", file, img.Line, name, img.Value, err)
		}
		out = append(out, StackImage{Service: name, Image: img.Value, Line: img.Line})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s:%d: services: none defined", file, services.Line)
	}
	return out, nil
}

// StackImageRefs is the distinct images of a stack file, in file order.
func StackImageRefs(imgs []StackImage) []string {
	var refs []string
	seen := map[string]bool{}
	for _, im := range imgs {
		if !seen[im.Image] {
			seen[im.Image] = true
			refs = append(refs, im.Image)
		}
	}
	return refs
}

func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		err = errors.New(te.Errors[0])
	}
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			return fmt.Errorf("%s:%d: %s", file, n, m[2])
		}
		return fmt.Errorf("%s: %s", file, m[2])
	}
	return fmt.Errorf("%s: %s", file, msg)
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && depth < 32; depth++ {
		n = n.Alias
	}
	return n
}

// lookup finds key in a mapping, then in the mappings merged into it with
// "<<" (a single one or a list), the first one winning as in YAML.
func lookup(m *yaml.Node, key string) *yaml.Node {
	return lookupDepth(m, key, 0)
}

func lookupDepth(m *yaml.Node, key string, depth int) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode || depth > 16 {
		return nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Value == key && k.Tag != "!!merge" {
			return m.Content[i+1]
		}
		if k.Tag == "!!merge" || k.Value == "<<" {
			v := resolve(m.Content[i+1])
			if v.Kind == yaml.SequenceNode {
				for _, e := range v.Content {
					merges = append(merges, resolve(e))
				}
			} else {
				merges = append(merges, v)
			}
		}
	}
	for _, mm := range merges {
		if v := lookupDepth(mm, key, depth+1); v != nil {
			return v
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return "an empty value"
	case n.Kind == yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}
