# disk.sh CONFIG: the free space where swarmctl writes daemon.json (the
# file's directory, else its nearest existing parent) and where docker
# keeps images (DockerRootDir). One line each: "KIB PATH"; "? PATH" when
# df could not tell.
set +e
LC_ALL=C; export LC_ALL
dir=$(dirname -- "$1")
while [ ! -d "$dir" ] && [ "$dir" != / ]; do dir=$(dirname -- "$dir"); done
root=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null)
for d in "$dir" $root; do
  [ -d "$d" ] || continue
  kib=$(df -Pk -- "$d" 2>/dev/null | awk 'NR == 2 { print $4 }')
  echo "${kib:-?} $d"
done
