package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/swarmctl/swarmctl/test/lab"
	"github.com/swarmctl/swarmctl/test/lab/front"
)

// The wan phase is issue 14's measurement: what the mirror saves when every
// node pulls the same image at once over a WAN. The lab's Docker Hub
// stand-in gets a WAN in front of it (front.Config: a delay per request and
// one shared bandwidth limit for every response body), so both a node
// pulling directly and the mirror fetching upstream cross it; nodes reach
// the mirror over the lab's LAN. Three cases, each with every node pulling
// lab/bench:1 (about 32 MiB in 4 layers) at once, from nothing on the node:
//
//  1. direct: the nodes pull registry-1.docker.io/lab/bench:1, a name
//     dockerd applies no registry-mirrors to, straight from the stand-in;
//  2. cold: through a mirror with an empty cache;
//  3. warmed: `swarmctl mirror warm lab/bench:1` first, then the pulls.
//
// Per case: each node's pull time (docker pull, timed from here), p50 and
// p95, the wall time of the whole rollout, and the bytes the stand-in
// served for the image (its access log: manifests and blobs), as a
// multiple of the image's size. The warmed case counts the warm-up too.

const (
	wanRepo, wanTag = lab.BenchRepo, lab.BenchTag
	wanLatency      = 50 * time.Millisecond
	wanBandwidthBPS = 6_250_000 // 50 Mbit/s
)

type wanResult struct {
	Nodes         int       `json:"nodes"`
	Image         string    `json:"image"`
	ImageBytes    int64     `json:"image_bytes"` // manifest + config + layers
	LatencyMS     int64     `json:"latency_ms"`
	BandwidthMbit float64   `json:"bandwidth_mbit"`
	MirrorImage   string    `json:"mirror_image"`
	Cases         []wanCase `json:"cases"`
	WarmMS        int64     `json:"warm_ms"`
	WarmBytes     int64     `json:"warm_upstream_bytes"`
}

type wanCase struct {
	Name          string  `json:"name"`
	PullMS        []int64 `json:"pull_ms"`
	P50MS         int64   `json:"p50_ms"`
	P95MS         int64   `json:"p95_ms"`
	WallMS        int64   `json:"wall_ms"`
	UpstreamBytes int64   `json:"upstream_bytes"` // the pulls' (and the warm-up's, for warmed)
	UpstreamX     float64 `json:"upstream_x"`     // UpstreamBytes / ImageBytes
	BlobGETs      int     `json:"upstream_blob_gets"`
	// Clients are the addresses that fetched the image's blobs upstream:
	// the nodes when direct, the mirror's node through it.
	Clients []string `json:"upstream_clients"`
	Failed  int      `json:"failed"`
}

func (b *bench) wan(ctx context.Context) error {
	l := b.l
	mgr := l.Manager()
	r := &wanResult{Nodes: len(b.machines()), Image: wanRepo + ":" + wanTag, LatencyMS: wanLatency.Milliseconds(),
		BandwidthMbit: float64(wanBandwidthBPS) * 8 / 1e6, MirrorImage: lab.Registry3Image}
	b.res.WAN = r
	if err := l.LoadImage(ctx, lab.Registry3Image, mgr); err != nil {
		return err
	}
	inv, err := b.wanInventory()
	if err != nil {
		return err
	}
	sw := func(args ...string) error {
		res, err := runProc(ctx, b.c.bin, append(args, "-i", inv, "--no-color", "--ssh-config", "none")...)
		if err == nil && res.Exit != 0 {
			err = fmt.Errorf("swarmctl %s: exit %d: %s", strings.Join(args, " "), res.Exit, tail(res.stderr))
		}
		return err
	}
	// A cold cache: the stack and its data removed, installed again.
	if err := sw("mirror", "uninstall", "--purge", "--yes"); err != nil {
		return err
	}
	if err := sw("mirror", "install"); err != nil {
		return err
	}
	if err := sw("nodes", "configure", "--yes"); err != nil {
		return err
	}
	if err := b.waitMirrorAnswers(ctx, mgr); err != nil {
		return err
	}
	hub := l.Hub()
	if err := hub.Configure(ctx, front.Config{Latency: front.Duration(wanLatency), BandwidthBPS: wanBandwidthBPS}); err != nil {
		return err
	}
	defer func() { _ = hub.Configure(context.WithoutCancel(ctx), front.Config{}) }()

	// 1. Direct.
	c, err := b.wanRollout(ctx, "direct (no mirror)", "registry-1.docker.io/"+wanRepo+":"+wanTag)
	if err != nil {
		return err
	}
	r.Cases = append(r.Cases, *c)
	// 2. Cold mirror.
	c, err = b.wanRollout(ctx, "cold mirror", wanRepo+":"+wanTag)
	if err != nil {
		return err
	}
	r.Cases = append(r.Cases, *c)
	// 3. Warmed: a fresh cache, warmed, then the rollout.
	for _, args := range [][]string{{"mirror", "uninstall", "--purge", "--yes"}, {"mirror", "install"}} {
		if err := sw(args...); err != nil {
			return err
		}
	}
	if err := b.waitMirrorAnswers(ctx, mgr); err != nil {
		return err
	}
	mark, err := hub.Mark(ctx)
	if err != nil {
		return err
	}
	t0 := time.Now()
	wres, err := runProc(ctx, b.c.bin, "mirror", "warm", wanRepo+":"+wanTag, "-o", "json", "-i", inv, "--no-color", "--ssh-config", "none")
	r.WarmMS = time.Since(t0).Milliseconds()
	if err != nil || wres.Exit != 0 {
		return fmt.Errorf("mirror warm: %v %s", err, tail(wres.stderr))
	}
	var wdoc struct {
		Images []struct {
			Bytes int64 `json:"bytes"`
		} `json:"images"`
	}
	if err := json.Unmarshal(wres.stdout, &wdoc); err != nil || len(wdoc.Images) != 1 {
		return fmt.Errorf("mirror warm -o json: %v", err)
	}
	r.ImageBytes = wdoc.Images[0].Bytes
	r.WarmBytes, _, _, err = b.upstreamBytes(ctx, mark)
	if err != nil {
		return err
	}
	c, err = b.wanRollout(ctx, "warmed mirror", wanRepo+":"+wanTag)
	if err != nil {
		return err
	}
	c.Name = "warmed mirror (warm-up included)"
	c.UpstreamBytes += r.WarmBytes
	r.Cases = append(r.Cases, *c)
	for i := range r.Cases {
		r.Cases[i].UpstreamX = float64(r.Cases[i].UpstreamBytes) / float64(r.ImageBytes)
		b.logf("wan: %s: p50 %s p95 %s wall %s, upstream %.2fx the image (%d blob GETs from %v), %d failed", r.Cases[i].Name, fmtMS(float64(r.Cases[i].P50MS)),
			fmtMS(float64(r.Cases[i].P95MS)), fmtMS(float64(r.Cases[i].WallMS)), r.Cases[i].UpstreamX, r.Cases[i].BlobGETs, r.Cases[i].Clients, r.Cases[i].Failed)
	}
	return sw("mirror", "uninstall", "--purge", "--yes")
}

