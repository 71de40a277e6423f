# probe.sh URL SECONDS: GET URL once with curl, else wget, giving up after
# SECONDS. When the server answers (any HTTP status) it prints
# "<status> <seconds>" (curl) or "<status> -" (wget, which cannot time it)
# and exits 0; otherwise it says why on stderr and exits 1, or 127 when the
# node has neither tool. The certificate is not checked (-k): this only asks
# whether the registry answers; swarmctl judges the certificate from where it
# runs. wget -S shows the status line, so a 401 (auth on) is an answer too;
# some busybox builds (Debian's 1.35) crash on -T: then it asks again
# without it.
url=$1; secs=$2
if command -v curl >/dev/null 2>&1; then
  out=$(curl -sS -k -o /dev/null --max-time "$secs" -w '%{http_code} %{time_total}' "$url") || exit 1
  echo "$out"
elif command -v wget >/dev/null 2>&1; then
  o=$(wget --no-check-certificate -S -T "$secs" -t 1 -O /dev/null "$url" 2>&1)
  [ $? -ge 128 ] && o=$(wget --no-check-certificate -S -t 1 -O /dev/null "$url" 2>&1)
  c=$(printf '%s\n' "$o" | sed -n 's/^ *HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' | tail -n 1)
  if [ -n "$c" ]; then echo "$c -"; else printf '%s\n' "$o" | grep -v '^ *$' | tail -n 1 >&2; exit 1; fi
else
  echo "neither curl nor wget on this node" >&2; exit 127
fi
