#!/usr/bin/env bash
# Faults, end to end: the table deleted under the daemon, dnsmasq restarted, a signer change, a
# tampered file, the MUD server down, a MUD server that never answers, a corrupt configuration,
# and the daemon stopped and killed (-9) while a device keeps trying to reach a forbidden server.
source "$(dirname "$0")/lib.sh"
e2e_require

THERM=02:00:00:00:02:01 BULB=02:00:00:00:02:02 CAM=02:00:00:00:02:03

lab_up
lab_start_mudguard
lab_start_dnsmasq
lab_add_device therm $THERM
lab_add_device bulb $BULB
lab_add_device cam $CAM
lab_udhcpc therm https://mud.example.com/thermostat.json
lab_udhcpc bulb https://mud.example.com/bulb.json
eventually 20 "the thermostat is enforced" state_is $THERM enforced
eventually 20 "the bulb is enforced" state_is $BULB enforced
eventually 10 "the thermostat reaches cloud.example.com" reaches therm cloud.example.com

# Requests for the two files in force (the failed device's file is retried, and does not count).
fetches() { grep -c 'thermostat\|bulb\.' "$LAB_DIR/mudserver-access.log"; }
event_logged() { lab_api GET "/api/v1/events?limit=1000" | lab_matches "$1"; }

# --- someone deletes mudguard's table -----------------------------------------------------------
lab_in gw nft delete table inet mudguard
eventually 2 "the deleted table is restored within a second or so" lab_in gw nft list table inet mudguard
expect_not "the thermostat is still blocked from evil.example.net" reaches therm evil.example.net
eventually 5 "the thermostat still reaches cloud.example.com" reaches therm cloud.example.com
eventually 5 "the repair is audited (TABLE_RECREATED)" event_logged TABLE_RECREATED

