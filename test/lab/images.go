package lab

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// Image names on the outer engine. The hash tags say which recipe built an
// image, so a changed recipe rebuilds and an unchanged one is reused.
const (
	RegistryImage = "registry:2"
	BusyboxImage  = "busybox:latest"
	machineRepo   = "swarmctl-lab/machine"
	dnsRepo       = "swarmctl-lab/dns"
	frontRepo     = "swarmctl-lab/front"
	registryRepo  = "swarmctl-lab/registry"
	busyboxRepo   = "swarmctl-lab/busybox"
)

// fixedTime makes generated tarballs reproducible.
var fixedTime = time.Unix(1700000000, 0)

// tarEntry is one file, directory or symlink of a generated image.
type tarEntry struct {
	name   string // without leading slash
	mode   int64
	body   []byte
	link   string // symlink target
	dir    bool
	srcRef string // read the body from this host file at write time
}

func writeEntries(tw *tar.Writer, entries []tarEntry) error {
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: fixedTime, Format: tar.FormatPAX}
		switch {
		case e.dir:
			h.Typeflag, h.Name = tar.TypeDir, strings.TrimSuffix(e.name, "/")+"/"
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		default:
			body := e.body
			if e.srcRef != "" {
				b, err := os.ReadFile(e.srcRef)
				if err != nil {
					return err
				}
				body = b
			}
			h.Typeflag, h.Size = tar.TypeReg, int64(len(body))
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := tw.Write(body); err != nil {
				return err
			}
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	return nil
}

func tarBytes(entries []tarEntry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := writeEntries(tw, entries); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// hashEntries is the content hash of a list of entries (host files by
// content).
func hashEntries(seed string, entries []tarEntry) (string, error) {
	h := sha256.New()
	io.WriteString(h, seed)
	for _, e := range entries {
		fmt.Fprintf(h, "\x00%s %o %v %s\x00", e.name, e.mode, e.dir, e.link)
		if e.srcRef != "" {
			f, err := os.Open(e.srcRef)
			if err != nil {
				return "", err
			}
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return "", err
			}
		}
		h.Write(e.body)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

func (e *engine) imageExists(ctx context.Context, ref string) bool {
	_, err := e.docker(ctx, nil, "image", "inspect", "--format", "{{.Id}}", ref)
	return err == nil
}

// importImage runs `docker import` of a tar stream as ref (plus extra tags).
func (e *engine) importImage(ctx context.Context, r io.Reader, changes []string, ref string, tags ...string) error {
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	args = append(args, "-", ref)
	if _, err := e.docker(ctx, r, args...); err != nil {
		return err
	}
	for _, t := range tags {
		if _, err := e.docker(ctx, nil, "tag", ref, t); err != nil {
			return err
		}
	}
	return nil
}

// ---- machine image ----

// machineImage returns the tag of an engine's machine image, building the
// root filesystem (debootstrap) and importing it when needed.
func (e *engine) machineImage(ctx context.Context, r engineRecipe, logw io.Writer) (string, error) {
	mirror, err := debianMirror()
	if err != nil {
		return "", err
	}
	overlay := machineOverlay()
	key, err := hashEntries(baseKey(r, mirror), overlay)
	if err != nil {
		return "", err
	}
	repo := machineRepo + "-" + r.name
	ref := repo + ":" + key
	if e.imageExists(ctx, ref) {
		return ref, nil
	}
	base, err := ensureBaseRootfs(ctx, r, logw)
	if err != nil {
		return "", err
	}
	start := time.Now()
	fmt.Fprintf(logw, "lab: importing machine image %s\n", ref)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(appendOverlay(base, overlay, pw)) }()
	err = e.importImage(ctx, pr, []string{`ENV container=docker`, `CMD ["/lib/systemd/systemd"]`}, ref)
	pr.CloseWithError(err)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(logw, "lab: imported %s in %s\n", ref, time.Since(start).Round(100*time.Millisecond))
	e.pruneTags(ctx, repo, ref)
	return ref, nil
}

// machineImagesFor makes sure the machine images of the engines exist,
// building missing ones in parallel (debootstrap waits mostly on the
// network and the disk), and returns their tags by engine.
func (e *engine) machineImagesFor(ctx context.Context, engines []string, logw io.Writer) (map[string]string, error) {
	refs := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(engines))
	for i, name := range engines {
		r, err := recipeOf(name)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref, err := e.machineImage(ctx, r, logw)
			if err != nil {
				errs[i] = fmt.Errorf("machine image for engine %s: %w", name, err)
				return
			}
			mu.Lock()
			refs[name] = ref
			mu.Unlock()
		}()
	}
	wg.Wait()
	return refs, errors.Join(errs...)
}

