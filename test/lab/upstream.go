package lab

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// The stand-ins' backend registries are seeded over the registry HTTP API
// straight from this process, so that it works with any outer engine (no
// insecure-registries setting needed).

const (
	mediaManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaConfig   = "application/vnd.docker.container.image.v1+json"
	mediaLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// directClient never uses a proxy from the environment: the lab's
// addresses are only reachable directly.
var directClient = &http.Client{
	Transport: &http.Transport{Proxy: nil},
	Timeout:   30 * time.Second,
}

// pushBusybox pushes the busybox layer as library/busybox:latest to the
// registry at base (http://ip:5000), waiting up to 30 s for it to answer.
func pushBusybox(ctx context.Context, base string, layer []byte) error {
	if err := waitRegistry(ctx, base, 30*time.Second); err != nil {
		return err
	}
	im, err := newSeedImage([][]byte{layer}, gzip.DefaultCompression, []string{"sh"}, "swarmctl lab: busybox-static")
	if err != nil {
		return err
	}
	return pushImage(ctx, base, "library/busybox", "latest", im)
}

func waitRegistry(ctx context.Context, base string, d time.Duration) error {
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/", nil)
		if err != nil {
			return err
		}
		resp, err := (&http.Client{Transport: directClient.Transport, Timeout: 2 * time.Second}).Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("registry %s did not answer within %s: %v", base, d, last)
}

// pushBlob uploads one blob in a single PUT (monolithic upload).
func pushBlob(ctx context.Context, base, repo string, blob []byte) error {
	dg := digestOf(blob)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil)
	if err != nil {
		return err
	}
	resp, err := directClient.Do(req)
	if err := expect(resp, err)(http.StatusAccepted); err != nil {
		return err
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("upload location: %w", err)
	}
	b, _ := url.Parse(base)
	u := b.ResolveReference(loc)
	q := u.Query()
	q.Set("digest", dg)
	u.RawQuery = q.Encode()
	req, err = http.NewRequestWithContext(ctx, http.MethodPut, u.String(), bytes.NewReader(blob))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	return expect(directClient.Do(req))(http.StatusCreated)
}

// expect closes the response and checks its status.
func expect(resp *http.Response, err error) func(int) error {
	return func(want int) error {
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != want {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("%s %s: %s: %s", resp.Request.Method, resp.Request.URL.Path, resp.Status, bytes.TrimSpace(body))
		}
		return nil
	}
}