# --- dnsmasq restarts (it replays its leases without the MUD URL) --------------------------------
lab_stop dnsmasq
lab_start_dnsmasq
expect "the thermostat's lease is renewed after the dnsmasq restart" lab_udhcpc therm https://mud.example.com/thermostat.json
expect "the thermostat keeps its binding over a dnsmasq restart" state_is $THERM enforced
binding_kept() { [ "$(api_field GET "/api/v1/devices/$THERM" "j['mud-url']")" = https://mud.example.com/thermostat.json ]; }
expect "the thermostat's MUD URL is unchanged" binding_kept

# --- a device changes its URL to a file of another signer --------------------------------------
lab_udhcpc therm https://mud.example.com/other-camera.json
eventually 15 "the signer change is recorded" event_logged URL_CHANGE_REFUSED
expect "the thermostat keeps its policy" binding_kept
expect "the thermostat still reaches cloud.example.com" reaches therm cloud.example.com
expect_not "the thermostat did not get the camera's policy" reaches therm evil.example.net

# --- a tampered file: the last known good policy holds -------------------------------------------
printf ' ' >>"$LAB_DIR/www/bulb.json"
LAB_ROLE=admin lab_api POST "/api/v1/devices/$BULB/refresh" >/dev/null
eventually 15 "the tampered file is refused for its signature" event_logged SIGNATURE_FAILED
expect "the bulb stays enforced" state_is $BULB enforced
expect "the bulb still reaches updates.example.com" reaches bulb updates.example.com

# --- the MUD server is down: a new device is held to infrastructure ------------------------------
lab_stop mudserver
lab_udhcpc cam https://mud.example.com/bulb-v2.json
eventually 20 "the new device's fetch fails" state_is $CAM failed
reason_given() { [ -n "$(api_field GET "/api/v1/devices/$CAM" "j['reason'] or ''")" ]; }
expect "the API gives the reason" reason_given
expect_not "the failed device is held (fail closed)" reaches cam cloud.example.com
expect "the failed device still gets DNS from the router" lab_in cam getent hosts cloud.example.com

# --- a MUD server that never answers: the fetch deadline ends it, the device is held -------------
SLOW=02:00:00:00:02:04
lab_add_device slow $SLOW
lab_start_slow
lab_udhcpc slow https://slow.example.com/device.json
eventually 20 "the fetch from a server that never answers ends at its deadline" state_is $SLOW failed
deadline_named() { api_field GET "/api/v1/devices/$SLOW" "j['reason']" | lab_matches fetch-deadline; }
expect "the API names the deadline as the reason" deadline_named
expect_not "the device behind the silent server is held (fail closed)" reaches slow cloud.example.com

# --- a corrupt configuration is refused; the old one stays ---------------------------------------
cp "$LAB_DIR/mudguard.json" "$LAB_DIR/mudguard.json.good"
echo '{ "mudguard-config:mudguard": { "state-directory": 42 ' >"$LAB_DIR/mudguard.json"
reload_refused() { LAB_ROLE=admin lab_api POST /api/v1/config/reload | lab_matches '"code"'; }
expect "a reload of a corrupt configuration is refused with a JSON error" reload_refused
kill -HUP "$(cat "$LAB_DIR/mudguard.pid")"
eventually 5 "the refusal is audited" event_logged CONFIG_REJECTED
expect "the daemon is healthy on its old configuration" lab_in gw curl -sf "http://127.0.0.1:$LAB_API_PORT/healthz"
expect "the thermostat is still enforced" reaches therm cloud.example.com
cp "$LAB_DIR/mudguard.json.good" "$LAB_DIR/mudguard.json"
reloaded() { LAB_ROLE=admin lab_api POST /api/v1/config/reload | lab_matches '"result": *"done"'; }
expect "a reload of the good configuration is applied" reloaded
eventually 5 "and audited (CONFIG_LOADED)" event_logged CONFIG_LOADED
cp "$LAB_ROOT/examples/lab/bulb.json" "$LAB_DIR/www/bulb.json"
lab_start_mudserver

# --- restarts: no binding lost, no packet through while the daemon is away -----------------------
probe() {
  # Tries the forbidden server over and over; every success is a line in the file.
  while [ -e "$LAB_DIR/probing" ]; do
    lab_in therm curl -s --max-time 0.3 "http://$LAB_WAN4.30/" >>"$LAB_DIR/leaks" 2>/dev/null
  done
}
touch "$LAB_DIR/probing" "$LAB_DIR/leaks"
probe &
PROBE=$!
before=$(fetches)
restart() {
  local signal=$1
  kill "-$signal" "$(cat "$LAB_DIR/mudguard.pid")"
  lab_wait 5 bash -c "! kill -0 $(cat "$LAB_DIR/mudguard.pid")"
  lab_start_mudguard
}
restart TERM
expect "after SIGTERM and a restart the thermostat is enforced" state_is $THERM enforced
for i in 1 2 3; do
  # kill -9 at a different moment each time: at once, and while joins and restores run.
  lab_udhcpc bulb https://mud.example.com/bulb.json &
  renewal=$!
  sleep "0.$((RANDOM % 5))"
  restart KILL
  wait "$renewal" 2>/dev/null
  expect "after kill -9 ($i) the thermostat is enforced" state_is $THERM enforced
  expect "after kill -9 ($i) the bulb keeps its binding and policy" state_is $BULB enforced
done
rm -f "$LAB_DIR/probing"
wait "$PROBE"
expect "no forbidden packet got through during the restarts" test ! -s "$LAB_DIR/leaks"
expect "restarts restored from saved state without fetching" test "$(fetches)" = "$before"
eventually 10 "the thermostat reaches cloud.example.com after the restarts" reaches therm cloud.example.com
expect "restored from the cache, the API still gives the signer's certificate chain" signer_chain_is_lab $THERM

# --- the daemon's life in the audit log and the journal --------------------------------------------
started_and_stopped() { event_logged DAEMON_STARTED && event_logged DAEMON_STOPPING; }
expect "starts and stops are audited (DAEMON_STARTED, DAEMON_STOPPING)" started_and_stopped
expect "each start brought the kernel to the saved state (KERNEL_RECONCILED)" event_logged KERNEL_RECONCILED
expect "the journal says which state database was opened (STORE_OPENED)" \
  lab_matches STORE_OPENED "$LAB_DIR/mudguard.log"

# --- a MUD cache directory of an older mudguard is imported into the state database once ------------
kill -TERM "$(cat "$LAB_DIR/mudguard.pid")"
lab_wait 5 bash -c "! kill -0 $(cat "$LAB_DIR/mudguard.pid")"
expect "an old-style cache directory holds the camera's file" \
  lab_in gw "$LAB_MUDGUARD" fetch --allow-private --state-dir "$LAB_DIR/state" \
  --trust-anchor "$LAB_DIR/pki/ca.pem" --ca-file "$LAB_DIR/pki/ca.pem" https://mud.example.com/camera.json
camera_fetches() { grep -c '/camera\.' "$LAB_DIR/mudserver-access.log"; }
camera_before=$(camera_fetches)
lab_start_mudguard
eventually 5 "the import is audited (STORE_MIGRATED)" event_logged STORE_MIGRATED
expect "the old directory is gone" test ! -d "$LAB_DIR/state/mud-cache"
CAM2=02:00:00:00:02:05
lab_add_device cam2 $CAM2
expect "a new device announces the camera's URL" lab_udhcpc cam2 https://mud.example.com/camera.json
eventually 20 "it is enforced from the imported file" state_is $CAM2 enforced
expect "without fetching the file again" test "$(camera_fetches)" = "$camera_before"
