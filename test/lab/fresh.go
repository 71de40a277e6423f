package lab

import (
	"compress/gzip"
	"context"
	"fmt"
	"math/rand/v2"
)

// PushFresh pushes repo:tag into the stand-in's backend: one layer of size
// bytes from a ChaCha8 stream seeded with seed (a seed never used before
// gives blobs no cache has seen: a new image to roll out). The layer is
// stored, not compressed, so a pull moves the whole size; the size
// returned is what a pull transfers.
func (s StandIn) PushFresh(ctx context.Context, repo, tag, seed string, size int) (int64, error) {
	var key [32]byte
	copy(key[:], "swarmctl lab fresh "+seed)
	body := make([]byte, size)
	rand.NewChaCha8(key).Read(body)
	layer, err := tarBytes([]tarEntry{{name: "fresh", dir: true, mode: 0o755}, {name: "fresh/" + seed + ".bin", mode: 0o644, body: body}})
	if err != nil {
		return 0, err
	}
	im, err := newSeedImage([][]byte{layer}, gzip.NoCompression, []string{"sh"}, "swarmctl lab: fresh image "+seed)
	if err != nil {
		return 0, err
	}
	if err := pushImage(ctx, s.Backend, repo, tag, im); err != nil {
		return 0, fmt.Errorf("push %s:%s to %s: %w", repo, tag, s.Name, err)
	}
	return im.Size(), nil
}
