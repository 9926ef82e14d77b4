#!/usr/bin/env bash
# End to end, what happens to devices after they join: a CDN gives a device another address than
# the router, and the device reaches it because the DNS answer it received was learnt; an admin
# registers a device with a local MUD file and removes it; devices leave (their DHCP client
# releases the lease) and are unbound after the grace time, unless they come back within it.
source "$(dirname "$0")/lib.sh"
e2e_require

CAM=02:00:00:00:03:01 SENSOR=02:00:00:00:03:02 STAY=02:00:00:00:03:03 GONE=02:00:00:00:03:04
export LAB_LEAVE_GRACE=6

lab_up
lab_start_cdn
lab_start_mudguard
lab_start_dnsmasq

event_logged() { lab_api GET "/api/v1/events?device=$1&limit=1000" | lab_matches "\"$2\""; }
in_kernel() { lab_in gw nft list ruleset | lab_matches -F "$1"; }
not_found() { [ "$(lab_in gw curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $LAB_AUDITOR_TOKEN" \
  "http://127.0.0.1:$LAB_API_PORT/api/v1/devices/$1")" = 404 ]; }

# --- addresses learnt from the DNS answers a device receives ---------------------------------------
# The camera may reach cdn.example.com. The CDN answers the router (the daemon's own lookups) with
# edge .40 and the LAN's devices with edge .41: only the answer the camera receives can open .41.
lab_add_device cam $CAM
expect "the camera gets a lease, announcing its MUD URL" lab_udhcpc cam https://mud.example.com/camera.json
eventually 20 "the camera's policy is enforced" state_is $CAM enforced
cdn_told() { grep -q "^$1 A $2\$" "$LAB_DIR/cdn-dns.log"; }
eventually 10 "the daemon resolved cdn.example.com itself (the CDN told the router: edge .40)" \
  cdn_told "$LAB_LAN4.1" "$LAB_WAN4.40"
eventually 10 "the router's answer is in the kernel" in_kernel "$LAB_WAN4.40"
expect "the camera reaches the router's edge .40 (resolved by the daemon)" reaches cam "$LAB_WAN4.40"
expect_not "before any answer reached the camera, edge .41 is closed to it" reaches cam "$LAB_WAN4.41"
CAM_IP=$(lab_addr cam)
answered_41() { lab_http cam http://cdn.example.com/ | lab_matches "server $LAB_WAN4.41"; }
eventually 10 "the camera resolves cdn.example.com (edge .41) and reaches it" answered_41
expect "the CDN told the camera edge .41" cdn_told "$CAM_IP" "$LAB_WAN4.41"
expect_not "the CDN never told the router edge .41" cdn_told "$LAB_LAN4.1" "$LAB_WAN4.41"
expect "edge .41 is in the kernel, learnt from the answer" in_kernel "$LAB_WAN4.41"
expect_not "edge .42 (never answered to anyone here) stays closed" reaches cam "$LAB_WAN4.42"
expect_not "the camera cannot reach evil.example.net" reaches cam evil.example.net

# --- an admin registers a device with a local MUD file -------------------------------------------
lab_add_device sensor $SENSOR
expect "the sensor gets a lease, announcing nothing" lab_udhcpc sensor ""
SENSOR_IP=$(lab_addr sensor)
expect "unmanaged, the sensor reaches evil.example.net" reaches sensor evil.example.net
# The bulb's file with its own mud-url and no signature: allows updates.example.com only.
python3 - "$LAB_ROOT/examples/lab/bulb.json" "$SENSOR" >"$LAB_DIR/sensor-register.json" <<'EOF'
import json, sys
mud = json.load(open(sys.argv[1]))
m = mud["ietf-mud:mud"]
m["mud-url"] = "https://sensors.example.org/s-1.json"
m["systeminfo"] = "Sensor: described by a local MUD file"
del m["mud-signature"]
json.dump({"mac": sys.argv[2], "mud-file": mud}, sys.stdout)
EOF
registered() {
  LAB_ROLE=admin lab_api POST /api/v1/devices "$(cat "$LAB_DIR/sensor-register.json")" >"$LAB_DIR/answer"
  grep -q '"result": *"done"' "$LAB_DIR/answer"
}
expect "the admin registers the sensor with a local MUD file" registered
expect "the sensor is enforced at once" state_is $SENSOR enforced
source_admin() { [ "$(api_field GET "/api/v1/devices/$SENSOR" "j['source']")" = admin ]; }
expect "the API says an admin registered the sensor" source_admin
SENSOR_POLICY=$(api_field GET "/api/v1/devices/$SENSOR" "j['policy']")
policy_local() {
  api_field GET "/api/v1/policies/$SENSOR_POLICY" \
    "j['source'] == 'local' and j['mud-url'] == 'https://sensors.example.org/s-1.json' and '$SENSOR' in j['devices']" \
    | lab_matches True
}
expect "the API shows the policy as a local file, with its mud-url and device" policy_local
expect "the sensor's MAC is in the kernel" in_kernel $SENSOR
eventually 10 "the sensor reaches updates.example.com" reaches sensor updates.example.com
expect_not "the sensor cannot reach cloud.example.com" reaches sensor cloud.example.com
expect_not "the sensor cannot reach evil.example.net" reaches sensor evil.example.net
expect "the sensor renews its lease" lab_udhcpc sensor ""
address_known() { api_field GET "/api/v1/devices/$SENSOR" "j['addresses']" | lab_matches "'$SENSOR_IP'"; }
eventually 5 "the API lists the registered sensor's leased address" address_known
removed() { LAB_ROLE=admin lab_api DELETE "/api/v1/devices/$SENSOR" | lab_matches '"result": *"done"'; }
expect "the admin removes the sensor" removed
expect "the API no longer knows the sensor" not_found $SENSOR
expect_not "the sensor's MAC is gone from the kernel" in_kernel $SENSOR
policy_gone() { ! lab_api GET /api/v1/policies | lab_matches "\"$SENSOR_POLICY\""; }
expect "its local policy is gone" policy_gone
expect "the removal is audited" event_logged $SENSOR BINDING_REMOVED
expect "unmanaged again, the sensor reaches evil.example.net" reaches sensor evil.example.net

# --- leaving, and coming back within the grace time ----------------------------------------------
lab_add_device stay $STAY
lab_add_device gone $GONE
expect "a device that will come back gets a lease" lab_udhcpc_keep stay https://mud.example.com/bulb.json
expect "a device that will not come back gets a lease" lab_udhcpc_keep gone https://mud.example.com/bulb.json
eventually 20 "the first is enforced" state_is $STAY enforced
eventually 20 "the second is enforced" state_is $GONE enforced
expect "the second's MAC is in the kernel" in_kernel $GONE
# Both switch off: udhcpc releases the lease as it exits, and dnsmasq runs the hook with `del`.
lab_stop udhcpc-stay
lab_stop udhcpc-gone
eventually 5 "the first device's leaving is audited" event_logged $STAY DEVICE_LEFT
eventually 5 "the second device's leaving is audited" event_logged $GONE DEVICE_LEFT
expect "during the grace time the second device keeps its binding" state_is $GONE enforced
expect "the first comes back within the grace time" lab_udhcpc stay https://mud.example.com/bulb.json
# The first left before the second, so once the second is unbound the first's grace time is over.
eventually 20 "after the grace time the second device is unbound" not_found $GONE
expect "the unbinding is audited" event_logged $GONE BINDING_REMOVED
expect_not "the second's MAC is gone from the kernel" in_kernel $GONE
expect "the device that came back keeps its binding" state_is $STAY enforced
expect_not "the device that came back was not unbound" event_logged $STAY BINDING_REMOVED
expect "its MAC is still in the kernel" in_kernel $STAY
eventually 10 "it still reaches updates.example.com" reaches stay updates.example.com
expect_not "it still cannot reach evil.example.net" reaches stay evil.example.net
