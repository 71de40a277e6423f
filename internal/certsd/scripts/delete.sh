# delete.sh FILE [backups]: delete a file swarmctl wrote in
# /etc/docker/certs.d (never through a symbolic link: a link there is
# refused, exit 3), with "backups" its FILE.swarmctl-*.bak too, then the
# directory when nothing is left in it.
set -eu
f=$1; bak=${2:-}
d=$(dirname -- "$f")
if [ -L "$d" ] || [ -L "$f" ] || { [ -e "$f" ] && [ ! -f "$f" ]; }; then exit 3; fi
rm -f -- "$f"
if [ "$bak" = backups ]; then rm -f -- "$f".swarmctl-*.bak; fi
rmdir -- "$d" 2>/dev/null || true
