# backup.sh FILE TIME KEEP: copy FILE to FILE.swarmctl-TIME.bak (same
# directory, mode and owner; a symlink's target is copied) and keep the
# newest KEEP backups. Prints the backup's path, or "missing" when FILE does
# not exist. It runs under the node's configure lock, so temp files of an
# atomic write (.NAME.swarmctl-*) next to the file can only be left over
# from a run whose connection dropped mid-upload: they are removed.
set -e
f=$1; ts=$2; keep=$3
t=$(readlink -f -- "$f" 2>/dev/null) || t=$f; [ -n "$t" ] || t=$f
rm -f -- "$(dirname -- "$t")/.$(basename -- "$t")".swarmctl-*
if [ ! -e "$f" ]; then mkdir -p -- "$(dirname -- "$f")"; echo missing; exit 0; fi
b="$f.swarmctl-$ts.bak"
cp -p -- "$f" "$b"
# shellcheck disable=SC2012 # the backups are named by this script: no line breaks
ls -1d -- "$f".swarmctl-*.bak 2>/dev/null | sort -r | tail -n +"$((keep + 1))" | while IFS= read -r old; do
  rm -f -- "$old"
done
echo "$b"
