// Package regmetrics reads a registry's own pull-through cache counters:
// registry:3's Prometheus metrics (Parse) and the expvar JSON that registry:2
// and registry:3 serve on /debug/vars (ParseExpvar). Bytes in, Stats out;
// no I/O. Stats.Sub gives what happened between two readings.
//
// # What the registry really counts
//
// Read in CNCF distribution v3.1.2 (the module's source; the same files at
// v3.1.1 and at main 0d6b721dc) and v2.8.3 (the same proxy code as 2.8.2,
// Debian's docker-registry). Function names are theirs; nothing is copied.
//
// registry:3. registry/proxy/proxymetrics.go defines five counters with
// docker/go-metrics on metrics.ProxyNamespace ("registry", "proxy"), whose
// NewLabeledCounter appends "_total" (go-metrics namespace.go makeName with
// unit Total), each with the one label "type" = "blob" or "manifest", both
// initialised to 0 at start (initPrometheusMetrics):
//
//	registry_proxy_requests_total{type}      requests answered to clients
//	registry_proxy_hits_total{type}          of those, served from the cache
//	registry_proxy_misses_total{type}        fetches from the upstream
//	registry_proxy_pulled_bytes_total{type}  bytes fetched from the upstream
//	registry_proxy_pushed_bytes_total{type}  bytes sent to clients
//
// Blobs (proxyblobstore.go): ServeBlob first tries serveLocal, which on a
// local hit calls BlobPush(size, true): requests+1, hits+1, pushed+size.
// Otherwise copyContent streams the upstream blob to the client (and, for the
// first request of a digest, into the cache) and, only after all of it was
// copied, calls BlobPull(size) (misses+1, pulled+size) and
// BlobPush(size, false) (requests+1). So for blobs requests = hits + misses,
// a failed upstream copy counts nothing, and a second client asking for a
// blob that is still being fetched (the inflight map) makes a second full
// upstream fetch, counted as a second miss: N nodes pulling one cold layer
// at once give up to N misses, not 1 miss and N-1 hits. HEAD requests take
// the same path as GET (registry/handlers/blob.go maps both to GetBlob), so
// a HEAD of an uncached blob fetches it whole from the upstream and counts a
// miss; a HEAD of a cached one counts a hit and its size as pushed bytes.
// Manifests (proxymanifeststore.go Get): a manifest found locally counts
// ManifestPush(len, true) (request and hit); one fetched from the upstream
// counts ManifestPush(len, false) and ManifestPull(len) (request, miss,
// pulled bytes). Tag lookups (proxytagservice.go Get) always ask the
// upstream first and are not counted at all. Counters live in the process:
// a restart resets them, and each replica counts for itself.
//
// The same five values per type are also published as expvar JSON on the
// debug address, /debug/vars, under "registry" -> "proxy" -> "blobs" /
// "manifests" with the fields Requests, Hits, Misses, BytesPulled,
// BytesPushed (proxyMetricsCollector in the same file).
//
// registry:2 (2.8). Only the expvar JSON exists (its Prometheus endpoint has
// no proxy metrics), and its blob numbers do not mean what their names say:
// BlobPull is never called, so blob Misses and BytesPulled stay 0; BlobPush
// adds 1 to both Requests and Hits for every local hit AND for every
// upstream copy, and a miss makes two copies (proxyblobstore.go ServeBlob
// starts storeLocal, which copies the upstream blob into the cache, and
// copies it again to the client), so blob Requests = Hits = local hits +
// 2 x misses + in-flight extra fetches, and BytesPushed mixes the two.
// Manifests are right except Hits, which equals Requests: misses and
// BytesPulled are counted by ManifestPull for every upstream fetch, so
// hits = requests - misses. ParseExpvar with Registry2 reports exactly
// that: manifest counters corrected, blob counters marked unknown
// (Stats.BlobKnown false).
//
// testdata/ holds pages captured from the real registries (see its README);
// the counts in them are the ones this reading predicts, e.g. registry:2's
// blob Requests = Hits = 9 after 3 cold misses and 3 warm hits, with blob
// Misses and BytesPulled 0, while its upstream served each blob twice.
package regmetrics
