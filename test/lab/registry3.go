package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// registry:3 is CNCF distribution v3's cmd/registry, built here from its Go
// module (no registry can be reached), packaged like the project's own
// release image: the binary as /bin/registry, the module's
// cmd/registry/config-dev.yml as /etc/distribution/config.yml (debug
// listener :5001 with Prometheus metrics), ENTRYPOINT ["registry"], CMD
// ["serve", "/etc/distribution/config.yml"], OTEL_TRACES_EXPORTER=none.
// Busybox is added for a shell (swarmctl's health probe runs sh and wget in
// the container) and the lab CA as the system trust store.
const (
	Registry3Image   = "registry:3"
	registry3Module  = "github.com/distribution/distribution/v3"
	registry3Version = "v3.1.2"
	registry3Repo    = "swarmctl-lab/registry3"
)

// registry3LDFlags stamp the version as the project's release build does
// (registry --version prints "3.1.2", not "v3.1.2+unknown").
var registry3LDFlags = "-s -w -X " + registry3Module + "/version.version=" + strings.TrimPrefix(registry3Version, "v")

// registry3BinaryKey names the cached binary: module version, Go version
// and build flags.
func registry3BinaryKey() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s@%s\n%s\nCGO_ENABLED=0 -trimpath -ldflags=%s\n", registry3Module, registry3Version, runtime.Version(), registry3LDFlags)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// ensureRegistry3Binary returns the cached registry binary and the
// module's config-dev.yml, building them (about 2.5 minutes on 2 cores)
// when missing. Modules come through the Go toolchain's own configuration
// (GOPROXY and friends of this machine).
func ensureRegistry3Binary(ctx context.Context, logw io.Writer) (bin, config string, err error) {
	dir := filepath.Join(CacheDir(), "registry3-"+registry3Version+"-"+registry3BinaryKey())
	bin, config = filepath.Join(dir, "registry"), filepath.Join(dir, "config.yml")
	if _, err := os.Stat(bin); err == nil {
		return bin, config, nil
	}
	if err := os.MkdirAll(CacheDir(), 0o755); err != nil {
		return "", "", err
	}
	unlock, err := lockFile(dir + ".lock")
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, config, nil
	}
	start := time.Now()
	fmt.Fprintf(logw, "lab: building %s from %s@%s (about 2.5 minutes on 2 cores)\n", Registry3Image, registry3Module, registry3Version)
	tmp, err := os.MkdirTemp(CacheDir(), "registry3-build-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	env := append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local", "GO111MODULE=on")
	out, err := goCmd(ctx, tmp, env, "mod", "download", "-json", registry3Module+"@"+registry3Version)
	if err != nil {
		return "", "", err
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", "", fmt.Errorf("go mod download %s@%s: %v %s", registry3Module, registry3Version, err, mod.Error)
	}
	// The module cache is read-only and the build writes go.sum entries.
	src := filepath.Join(tmp, "src")
	if err := copyTree(mod.Dir, src); err != nil {
		return "", "", err
	}
	built := filepath.Join(tmp, "registry")
	if _, err := goCmd(ctx, src, env, "build", "-trimpath", "-ldflags="+registry3LDFlags, "-o", built, "./cmd/registry"); err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "out"), 0o755); err != nil {
		return "", "", err
	}
	if err := os.Rename(built, filepath.Join(tmp, "out", "registry")); err != nil {
		return "", "", err
	}
	cfg, err := os.ReadFile(filepath.Join(src, "cmd", "registry", "config-dev.yml"))
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, "out", "config.yml"), cfg, 0o644); err != nil {
		return "", "", err
	}
	os.RemoveAll(dir)
	if err := os.Rename(filepath.Join(tmp, "out"), dir); err != nil {
		return "", "", err
	}
	fmt.Fprintf(logw, "lab: built %s in %s\n", Registry3Image, time.Since(start).Round(time.Second))
	// Binaries of other versions or toolchains are of no further use.
	old, _ := filepath.Glob(filepath.Join(CacheDir(), "registry3-v*"))
	for _, o := range old {
		if o != dir && o != dir+".lock" {
			os.RemoveAll(o)
		}
	}
	return bin, config, nil
}

func goCmd(ctx context.Context, dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	var tail tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &tail
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", args[0], err, tail.String())
	}
	return out.Bytes(), nil
}

// copyTree copies the regular files and directories of src to dst,
// writable by the owner.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
}

// registry3Entries is the image's root filesystem.
func registry3Entries(bin, config string, caPEM []byte) ([]tarEntry, error) {
	bb, err := busyboxPath()
	if err != nil {
		return nil, err
	}
	ents := []tarEntry{
		{name: "bin", dir: true, mode: 0o755},
		{name: "bin/registry", mode: 0o755, srcRef: bin},
		{name: "bin/busybox", mode: 0o755, srcRef: bb},
		{name: "bin/sh", link: "busybox"},
		{name: "bin/wget", link: "busybox"},
		{name: "etc", dir: true, mode: 0o755},
		{name: "etc/distribution", dir: true, mode: 0o755},
		{name: "etc/distribution/config.yml", mode: 0o644, srcRef: config},
		{name: "tmp", dir: true, mode: 0o1777},
		{name: "var", dir: true, mode: 0o755},
		{name: "var/lib", dir: true, mode: 0o755},
		{name: "var/lib/registry", dir: true, mode: 0o755},
	}
	ents = append(ents, trustEntries(caPEM)...)
	sort.SliceStable(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
	return ents, nil
}

// ensureRegistry3Image builds registry:3 on the outer engine if the current
// recipe's image is not there yet.
func (e *engine) ensureRegistry3Image(ctx context.Context, caPEM []byte, logw io.Writer) (string, error) {
	bin, config, err := ensureRegistry3Binary(ctx, logw)
	if err != nil {
		return "", err
	}
	ents, err := registry3Entries(bin, config, caPEM)
	if err != nil {
		return "", err
	}
	key, err := hashEntries("registry:3 v1", ents)
	if err != nil {
		return "", err
	}
	hashRef := registry3Repo + ":" + key
	if e.imageExists(ctx, hashRef) && e.imageExists(ctx, Registry3Image) {
		return hashRef, nil
	}
	fmt.Fprintf(logw, "lab: importing %s\n", Registry3Image)
	b, err := tarBytes(ents)
	if err != nil {
		return "", err
	}
	if err := e.importImage(ctx, bytes.NewReader(b), []string{
		`ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
		`ENV OTEL_TRACES_EXPORTER=none`,
		`ENTRYPOINT ["registry"]`,
		`CMD ["serve", "/etc/distribution/config.yml"]`,
		`EXPOSE 5000`,
		`VOLUME /var/lib/registry`,
	}, hashRef, Registry3Image); err != nil {
		return "", err
	}
	e.pruneTags(ctx, registry3Repo, hashRef)
	return hashRef, nil
}
