#!/usr/bin/env bash
# Known-vulnerability check of swarmctl's dependencies and the Go standard
# library with govulncheck (golang.org/x/vuln). It needs the Go
# vulnerability database (https://vuln.go.dev, or a local copy named by
# GOVULNDB=file:///path): on a machine without that access it cannot run,
# so it is NOT part of `make test`; run it where the database is reachable
# (CI with network access, or a release machine). See docs/safety.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
VULN_VERSION=${VULN_VERSION:-v1.1.4}
db=${GOVULNDB:-https://vuln.go.dev}
if [[ $db == https://* ]] && ! curl -fsS --max-time 10 -o /dev/null "$db/index/db.json.gz" 2>/dev/null; then
  echo ".ci/vulncheck.sh: the vulnerability database $db cannot be reached; set GOVULNDB=file:///path/to/a/copy or run where it is reachable" >&2
  exit 3
fi
GOVULNDB=$db go run "golang.org/x/vuln/cmd/govulncheck@${VULN_VERSION}" -db "$db" ./...
