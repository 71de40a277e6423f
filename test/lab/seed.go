package lab

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// The stand-ins' images, generated here (nothing is downloaded) and pushed
// straight into each stand-in's backend registry over the registry HTTP
// API. Content is deterministic: the same digests in every lab and run.

// seedImage is an image ready to push: gzipped layers and its config.
type seedImage struct {
	layers [][]byte // gzipped tars
	config []byte
}

// Size is the sum of the compressed layers (what a pull transfers).
func (im seedImage) Size() int64 {
	var n int64
	for _, l := range im.layers {
		n += int64(len(l))
	}
	return n
}

// Images every stand-in's backend holds (besides library/busybox on the
// Docker Hub one).
const (
	// HelloRepo:HelloTag is a small image (busybox plus a file naming its
	// registry) on ghcr.io and quay.io.
	HelloRepo, HelloTag = "lab/hello", "1"
	// BenchRepo:BenchTag is about 32 MiB in 4 layers of incompressible,
	// deterministic bytes, on every stand-in, for benchmarks.
	BenchRepo, BenchTag = "lab/bench", "1"
	// BenchLayers and BenchLayerSize shape it.
	BenchLayers    = 4
	BenchLayerSize = 8 << 20
)

// newSeedImage makes an image of uncompressed layer tars.
func newSeedImage(layers [][]byte, level int, cmd []string, createdBy string) (seedImage, error) {
	im := seedImage{}
	var diffIDs []string
	var history []map[string]any
	for _, l := range layers {
		gz, err := gzipLevel(l, level)
		if err != nil {
			return im, err
		}
		im.layers = append(im.layers, gz)
		diffIDs = append(diffIDs, digestOf(l))
		history = append(history, map[string]any{"created": fixedTime.UTC().Format(time.RFC3339), "created_by": createdBy})
	}
	cfg, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      fixedTime.UTC().Format(time.RFC3339),
		"config":       map[string]any{"Cmd": cmd, "Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
		"history":      history,
	})
	im.config = cfg
	return im, err
}

func gzipLevel(b []byte, level int) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		return nil, err
	}
	zw.ModTime = fixedTime
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// helloLayer is one file, /hello.txt, naming the registry.
func helloLayer(registry string) ([]byte, error) {
	return tarBytes([]tarEntry{{name: "hello.txt", mode: 0o644, body: []byte("hello from the lab's " + registry + "\n")}})
}

// benchLayer i is one file of BenchLayerSize bytes from a seeded ChaCha8
// stream (incompressible, so a pull moves the whole size).
func benchLayer(i int) ([]byte, error) {
	var seed [32]byte
	copy(seed[:], fmt.Sprintf("swarmctl lab bench layer %d", i))
	r := rand.NewChaCha8(seed)
	body := make([]byte, BenchLayerSize)
	r.Read(body)
	return tarBytes([]tarEntry{
		{name: "bench", dir: true, mode: 0o755},
		{name: fmt.Sprintf("bench/part%d.bin", i), mode: 0o644, body: body},
	})
}

var (
	seedOnce   sync.Once
	seedErr    error
	seedImages struct{ busybox, bench seedImage }
)

// seeds builds the shared images once per process.
func seeds() (busybox, bench seedImage, err error) {
	seedOnce.Do(func() {
		var bb []byte
		if bb, seedErr = busyboxLayer(); seedErr != nil {
			return
		}
		if seedImages.busybox, seedErr = newSeedImage([][]byte{bb}, gzip.DefaultCompression, []string{"sh"}, "swarmctl lab: busybox-static"); seedErr != nil {
			return
		}
		var layers [][]byte
		for i := range BenchLayers {
			l, err := benchLayer(i)
			if err != nil {
				seedErr = err
				return
			}
			layers = append(layers, l)
		}
		// Stored, not compressed: random bytes do not shrink, and CPU is scarce.
		seedImages.bench, seedErr = newSeedImage(layers, gzip.NoCompression, []string{"sh"}, "swarmctl lab: deterministic bench bytes")
	})
	return seedImages.busybox, seedImages.bench, seedErr
}

// helloImage is busybox plus /hello.txt naming the registry.
func helloImage(registry string) (seedImage, error) {
	bb, err := busyboxLayer()
	if err != nil {
		return seedImage{}, err
	}
	hl, err := helloLayer(registry)
	if err != nil {
		return seedImage{}, err
	}
	return newSeedImage([][]byte{bb, hl}, gzip.DefaultCompression, []string{"cat", "/hello.txt"}, "swarmctl lab: hello")
}

// pushImage pushes im as repo:tag to the registry at base (http://ip:5000).
func pushImage(ctx context.Context, base, repo, tag string, im seedImage) error {
	var layers []map[string]any
	for _, l := range im.layers {
		if err := pushBlob(ctx, base, repo, l); err != nil {
			return err
		}
		layers = append(layers, map[string]any{"mediaType": mediaLayer, "size": len(l), "digest": digestOf(l)})
	}
	if err := pushBlob(ctx, base, repo, im.config); err != nil {
		return err
	}
	man, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaManifest,
		"config":        map[string]any{"mediaType": mediaConfig, "size": len(im.config), "digest": digestOf(im.config)},
		"layers":        layers,
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(man))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaManifest)
	return expect(directClient.Do(req))(http.StatusCreated)
}

// imagesOf is what a stand-in's backend holds, by "repo:tag".
func imagesOf(name string) ([]string, error) {
	switch name {
	case HubName:
		return []string{"library/busybox:latest", BenchRepo + ":" + BenchTag}, nil
	case GHCRName, QuayName:
		return []string{HelloRepo + ":" + HelloTag, BenchRepo + ":" + BenchTag}, nil
	}
	return nil, fmt.Errorf("no stand-in for %s", name)
}

// seedStandIn pushes a stand-in's images into its backend.
func seedStandIn(ctx context.Context, s StandIn) error {
	if err := waitRegistry(ctx, s.Backend, 30*time.Second); err != nil {
		return err
	}
	busybox, bench, err := seeds()
	if err != nil {
		return err
	}
	if s.Name == HubName {
		if err := pushImage(ctx, s.Backend, "library/busybox", "latest", busybox); err != nil {
			return err
		}
	} else {
		hello, err := helloImage(s.Name)
		if err != nil {
			return err
		}
		if err := pushImage(ctx, s.Backend, HelloRepo, HelloTag, hello); err != nil {
			return err
		}
	}
	return pushImage(ctx, s.Backend, BenchRepo, BenchTag, bench)
}
