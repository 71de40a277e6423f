# prepare.sh FILE TIME KEEP: get FILE's directory in /etc/docker/certs.d
# ready for an atomic replace: refuse (exit 3) when certs.d or the
# directory is a symbolic link or not a directory, create them (root,
# 0755) when missing, and, when KEEP > 0 and FILE exists, copy it to
# FILE.swarmctl-TIME.bak (mode and owner kept) keeping the newest KEEP.
# Leftover temp files of an atomic write (.NAME.swarmctl-*) from a cut
# connection are removed (the caller holds the node's configure lock).
set -eu
f=$1; ts=$2; keep=$3
d=$(dirname -- "$f"); top=$(dirname -- "$d")
for x in "$top" "$d"; do
  if [ -L "$x" ] || { [ -e "$x" ] && [ ! -d "$x" ]; }; then exit 3; fi
done
umask 022
[ -d "$top" ] || mkdir -p -- "$top"
[ -d "$d" ] || mkdir -- "$d"
rm -f -- "$d/.$(basename -- "$f")".swarmctl-*
if [ "$keep" -gt 0 ] && [ -f "$f" ] && [ ! -L "$f" ]; then
  cp -p -- "$f" "$f.swarmctl-$ts.bak"
  # shellcheck disable=SC2012 # the backups are named by this script: no line breaks
  ls -1d -- "$f".swarmctl-*.bak 2>/dev/null | sort -r | tail -n +"$((keep + 1))" | while IFS= read -r old; do
    rm -f -- "$old"
  done
fi
exit 0
