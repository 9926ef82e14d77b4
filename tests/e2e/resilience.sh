#!/usr/bin/env bash
# Resilience, end to end, as an attacker or a bad day would test it:
#   * the state directory's file system fills up: a joining device is held (never reaches the
#     forbidden server), /healthz says degraded, and once space is freed the device is enforced
#     without a rejoin and stays so over a restart;
#   * 300 joins name distinct files on a MUD server that never answers: a real device announcing a
#     good URL is enforced within seconds anyway; a device changing its URL too fast is held;
#   * kill -9 during a burst of joins: after the restart every device of the burst is managed.
source "$(dirname "$0")/lib.sh"
e2e_require

THERM=02:00:00:00:03:01 HELD=02:00:00:00:03:02 PLAIN=02:00:00:00:03:03 GOOD=02:00:00:00:03:04

# The state directory lives on a small file system of its own, which this test fills.
finish() {
  local rc=$?
  rm -f "$LAB_DIR/probing" 2>/dev/null
  umount -l "$LAB_DIR/state" 2>/dev/null
  (exit "$rc")
  e2e_finish
}
trap finish EXIT

lab_up
mkdir -p "$LAB_DIR/state"
mount -t tmpfs -o size=32m,mode=0700 mudguard-e2e-state "$LAB_DIR/state"
lab_start_mudguard
lab_start_dnsmasq
lab_start_slow
lab_add_device therm $THERM
lab_add_device held $HELD
lab_add_device plain $PLAIN
lab_add_device good $GOOD

event_logged() { lab_api GET "/api/v1/events?limit=1000&since=${1:-0}" | lab_matches "$2"; }
last_seq() { api_field GET "/api/v1/events?limit=1000" "j['next']"; }
healthy() { lab_in gw curl -sf "http://127.0.0.1:$LAB_API_PORT/healthz" >/dev/null; }
degraded() { lab_in gw curl -s "http://127.0.0.1:$LAB_API_PORT/healthz" | lab_matches 'refuses writes\|held until'; }
stage_is() { [ "$(api_field GET "/api/v1/devices/$1" "j['failure-stage'] or ''" 2>/dev/null)" = "$2" ]; }
metric() { lab_in gw curl -s -H "Authorization: Bearer $LAB_AUDITOR_TOKEN" "http://127.0.0.1:$LAB_API_PORT/metrics" | grep "^$1" | awk '{print $2}'; }

# What dnsmasq's --dhcp-script does for each lease event, for many devices at once: the real hook
# program (spool, then datagram). Reads "mac ip url" lines.
hook_burst() {
  xargs -P 8 -n 3 sh -c 'DNSMASQ_MUD_URL="$3" exec "$0" add "$1" "$2"' "$LAB_DIR/hook" 2>/dev/null
}
burst_lines() { # burst_lines PREFIX COUNT URL-PATTERN (with %d)
  local i
  for i in $(seq 1 "$2"); do
    printf '%s:%02x:%02x 198.18.%d.%d %s\n' "$1" $((i / 256)) $((i % 256)) $((i / 256)) $((i % 256)) \
      "$(printf "$3" "$i")"
  done
}

expect "the thermostat gets a lease, announcing its MUD URL" lab_udhcpc therm https://mud.example.com/thermostat.json
expect "an unmanaged device gets a lease, announcing nothing" lab_udhcpc plain ""
eventually 20 "the thermostat is enforced" state_is $THERM enforced
eventually 10 "the thermostat reaches cloud.example.com" reaches therm cloud.example.com
expect "an unmanaged device reaches evil.example.net (the control for what follows)" reaches plain evil.example.net

# --- the state directory fills up ----------------------------------------------------------------
dd if=/dev/zero of="$LAB_DIR/state/fill" bs=1M >/dev/null 2>&1
dd if=/dev/zero of="$LAB_DIR/state/fill2" bs=4k >/dev/null 2>&1
# Joins until the database refuses a write (its journal may still have room for a few).
for round in 1 2 3 4 5 6 7 8 9 10; do
  degraded && break
  burst_lines "02:00:11:$(printf %02x "$round")" 30 "https://mud.example.com/thermostat.json" | hook_burst
  lab_wait 3 degraded && break
done
eventually 10 "with the disk full, /healthz says degraded" degraded
expect "and answers 503" bash -c "! lab_in gw curl -sf http://127.0.0.1:$LAB_API_PORT/healthz"
expect "mudguard_degraded is 1" test "$(metric mudguard_degraded)" = 1

expect "a real device gets a lease, announcing the thermostat's (installed) MUD URL" \
  lab_udhcpc held https://mud.example.com/thermostat.json
eventually 10 "the device is held because the store refuses to record it" stage_is $HELD store
in_managed() { lab_in gw nft list set bridge mudguard managed_mac | lab_matches "$1"; }
expect "the held device's MAC is in the kernel (managed, infrastructure only)" in_managed $HELD
# From now on it tries the forbidden server every few milliseconds.
probe() {
  while [ -e "$LAB_DIR/probing" ]; do
    lab_in held curl -s --max-time 0.3 "http://$LAB_WAN4.30/" >>"$LAB_DIR/leaks" 2>/dev/null
  done
}
touch "$LAB_DIR/probing" "$LAB_DIR/leaks"
probe &
PROBE=$!
expect_not "the held device cannot reach cloud.example.com" reaches held cloud.example.com
expect "the thermostat keeps its policy meanwhile" reaches therm cloud.example.com
expect_not "the thermostat still cannot reach evil.example.net" reaches therm evil.example.net
expect "the unmanaged device still reaches evil.example.net" reaches plain evil.example.net
before_heal=$(last_seq)

