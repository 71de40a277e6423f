package stack

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/swarmctl/swarmctl/internal/inventory"
)

// FromInventory turns the inventory's mirror section into Values (not yet
// defaulted nor validated): the upstream passwords read from the files or
// environment variables the section names (one trailing newline dropped),
// the CA, certificate and key files read, docker.io's entry of registries
// and the top-level remote_url / upstream_* keys made one setting, and the
// address of each replica node taken from nodes (an inventory node whose
// name or host is the replica's). Relative paths in m must already be
// resolved (inventory.Resolve).
//
// publish: 0 in the inventory means "do not publish" (Traefik only), as
// --publish 0 does; without the key (PublishSet false) the recipe's 5000
// applies. A negative port is refused.
func FromInventory(m inventory.Mirror, nodes []inventory.Node) (Values, error) {
	v := Values{Mirror: m}
	v.Constraints = append([]string(nil), m.Constraints...)
	v.ReplicaNodes = append([]string(nil), m.ReplicaNodes...)
	v.Registries = append([]inventory.Registry(nil), m.Registries...)
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
	var errs []error
	if err := v.foldDockerHub(); err != nil {
		errs = append(errs, err)
	} else {
		pw, err := readPassword(v.UpstreamPasswordFile, v.UpstreamPasswordEnv, v.at("upstream_password_file", 0)+"mirror.upstream_password_file (--upstream-password-file)", v.at("upstream_password_env", 0)+"mirror.upstream_password_env (--upstream-password-env)")
		if err != nil {
			errs = append(errs, err)
		}
		v.UpstreamPassword = pw
	}
	v.Passwords = map[string]string{}
	for i, r := range v.Registries {
		if r.Registry == DockerHub {
			continue
		}
		what := v.at("registries", r.Line) + fmt.Sprintf("mirror.registries[%d] (%s) ", i, r.Registry)
		p, err := readPassword(r.PasswordFile, r.PasswordEnv, what+"password_file", what+"password_env")
		if err != nil {
			errs = append(errs, err)
		}
		if p != "" {
			v.Passwords[r.Registry] = p
		}
	}
	for _, f := range []struct {
		key, path string
		dst       *[]byte
	}{{"ca_file", m.CAFile, &v.CAPEM}, {"tls_cert", m.TLSCert, &v.TLSCertPEM}, {"tls_key", m.TLSKey, &v.TLSKeyPEM}} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.fieldError(f.key, "").prefix(), err))
			continue
		}
		*f.dst = b
	}
	v.ReplicaHosts = map[string]string{}
	for _, rn := range v.ReplicaNodes {
		for _, n := range nodes {
			if n.Name == rn || n.Host == rn {
				v.ReplicaHosts[rn] = n.Host
				break
			}
		}
	}
	if len(errs) > 0 {
		return Values{}, errors.Join(errs...)
	}
	return v, nil
}

// foldDockerHub makes docker.io's entry of registries and the top-level
// remote_url / upstream_username / upstream_password_* one setting. Both
// set and different is an error; the top level alone, without docker.io
// in a registries list that is given, is an error too (it would be
// silently unused).
func (v *Values) foldDockerHub() error {
	hub := -1
	for i, r := range v.Registries {
		if r.Registry == DockerHub {
			hub = i
		}
	}
	if hub < 0 {
		if len(v.Registries) == 0 {
			return nil
		}
		for _, top := range []struct{ key, val string }{
			{"remote_url", v.RemoteURL}, {"upstream_username", v.UpstreamUsername},
			{"upstream_password_file", v.UpstreamPasswordFile}, {"upstream_password_env", v.UpstreamPasswordEnv},
		} {
			if top.val != "" {
				return v.fieldError(top.key, "describes docker.io's upstream, but mirror.registries does not list docker.io: add it there (with its settings) or remove this key")
			}
		}
		return nil
	}
	r := &v.Registries[hub]
	var errs []error
	both := func(key, entryKey string, top, entry *string) {
		switch {
		case *entry == "":
		case *top == "":
			*top = *entry
		case *top != *entry:
			errs = append(errs, v.fieldError(key, fmt.Sprintf("and mirror.registries' docker.io %s (line %d) both describe docker.io's upstream and differ: keep one", entryKey, r.Line)))
		}
	}
	both("remote_url", "remote_url", &v.RemoteURL, &r.RemoteURL)
	both("upstream_username", "username", &v.UpstreamUsername, &r.Username)
	if (r.PasswordFile != "" || r.PasswordEnv != "") && (v.UpstreamPasswordFile != "" || v.UpstreamPasswordEnv != "") &&
		(r.PasswordFile != v.UpstreamPasswordFile || r.PasswordEnv != v.UpstreamPasswordEnv) {
		key := "upstream_password_file"
		if v.UpstreamPasswordFile == "" {
			key = "upstream_password_env"
		}
		errs = append(errs, v.fieldError(key, fmt.Sprintf("and mirror.registries' docker.io password (line %d) both give docker.io's upstream password: keep one", r.Line)))
	} else if v.UpstreamPasswordFile == "" && v.UpstreamPasswordEnv == "" {
		v.UpstreamPasswordFile, v.UpstreamPasswordEnv = r.PasswordFile, r.PasswordEnv
	}
	both("url", "url", &v.URL, &r.URL)
	return errors.Join(errs...)
}

// ReadPassword reads the upstream password from a file or, when file is
// empty, from the environment variable env. Both empty: no password.
func ReadPassword(file, env string) (string, error) {
	return readPassword(file, env, "mirror.upstream_password_file (--upstream-password-file)", "mirror.upstream_password_env (--upstream-password-env)")
}

// readPassword reads a password from file or env; fileKey and envKey name
// the settings in errors.
func readPassword(file, env, fileKey, envKey string) (string, error) {
	switch {
	case file != "" && env != "":
		return "", fmt.Errorf("%s: set a password file or an environment variable, not both", fileKey)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", fileKey, err)
		}
		pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if pw == "" {
			return "", fmt.Errorf("%s: %s is empty", fileKey, file)
		}
		return pw, nil
	case env != "":
		pw, ok := os.LookupEnv(env)
		if !ok || pw == "" {
			return "", fmt.Errorf("%s: environment variable %s is not set", envKey, env)
		}
		return pw, nil
	}
	return "", nil
}

// Resolve is FromInventory, Defaults and Validate in one: the values of an
// inventory's mirror section (flags laid over it, paths resolved) ready
// for Endpoints. The error lists every problem, each with its file:line.
func Resolve(m inventory.Mirror, nodes []inventory.Node) (Values, error) {
	v, err := FromInventory(m, nodes)
	if err != nil {
		return Values{}, err
	}
	v.Defaults()
	if err := v.Validate(); err != nil {
		return v, err
	}
	return v, nil
}
