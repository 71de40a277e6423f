// Package warm fills a registry pull-through cache before a rollout: it
// reads each image's manifests and blobs through the mirror once, so that
// the mirror fetches them from the upstream before any node asks.
//
// Warm takes image references ("busybox", "ghcr.io/lab/hello:1",
// "quay.io/x/y@sha256:..."), the mirror for each upstream registry, the
// platforms the fleet runs and an http.RoundTripper (NewTransport builds one
// that dials through an SSH connection to a manager). For each image it
// resolves the tag to a digest through the mirror, picks the manifests of
// the fleet's platforms from a multi-platform index (as containerd would:
// exact match, arm falling back to lower variants, attestations skipped),
// and reads every config and layer blob once, Parallel at a time, hashing as
// it streams to nowhere. An image is Done only when every manifest and blob
// was read whole and matched its digest; a short or wrong blob fails it.
//
// A pull-through cache is addressed like the upstream without its host:
// docker.io/library/busybox:1 is <mirror>/v2/library/busybox/manifests/1.
// One mirror serves one upstream (distribution's proxy has one remoteurl),
// hence Options.Mirrors.
//
// # Telling cached from not cached
//
// A pull-through cache answers every request as if it held everything: a
// HEAD or GET of an uncached blob is fetched from the upstream on the spot
// (in distribution both go to blobHandler.GetBlob and proxyBlobStore.ServeBlob,
// registry/handlers/blob.go and registry/proxy/proxyblobstore.go), so
// existence says nothing. Read in distribution v2.8.3 and v3.1.2, a blob is
// served one of two ways, and they answer a range request differently:
//
//   - held in the cache: serveLocal -> the local store's ServeBlob
//     (registry/storage/blobserver.go), which ends in http.ServeContent, so
//     "Range: bytes=0-" gets 206 Partial Content with the whole blob (or a
//     redirect to storage that honours the range too);
//   - not held: copyContent streams the upstream's body with 200 OK and
//     ignores Range, while storing it (v3 on the same stream; 2.8 in a
//     second, parallel fetch).
//
// So every blob is asked for with "Range: bytes=0-": it costs nothing (the
// whole blob comes either way and is hashed either way), and 206 means "the
// mirror had it" (Result.BlobsCached). This is evidence about distribution
// (registry:2 and registry:3), and TestRealDistributionProxy checks it
// against the real ones (Debian's 2.8.2; a 3.1.2 build when one is there):
// cold, every blob 200; warm, every blob 206. Another implementation that ignores ranges
// would show every blob as fetched (never wrongly "cached"); one that honours
// ranges while streaming from its upstream would show fetches as cached.
// Manifests carry no such sign, so they are not judged by it.
//
// The mirror's own counters are the other witness. When Mirror.Stats is set
// (registry:3's Prometheus metrics, see internal/regmetrics), Warm reads them
// before and after each image, and reports the difference: upstream bytes
// and fetches (cache misses, blobs and manifests). That is the number issue
// 14 asks for ("bytes fetched from upstream"), but it counts whatever the
// mirror did meanwhile, a node's pull included, and registry:3 counts a
// blob fetched twice concurrently as two misses (see regmetrics). Images are
// therefore warmed one after the other. registry:2 does not count blob
// misses at all: there the upstream numbers stay unknown and say why.
//
// Result.AlreadyCached is true when every blob answered 206 and, if the
// counters are known, the mirror fetched nothing upstream. Result.Bytes is
// always what crossed the link to the mirror (through an SSH tunnel, that
// is what the tunnel carried): warming from a laptop costs the image's size
// on the laptop's link even when the mirror had it all.
//
// The tag lookup itself always goes upstream (distribution's
// proxyTagService.Get asks the remote first and falls back to the cache only
// when the upstream fails), uncounted by either witness.
package warm
