package nodes

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// ResolvedHost is what an ssh_config file says about one host alias: the
// values `ssh alias` would use. Empty fields mean the file did not set them.
type ResolvedHost struct {
	Alias          string
	HostName       string   // HostName, with %h expanded ("" = not set)
	Port           int      // 0 = not set
	User           string   // "" = not set
	IdentityFiles  []string // ~ resolved
	KnownHostsFile []string // UserKnownHostsFile entries, ~ resolved
	// ProxyJump lists the jump hosts in order ([user@]host[:port] each);
	// nil when unset or "none".
	ProxyJump []string
}

// ResolveSSHConfig reads the ssh_config file at path and returns the
// settings for alias. A missing file yields an empty result (like ssh);
// path "none" or "" disables ssh_config. Only the named file is read (plus
// its Include directives), never a global default, so callers stay in
// control of which file applies.
func ResolveSSHConfig(path, alias string) (ResolvedHost, error) {
	r := ResolvedHost{Alias: alias}
	if path == "" || path == "none" {
		return r, nil
	}
	path = ExpandHome(path)
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return r, nil
		}
		return r, fmt.Errorf("ssh config: %w", err)
	}
	defer f.Close()
	cfg, err := ssh_config.Decode(f)
	if err != nil {
		return r, fmt.Errorf("ssh config %s: %w", path, err)
	}
	get := func(key string) (string, error) {
		v, err := cfg.Get(alias, key)
		if err != nil {
			return "", fmt.Errorf("ssh config %s: %s for %q: %w", path, key, alias, err)
		}
		return strings.TrimSpace(v), nil
	}
	getAll := func(key string) ([]string, error) {
		v, err := cfg.GetAll(alias, key)
		if err != nil {
			return nil, fmt.Errorf("ssh config %s: %s for %q: %w", path, key, alias, err)
		}
		return v, nil
	}

	if r.HostName, err = get("HostName"); err != nil {
		return r, err
	}
	r.HostName = expandTokens(r.HostName, alias)
	if r.User, err = get("User"); err != nil {
		return r, err
	}
	port, err := get("Port")
	if err != nil {
		return r, err
	}
	if port != "" {
		p, perr := strconv.Atoi(port)
		if perr != nil || p < 1 || p > 65535 {
			return r, fmt.Errorf("ssh config %s: Port %q for %q is not a TCP port", path, port, alias)
		}
		r.Port = p
	}
	ids, err := getAll("IdentityFile")
	if err != nil {
		return r, err
	}
	for _, id := range ids {
		id = unquote(strings.TrimSpace(id))
		if id != "" && !strings.EqualFold(id, "none") {
			r.IdentityFiles = append(r.IdentityFiles, ExpandHome(expandTokens(id, alias)))
		}
	}
	kh, err := get("UserKnownHostsFile")
	if err != nil {
		return r, err
	}
	for _, k := range strings.Fields(kh) {
		if !strings.EqualFold(k, "none") {
			r.KnownHostsFile = append(r.KnownHostsFile, ExpandHome(unquote(k)))
		}
	}
	pj, err := get("ProxyJump")
	if err != nil {
		return r, err
	}
	if pj != "" && !strings.EqualFold(pj, "none") {
		for _, hop := range strings.Split(pj, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				r.ProxyJump = append(r.ProxyJump, strings.TrimPrefix(hop, "ssh://"))
			}
		}
	}
	return r, nil
}

// ExpandHome replaces a leading ~ or ~/ with the current user's home.
func ExpandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// expandTokens handles the ssh_config tokens that make sense here: %h (the
// alias as given) and %%.
func expandTokens(s, alias string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+1 < len(s) {
			switch s[i+1] {
			case 'h':
				b.WriteString(alias)
				i++
				continue
			case '%':
				b.WriteByte('%')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// parseHop splits "[user@]host[:port]" (host may be a [v6]).
func parseHop(s string) (user, host string, port int, err error) {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		user, s = s[:i], s[i+1:]
	}
	host = s
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return "", "", 0, fmt.Errorf("bad host %q", s)
		}
		host = s[1:end]
		rest := s[end+1:]
		if strings.HasPrefix(rest, ":") {
			port, err = strconv.Atoi(rest[1:])
		}
	} else if i := strings.LastIndex(s, ":"); i >= 0 && strings.Count(s, ":") == 1 {
		host = s[:i]
		port, err = strconv.Atoi(s[i+1:])
	}
	if err != nil || port < 0 || port > 65535 || host == "" {
		return "", "", 0, fmt.Errorf("bad jump host %q: want [user@]host[:port]", s)
	}
	return user, host, port, nil
}