// wanInventory is the lab's inventory with registry:3 as the mirror,
// pinned to the first manager.
func (b *bench) wanInventory() (string, error) {
	raw, err := os.ReadFile(b.l.InventoryPath())
	if err != nil {
		return "", err
	}
	var inv map[string]any
	if err := yaml.Unmarshal(raw, &inv); err != nil {
		return "", err
	}
	m := inv["mirror"].(map[string]any)
	m["image"] = lab.Registry3Image
	m["constraints"] = []string{"node.hostname==" + b.l.Manager().Name}
	out, err := yaml.Marshal(inv)
	if err != nil {
		return "", err
	}
	p := filepath.Join(b.tmp, "wan-inventory.yaml")
	return p, os.WriteFile(p, out, 0o600)
}

// waitMirrorAnswers waits until the mirror answers on the manager.
func (b *bench) waitMirrorAnswers(ctx context.Context, mgr lab.Machine) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if _, err := b.l.Exec(ctx, mgr.Name, "curl", "-fsS", "-o", "/dev/null", "--max-time", "3", "http://"+mgr.IP+":5000/v2/"); err == nil {
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("the mirror on %s did not answer within 2 minutes", mgr.Name)
}

// wanRollout removes ref's image from every node, then has every node
// pull ref at once.
func (b *bench) wanRollout(ctx context.Context, name, ref string) (*wanCase, error) {
	ms := b.machines()
	for _, m := range ms {
		for _, r := range []string{ref, wanRepo + ":" + wanTag, "registry-1.docker.io/" + wanRepo + ":" + wanTag} {
			_, _ = b.l.Exec(ctx, m.Name, "docker", "rmi", "-f", r)
		}
		_, _ = b.l.Exec(ctx, m.Name, "docker", "image", "prune", "-f")
	}
	mark, err := b.l.Hub().Mark(ctx)
	if err != nil {
		return nil, err
	}
	c := &wanCase{Name: name}
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := time.Now()
			out, err := b.l.Exec(ctx, m.Name, "docker", "pull", "-q", ref)
			d := time.Since(s).Milliseconds()
			mu.Lock()
			defer mu.Unlock()
			c.PullMS = append(c.PullMS, d)
			if err != nil {
				c.Failed++
				b.errorf("wan %s: %s: docker pull %s: %v %s", name, m.Name, ref, err, strings.TrimSpace(out))
			}
		}()
	}
	wg.Wait()
	c.WallMS = time.Since(t0).Milliseconds()
	slices.Sort(c.PullMS)
	c.P50MS, c.P95MS = percentile(c.PullMS, 50), percentile(c.PullMS, 95)
	c.UpstreamBytes, c.BlobGETs, c.Clients, err = b.upstreamBytes(ctx, mark)
	return c, err
}

// upstreamBytes sums what the stand-in served for the image since mark:
// bytes of manifest and blob GETs, the blob GETs, and who fetched blobs.
func (b *bench) upstreamBytes(ctx context.Context, mark int64) (int64, int, []string, error) {
	es, err := b.l.Hub().Log(ctx, mark)
	if err != nil {
		return 0, 0, nil, err
	}
	var n int64
	gets := 0
	var clients []string
	for _, e := range es {
		if strings.HasPrefix(e.Path, "/v2/"+wanRepo+"/") && e.Method == "GET" {
			n += e.Bytes
			if strings.Contains(e.Path, "/blobs/") {
				gets++
				if !slices.Contains(clients, e.Client) {
					clients = append(clients, e.Client)
				}
			}
		}
	}
	slices.Sort(clients)
	return n, gets, clients, nil
}

// percentile of sorted xs (nearest rank).
func percentile(xs []int64, p int) int64 {
	if len(xs) == 0 {
		return 0
	}
	i := (p*len(xs) + 99) / 100
	return xs[max(0, min(len(xs)-1, i-1))]
}
