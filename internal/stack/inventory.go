package stack

import (
	"fmt"
	"os"
	"strings"

	"github.com/swarmctl/swarmctl/internal/inventory"
)

// FromInventory turns the inventory's mirror section into Values (not yet
// defaulted nor validated). The upstream password is read from
// UpstreamPasswordFile or from the environment variable UpstreamPasswordEnv;
// one trailing newline is dropped. Relative paths in m must already be
// resolved (inventory.Resolve).
//
// publish: 0 in the inventory means "do not publish" (Traefik only), as
// --publish 0 does; without the key (PublishSet false) the recipe's 5000
// applies. A negative port is refused.
func FromInventory(m inventory.Mirror) (Values, error) {
	v := Values{Mirror: m}
	v.Constraints = append([]string(nil), m.Constraints...)
	if m.DeleteEnabled != nil {
		d := *m.DeleteEnabled
		v.DeleteEnabled = &d
	}
	switch {
	case m.Publish < 0:
		return Values{}, fmt.Errorf("mirror.publish %d (--publish): want a port 1-65535, or 0 to not publish", m.Publish)
	case m.Publish == 0 && !m.PublishSet:
		v.Publish = DefaultPublish
	}
	pw, err := ReadPassword(m.UpstreamPasswordFile, m.UpstreamPasswordEnv)
	if err != nil {
		return Values{}, err
	}
	v.UpstreamPassword = pw
	return v, nil
}

// ReadPassword reads the upstream password from a file or, when file is
// empty, from the environment variable env. Both empty: no password.
func ReadPassword(file, env string) (string, error) {
	switch {
	case file != "" && env != "":
		return "", fmt.Errorf("mirror: set upstream_password_file or upstream_password_env, not both")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("mirror.upstream_password_file (--upstream-password-file): %w", err)
		}
		pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if pw == "" {
			return "", fmt.Errorf("mirror.upstream_password_file (--upstream-password-file): %s is empty", file)
		}
		return pw, nil
	case env != "":
		pw, ok := os.LookupEnv(env)
		if !ok || pw == "" {
			return "", fmt.Errorf("mirror.upstream_password_env (--upstream-password-env): environment variable %s is not set", env)
		}
		return pw, nil
	}
	return "", nil
}