// appendOverlay copies the base tarball to w, then adds the overlay files.
func appendOverlay(base string, overlay []tarEntry, w io.Writer) error {
	f, err := os.Open(base)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	tw := tar.NewWriter(w)
	skip := map[string]bool{}
	for _, o := range overlay {
		skip["./"+o.name] = true
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if skip[h.Name] || skip[strings.TrimSuffix(h.Name, "/")] {
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	if err := writeEntries(tw, overlay); err != nil {
		return err
	}
	return tw.Close()
}

// ---- registry:2 ----

const registryConfig = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`

// registryEntries is a minimal registry:2 root filesystem: Debian's
// distribution binary, the libc it links against, busybox for a shell, the
// lab CA as the system trust store (a mirror's upstream is an HTTPS
// stand-in).
func registryEntries(caPEM []byte) ([]tarEntry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry not installed (apt-get install docker-registry): %w", err)
	}
	libs, err := sharedLibs(bin)
	if err != nil {
		return nil, err
	}
	bb, err := busyboxPath()
	if err != nil {
		return nil, err
	}
	ents := []tarEntry{
		{name: "bin", dir: true, mode: 0o755},
		{name: "etc", dir: true, mode: 0o755},
		{name: "etc/docker", dir: true, mode: 0o755},
		{name: "etc/docker/registry", dir: true, mode: 0o755},
		{name: "tmp", dir: true, mode: 0o1777},
		{name: "var", dir: true, mode: 0o755},
		{name: "var/lib", dir: true, mode: 0o755},
		{name: "var/lib/registry", dir: true, mode: 0o755},
		{name: "bin/registry", mode: 0o755, srcRef: bin},
		{name: "bin/busybox", mode: 0o755, srcRef: bb},
		{name: "bin/sh", link: "busybox"},
		{name: "etc/docker/registry/config.yml", mode: 0o644, body: []byte(registryConfig)},
	}
	ents = append(ents, trustEntries(caPEM)...)
	seen := map[string]bool{}
	for _, l := range libs {
		for d := filepath.Dir(l); d != "/" && !seen[d]; d = filepath.Dir(d) {
			seen[d] = true
			ents = append(ents, tarEntry{name: strings.TrimPrefix(d, "/"), dir: true, mode: 0o755})
		}
		real, err := filepath.EvalSymlinks(l)
		if err != nil {
			return nil, err
		}
		ents = append(ents, tarEntry{name: strings.TrimPrefix(l, "/"), mode: 0o755, srcRef: real})
	}
	sort.SliceStable(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
	return ents, nil
}

// sharedLibs lists the libraries ldd reports for bin (absolute paths).
func sharedLibs(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %v: %s", bin, err, out)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/") {
				libs = append(libs, f)
				break
			}
		}
	}
	return libs, nil
}

// ensureRegistryImage imports registry:2 on the outer engine if the current
// recipe's image is not there yet.
func (e *engine) ensureRegistryImage(ctx context.Context, caPEM []byte, logw io.Writer) (string, error) {
	ents, err := registryEntries(caPEM)
	if err != nil {
		return "", err
	}
	key, err := hashEntries("registry:2 v2", ents)
	if err != nil {
		return "", err
	}
	hashRef := registryRepo + ":" + key
	if e.imageExists(ctx, hashRef) && e.imageExists(ctx, RegistryImage) {
		return hashRef, nil
	}
	fmt.Fprintf(logw, "lab: importing %s from Debian's docker-registry\n", RegistryImage)
	b, err := tarBytes(ents)
	if err != nil {
		return "", err
	}
	return hashRef, e.importImage(ctx, bytes.NewReader(b), []string{
		`ENTRYPOINT ["/bin/registry"]`,
		`CMD ["serve", "/etc/docker/registry/config.yml"]`,
		`EXPOSE 5000`,
		`VOLUME /var/lib/registry`,
	}, hashRef, RegistryImage)
}

// trustEntries make a CA (the lab CA) the system trust store of a small image
// (where Go's crypto/x509 looks first on Linux).
func trustEntries(caPEM []byte) []tarEntry {
	if len(caPEM) == 0 {
		return nil
	}
	return []tarEntry{
		{name: "etc/ssl", dir: true, mode: 0o755},
		{name: "etc/ssl/certs", dir: true, mode: 0o755},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, body: caPEM},
	}
}

// ---- busybox ----

func busyboxPath() (string, error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("busybox not installed (apt-get install busybox-static): %w", err)
	}
	return bb, nil
}

// busyboxLayer is the busybox image's only layer, uncompressed, built
// reproducibly from busybox-static.
func busyboxLayer() ([]byte, error) {
	bb, err := busyboxPath()
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	ents := []tarEntry{
		{name: "bin", dir: true, mode: 0o755},
		{name: "etc", dir: true, mode: 0o755},
		{name: "tmp", dir: true, mode: 0o1777},
		{name: "bin/busybox", mode: 0o755, srcRef: bb},
		{name: "etc/passwd", mode: 0o644, body: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")},
		{name: "etc/group", mode: 0o644, body: []byte("root:x:0:\nnobody:x:65534:\n")},
	}
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			ents = append(ents, tarEntry{name: "bin/" + a, link: "busybox"})
		}
	}
	return tarBytes(ents)
}

func (e *engine) ensureBusyboxImage(ctx context.Context, layer []byte, logw io.Writer) (string, error) {
	sum := sha256.Sum256(layer)
	hashRef := busyboxRepo + ":" + hex.EncodeToString(sum[:])[:12]
	if e.imageExists(ctx, hashRef) && e.imageExists(ctx, BusyboxImage) {
		return hashRef, nil
	}
	fmt.Fprintf(logw, "lab: importing %s from busybox-static\n", BusyboxImage)
	return hashRef, e.importImage(ctx, bytes.NewReader(layer), []string{`CMD ["sh"]`}, hashRef, BusyboxImage)
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.ModTime = fixedTime
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ---- lab tools: DNS responder, stand-in front ----

//go:embed dnsd.go cmd/labdns/main.go
var dnsSources embed.FS

//go:embed front/config.go front/server.go cmd/labfront/main.go
var frontSources embed.FS

// ensureDNSImage builds cmd/labdns statically and imports it.
func (e *engine) ensureDNSImage(ctx context.Context, logw io.Writer) (string, error) {
	return e.ensureToolImage(ctx, dnsRepo, "labdns", dnsSources, logw)
}

// ensureFrontImage builds cmd/labfront statically and imports it.
func (e *engine) ensureFrontImage(ctx context.Context, logw io.Writer) (string, error) {
	return e.ensureToolImage(ctx, frontRepo, "labfront", frontSources, logw)
}

// ensureToolImage builds one of the lab's own commands (test/lab/cmd/<cmd>)
// as a static binary and imports it as the image's only file and
// entrypoint, tagged by the hash of its sources.
func (e *engine) ensureToolImage(ctx context.Context, repo, cmdName string, sources embed.FS, logw io.Writer) (string, error) {
	h := sha256.New()
	io.WriteString(h, runtime.Version())
	err := fs.WalkDir(sources, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := sources.ReadFile(p)
		fmt.Fprintf(h, "\x00%s\x00", p)
		h.Write(b)
		return err
	})
	if err != nil {
		return "", err
	}
	ref := repo + ":" + hex.EncodeToString(h.Sum(nil))[:12]
	if e.imageExists(ctx, ref) {
		return ref, nil
	}
	tmp, err := os.MkdirTemp("", cmdName+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, cmdName)
	fmt.Fprintf(logw, "lab: building %s\n", cmdName)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "github.com/swarmctl/swarmctl/test/lab/cmd/"+cmdName)
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		cmd.Dir = filepath.Dir(file)
	}
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v: %s", cmdName, err, out)
	}
	b, err := tarBytes([]tarEntry{{name: cmdName, mode: 0o755, srcRef: bin}})
	if err != nil {
		return "", err
	}
	if err := e.importImage(ctx, bytes.NewReader(b), []string{`ENTRYPOINT ["/` + cmdName + `"]`}, ref); err != nil {
		return "", err
	}
	e.pruneTags(ctx, repo, ref)
	return ref, nil
}

// pruneTags removes images of repo other than keep (older recipes); images
// still used by a container stay.
func (e *engine) pruneTags(ctx context.Context, repo, keep string) {
	out, err := e.docker(ctx, nil, "images", repo, "--format", "{{.Repository}}:{{.Tag}}")
	if err != nil {
		return
	}
	for _, ref := range strings.Fields(out) {
		if ref != keep {
			e.docker(ctx, nil, "rmi", ref)
		}
	}
}

// BuildImages builds on the lab engine every image labs of these engines
// use, saying how long each took; images already there are reused. It
// starts the lab engine for the time it runs when none answers.
func BuildImages(ctx context.Context, engines []string, logw io.Writer) (err error) {
	if logw == nil {
		logw = io.Discard
	}
	if err := EnsureDeps(ctx, logw); err != nil {
		return err
	}
	const user = "images"
	e, err := acquireEngine(ctx, user, logw)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, releaseEngine(context.WithoutCancel(ctx), user, logw)) }()
	start := time.Now()
	timed := func(what string, fn func() error) error {
		t0 := time.Now()
		if err := fn(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		fmt.Fprintf(logw, "lab images: %s ready in %s\n", what, time.Since(t0).Round(100*time.Millisecond))
		return nil
	}
	var wg sync.WaitGroup
	var machineErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		machineErr = timed("machine images "+strings.Join(engines, ", "), func() error {
			_, err := e.machineImagesFor(ctx, engines, logw)
			return err
		})
	}()
	ca, err := LoadCA()
	if err != nil {
		return err
	}
	var reg3Err error
	wg.Add(1)
	go func() {
		defer wg.Done()
		reg3Err = timed(Registry3Image, func() error { _, err := e.ensureRegistry3Image(ctx, ca.CertPEM, logw); return err })
	}()
	errs := []error{
		timed(RegistryImage, func() error { _, err := e.ensureRegistryImage(ctx, ca.CertPEM, logw); return err }),
		timed(BusyboxImage, func() error {
			layer, err := busyboxLayer()
			if err != nil {
				return err
			}
			_, err = e.ensureBusyboxImage(ctx, layer, logw)
			return err
		}),
		timed("lab DNS", func() error { _, err := e.ensureDNSImage(ctx, logw); return err }),
		timed("stand-in front", func() error { _, err := e.ensureFrontImage(ctx, logw); return err }),
	}
	wg.Wait()
	if err := errors.Join(append(errs, machineErr, reg3Err)...); err != nil {
		return err
	}
	fmt.Fprintf(logw, "lab images: all ready in %s\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}