# Space comes back: the held device is recorded and enforced without a rejoin.
rm -f "$LAB_DIR/state/fill" "$LAB_DIR/state/fill2"
eventually 20 "once space is freed, the held device is enforced without a rejoin" state_is $HELD enforced
eventually 10 "it reaches cloud.example.com" reaches held cloud.example.com
expect_not "it cannot reach evil.example.net" reaches held evil.example.net
eventually 10 "/healthz is ok again" healthy
eventually 5 "the recovery is audited" event_logged "$before_heal" STORE_RECOVERED
rm -f "$LAB_DIR/probing"
wait "$PROBE"
expect "no forbidden packet got through while the store refused writes" test ! -s "$LAB_DIR/leaks"

kill -TERM "$(cat "$LAB_DIR/mudguard.pid")"
lab_wait 5 bash -c "! kill -0 $(cat "$LAB_DIR/mudguard.pid")"
lab_start_mudguard
expect "after a restart the once-held device is still enforced" state_is $HELD enforced
eventually 10 "and reaches cloud.example.com" reaches held cloud.example.com

# --- a flood of joins on a MUD server that never answers ------------------------------------------
refusals_before=$(metric 'mudguard_refusals_total{stage="limit"}')
burst_lines "02:00:12:00" 300 "https://slow.example.com/device-%d.json" | hook_burst
expect "a real device announcing a good URL gets a lease during the flood" \
  lab_udhcpc good https://mud.example.com/bulb.json
eventually 10 "it is enforced within seconds, whatever the slow host holds" state_is $GOOD enforced
eventually 10 "it reaches updates.example.com" reaches good updates.example.com
expect_not "it cannot reach evil.example.net" reaches good evil.example.net
queue_bounded() { [ "$(metric 'mudguard_refusals_total{stage="limit"}' | cut -d. -f1)" -gt "${refusals_before%%.*}" ]; }
expect "the slow host's queue is bounded: fetches beyond it are refused at once" queue_bounded
flooded() { stage_is 02:00:12:00:01:2c limit || state_is 02:00:12:00:01:2c fetching; }
expect "a flooded device is held with its reason" flooded

# A device that names a new MUD URL at every renewal is held once it passes the limit.
for i in 1 2 3 4 5 6 7; do
  echo "02:00:13:00:00:01 198.18.200.1 https://mud.example.com/churn-$i.json" | hook_burst
done
eventually 10 "a device changing its MUD URL too often is held (limit)" stage_is 02:00:13:00:00:01 limit

# --- kill -9 during a burst of joins ----------------------------------------------------------------
burst_lines "02:00:14:00" 100 "https://mud.example.com/thermostat.json" >"$LAB_DIR/burst"
# Two hooks at a time, as dnsmasq would run them back to back: the burst lasts a few seconds, and
# mudguard is killed once the first events arrived. The rest is only spooled while it is down.
xargs -P 2 -n 3 sh -c 'DNSMASQ_MUD_URL="$3" exec "$0" add "$1" "$2"' "$LAB_DIR/hook" <"$LAB_DIR/burst" 2>/dev/null &
BURST=$!
burst_seen() { lab_api GET /api/v1/devices | lab_matches 02:00:14:00; }
lab_wait 5 burst_seen
kill -9 "$(cat "$LAB_DIR/mudguard.pid")"
wait "$BURST"
lab_start_mudguard
replayed() { grep -a 'STATE_RESTORED' "$LAB_DIR/mudguard.log" | grep -q 'spooled=[1-9]'; }
expect "the restart replays the events spooled while mudguard was down" replayed
all_managed() {
  local set macs missing=0
  set=$(lab_in gw nft list set bridge mudguard managed_mac)
  macs=$(awk '{print $1}' "$LAB_DIR/burst")
  for m in $macs; do
    grep -q "$m" <<<"$set" || missing=$((missing + 1))
  done
  [ "$missing" -eq 0 ]
}
all_known() {
  lab_api GET /api/v1/devices | python3 -c '
import json, sys
want = {l.split()[0] for l in open(sys.argv[1])}
have = {d["mac"]: d["state"] for d in json.load(sys.stdin)["devices"]}
missing = [m for m in want if m not in have]
bad = [m for m in want if m in have and have[m] not in ("enforced", "fetching", "pending", "failed")]
if missing or bad:
    print("missing:", sorted(missing)[:5], len(missing), "bad:", [(m, have[m]) for m in bad][:5], file=sys.stderr)
sys.exit(1 if missing or bad else 0)' "$LAB_DIR/burst"
}
eventually 15 "after kill -9 and a restart, every device of the burst is known" all_known
eventually 15 "and every one is managed in the kernel (held or enforced)" all_managed
enforced_all() {
  lab_api GET /api/v1/devices | python3 -c '
import json, sys
want = {l.split()[0] for l in open(sys.argv[1])}
have = {d["mac"]: d["state"] for d in json.load(sys.stdin)["devices"]}
sys.exit(0 if all(have.get(m) == "enforced" for m in want) else 1)' "$LAB_DIR/burst"
}
eventually 20 "and every one is enforced (their file is in force)" enforced_all
expect "no spool entry is left once they are recorded" bash -c "[ -z \"\$(ls $LAB_DIR/spool)\" ]"
