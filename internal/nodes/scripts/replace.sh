# replace.sh PATH MODE [private]: replace PATH with stdin without following
# a symbolic link there. A link, or anything but a regular file, at PATH is
# refused (exit 3): whoever can write PATH's directory could plant one to
# read what is written or to clobber another file. The new file is written
# next to PATH (mktemp: private from its first byte) and renamed over it,
# and rename(2) replaces a link planted meanwhile instead of following it.
# With "private" the file gets MODE and, as root, owner root; otherwise an
# existing file keeps its owner and mode (MODE is for a new file).
set -eu
p=$1; mode=$2; private=${3:-}
if [ -L "$p" ] || { [ -e "$p" ] && [ ! -f "$p" ]; }; then exit 3; fi
tmp=$(mktemp -- "$(dirname -- "$p")/.$(basename -- "$p").swarmctl-XXXXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat >"$tmp"
if [ "$private" != private ] && [ -f "$p" ]; then
  chown --reference="$p" -- "$tmp"
  chmod --reference="$p" -- "$tmp"
else
  [ "$(id -u)" != 0 ] || chown 0:0 -- "$tmp"
  chmod -- "$mode" "$tmp"
fi
sync -- "$tmp" 2>/dev/null || sync
mv -f -T -- "$tmp" "$p"
trap - EXIT
