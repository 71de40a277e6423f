# verify.sh SERVICE MIRRORS EXPERIMENTAL SWARM SECONDS: wait (at least
# SECONDS, at most one more) until SERVICE.service is active, `docker info`
# answers with MIRRORS (JSON) and EXPERIMENTAL ("" = any; a wanted [] also
# accepts null) and, with SWARM = swarm, the node's local swarm state is
# active again. Prints one line:
# is-active|MainPID|mirrors JSON|experimental|swarm state.
set +e
LC_ALL=C; export LC_ALL
svc=$1; wm=$2; we=$3; swarm=$4; end=$(( $(date +%s) + $5 + 1 ))
while :; do
  st=$(systemctl is-active "$svc.service" 2>/dev/null)
  pid=$(systemctl show -p MainPID "$svc.service" 2>/dev/null | sed -n 's/^MainPID=//p')
  info=$(docker info --format '{{json .RegistryConfig.Mirrors}}|{{json .ExperimentalBuild}}|{{.Swarm.LocalNodeState}}' 2>/dev/null | head -n 1)
  m=${info%%|*}; r=${info#*|}; e=${r%%|*}; s=${r#*|}
  ok=1
  [ "$st" = active ] && [ -n "$info" ] || ok=0
  if [ -n "$wm" ] && [ "$m" != "$wm" ]; then
    [ "$wm" = "[]" ] && [ "$m" = null ] || ok=0
  fi
  [ -z "$we" ] || [ "$e" = "$we" ] || ok=0
  [ "$swarm" != swarm ] || [ "$s" = active ] || ok=0
  [ "$ok" = 1 ] && break
  [ "$(date +%s)" -ge "$end" ] && break
  sleep 0.3 2>/dev/null || sleep 1
done
echo "$st|$pid|$info"
