# write.sh PATH MODE: replace PATH atomically with stdin; MODE is the octal
# mode of a new file. It writes through symlinks, keeps owner and mode of an
# existing file, and removes its temp file on any failure, so PATH is always
# either the old or the new complete file.
set -eu
t=$(readlink -f -- "$1") || t=
[ -n "$t" ] || { echo "cannot resolve $1 (a symbolic link loop?)" >&2; exit 1; }
d=$(dirname -- "$t")
tmp=$(mktemp -- "$d/.$(basename -- "$t").swarmctl-XXXXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat >"$tmp"
if [ -e "$t" ]; then
	chown --reference="$t" -- "$tmp"
	chmod --reference="$t" -- "$tmp"
else
	chmod -- "$2" "$tmp"
fi
sync -- "$tmp"
mv -f -- "$tmp" "$t"
trap - EXIT
