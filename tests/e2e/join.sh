#!/usr/bin/env bash
# End to end: real dnsmasq on the gateway; udhcpc and dhcpcd on the devices sending the MUD URL in
# DHCPv4 option 161 and DHCPv6 option 112; lldpd announcing one in the LLDP MUD TLV; MUD files
# fetched over HTTPS and verified; names resolved by the lab's DNS server; real packets through the
# kernel's nftables; the HTTP API's views, roles and errors.
source "$(dirname "$0")/lib.sh"
e2e_require

THERM=02:00:00:00:01:01 BULB=02:00:00:00:01:02 PLAIN=02:00:00:00:01:03

export LAB_LLDP=1
lab_up
lab_lldp_router
lab_start_mudguard
lab_start_dnsmasq
lab_add_device therm $THERM
lab_add_device bulb $BULB
lab_add_device plain $PLAIN

expect "udhcpc gets a lease, announcing the thermostat's MUD URL" lab_udhcpc therm https://mud.example.com/thermostat.json
expect "dhcpcd gets a lease, announcing the bulb's MUD URL" lab_dhcpcd bulb https://mud.example.com/bulb.json
expect "a device without a MUD URL gets a lease" lab_udhcpc plain ""
BULB_IP=$(lab_addr bulb) PLAIN_IP=$(lab_addr plain)

eventually 20 "the thermostat's policy is enforced" state_is $THERM enforced
eventually 20 "the bulb's policy is enforced" state_is $BULB enforced

# Declared servers by name, through the gateway's resolver; everything else is dropped.
eventually 10 "the thermostat reaches cloud.example.com" reaches therm cloud.example.com
expect_not "the thermostat cannot reach evil.example.net" reaches therm evil.example.net
expect_not "the thermostat cannot reach updates.example.com (the bulb's server)" reaches therm updates.example.com
# Its controller class (https://controller.example.com/hub) is configured by name: hub.example.com.
eventually 10 "the thermostat reaches its controller, configured by name" reaches therm hub.example.com
expect_not "the bulb cannot reach the thermostat's controller" reaches bulb hub.example.com
eventually 10 "the bulb reaches updates.example.com" reaches bulb updates.example.com
expect_not "the bulb cannot reach cloud.example.com" reaches bulb cloud.example.com
expect_not "the bulb cannot reach evil.example.net" reaches bulb evil.example.net

# DHCPv6: option 112 through dnsmasq, enforcement by the device's IPv6 addresses.
CAM6=02:00:00:00:01:04
lab_add_device cam6 $CAM6
expect "dhcpcd gets a DHCPv6 lease, announcing the bulb's MUD URL in option 112" lab_dhcpcd6 cam6 https://mud.example.com/bulb.json
eventually 20 "the DHCPv6 device's policy is enforced" state_is $CAM6 enforced
reaches6() { lab_in "$1" curl -s --max-time 2 -g "http://[$2]/" | lab_matches server; }
eventually 10 "the DHCPv6 device reaches updates.example.com over IPv6" reaches6 cam6 "$LAB_WAN6::21"
expect_not "the DHCPv6 device cannot reach evil.example.net over IPv6" reaches6 cam6 "$LAB_WAN6::30"

# LLDP: the MUD URL in lldpd's custom TLV; the address from a lease that carries no URL.
LLDPDEV=02:00:00:00:01:05
lab_add_device lldp $LLDPDEV
expect "the device's lldpd announces the bulb's MUD URL" lab_lldp_device lldp https://mud.example.com/bulb.json
eventually 20 "the LLDP device's policy is enforced" state_is $LLDPDEV enforced
expect "the LLDP device gets a lease without a MUD URL" lab_udhcpc lldp ""
eventually 10 "the LLDP device reaches updates.example.com" reaches lldp updates.example.com
expect_not "the LLDP device cannot reach evil.example.net" reaches lldp evil.example.net
lldp_source() { [ "$(api_field GET "/api/v1/devices/$LLDPDEV" "j['source']")" = lldp ]; }
expect "the API says the device was learnt by LLDP" lldp_source

# Devices on the same bridge: same manufacturer allowed, others not.
expect "the thermostat reaches the bulb (same manufacturer)" lab_in therm ping -c1 -W2 "$BULB_IP"
expect_not "the thermostat cannot reach the unmanaged device" lab_in therm ping -c1 -W1 "$PLAIN_IP"
expect "the unmanaged device is untouched" reaches plain evil.example.net

# The router's own services: closed to managed devices, open to others (default posture).
expect_not "a managed device cannot reach the API" lab_in therm curl -s --max-time 2 "http://$LAB_LAN4.1:$LAB_API_PORT/healthz"
expect "an unmanaged device can reach the API port" lab_in plain curl -s --max-time 2 "http://$LAB_LAN4.1:$LAB_API_PORT/healthz"

# The auditors' view.
signer_named() { lab_api GET "/api/v1/devices/$THERM" | lab_matches 'Example Devices'; }
policies_chain() {
  api_field GET /api/v1/policies "all(' | '.join(p['signer']['chain']) == '$LAB_CHAIN' for p in j['policies'])" | lab_matches True
}
rules_shown() { [ -n "$(api_field GET "/api/v1/devices/$THERM" "j['nft-rules'] or ''")" ]; }
drops_counted() { [ "$(api_field GET "/api/v1/devices/$THERM" "j['counters']['drops']['packets']")" -gt 0 ]; }
two_policies() { [ "$(api_field GET /api/v1/policies "len(j['policies'])")" = 2 ]; }
audited() { lab_api GET "/api/v1/events?device=$THERM" | lab_matches POLICY_APPLIED; }
expect "the API names the signer" signer_named
expect "the API gives the signer's certificate chain, up to the lab's CA" signer_chain_is_lab $THERM
expect "each policy gives its signer's certificate chain" policies_chain
expect "the API shows the device's nft rules" rules_shown
eventually 5 "the drop counter moved" drops_counted
# The violation pipeline: the kernel's copies of blocked packets, counted per peer and port, the
# API's list, and the summary in the audit log (every 5 s in the lab).
violation_listed() {
  api_field GET "/api/v1/devices/$THERM" \
    "any(v['peer'] == '$LAB_WAN4.30' and v['port'] == 80 and v['protocol'] == 'tcp' and v['direction'] == 'from-device' and v['count'] > 0 for v in j['violations'])" \
    | lab_matches True
}
summarised() {
  lab_api GET "/api/v1/events?device=$THERM&limit=1000" | python3 -c "
import json, sys
sys.exit(0 if any(e['event'] == 'VIOLATION_SUMMARY' and '$LAB_WAN4.30:80/tcp' in json.dumps(e['detail'])
                  for e in json.load(sys.stdin)['events']) else 1)"
}
violations_counted() {
  lab_in gw curl -s -H "Authorization: Bearer $LAB_AUDITOR_TOKEN" "http://127.0.0.1:$LAB_API_PORT/metrics" \
    | awk '/^mudguard_violations_total\{direction="from-device"\}/ {exit !($2 > 0)}'
}
eventually 5 "the API lists the blocked attempt with its peer, port and count" violation_listed
eventually 15 "the blocked traffic is summarised in the audit log (VIOLATION_SUMMARY)" summarised
eventually 5 "mudguard_violations_total counts it" violations_counted
expect "two policies are in force" two_policies
expect "the audit log records the enforcement" audited
expect "the kernel holds table inet mudguard" lab_in gw nft list table inet mudguard

# --- the API: roles, bad tokens, limits, bad input, each with a precise JSON error ----------------
status_of() { # METHOD PATH TOKEN [BODY-FILE]
  lab_in gw curl -s -o "$LAB_DIR/answer" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $3" \
    ${4:+-H "Content-Type: application/json" --data-binary "@$4"} "http://127.0.0.1:$LAB_API_PORT$2"
}
code_is() { grep -q "\"error\": *\"$1\"" "$LAB_DIR/answer"; }
answers() { # WHAT EXPECTED-STATUS EXPECTED-CODE METHOD PATH TOKEN [BODY-FILE]
  local what=$1 want=$2 code=$3
  shift 3
  local got
  got=$(status_of "$@")
  if [ "$got" = "$want" ] && { [ -z "$code" ] || code_is "$code"; }; then pass "$what"
  else fail "$what (HTTP $got, wanted $want $code: $(head -c 300 "$LAB_DIR/answer"))"; fi
}
echo '{"mac":"02:00:00:00:01:09","mud-url":"https://mud.example.com/bulb.json"}' >"$LAB_DIR/register.json"
echo '{"mac": "02:00:00:00:01:09", ' >"$LAB_DIR/broken.json"
head -c 200000 /dev/zero | tr '\0' 'a' | sed 's/^/{"x":"/; s/$/"}/' >"$LAB_DIR/big.json"
answers "the auditor reads the device list" 200 "" GET /api/v1/devices "$LAB_AUDITOR_TOKEN"
answers "the auditor may not register a device" 403 forbidden POST /api/v1/devices "$LAB_AUDITOR_TOKEN" "$LAB_DIR/register.json"
answers "a wrong token is refused" 401 unauthorized GET /api/v1/devices wrong-token
answers "an oversized request is refused" 413 payload-too-large POST /api/v1/devices "$LAB_ADMIN_TOKEN" "$LAB_DIR/big.json"
answers "malformed JSON is refused" 400 invalid-json POST /api/v1/devices "$LAB_ADMIN_TOKEN" "$LAB_DIR/broken.json"
answers "an unknown MAC is not found" 404 not-found GET /api/v1/devices/02:00:00:00:09:99 "$LAB_AUDITOR_TOKEN"
answers "the admin registers a device by MUD URL" 201 "" POST /api/v1/devices "$LAB_ADMIN_TOKEN" "$LAB_DIR/register.json"
answers "the registered device is enforced with the bulb's policy at once" 200 "" GET /api/v1/devices/02:00:00:00:01:09 "$LAB_AUDITOR_TOKEN"
expect "its state is enforced" state_is 02:00:00:00:01:09 enforced
answers "the admin quarantines the thermostat" 200 "" POST "/api/v1/devices/$THERM/quarantine" "$LAB_ADMIN_TOKEN"
expect_not "the quarantined thermostat cannot reach cloud.example.com" reaches therm cloud.example.com
answers "the admin releases it" 200 "" POST "/api/v1/devices/$THERM/release" "$LAB_ADMIN_TOKEN"
eventually 5 "the released thermostat reaches cloud.example.com again" reaches therm cloud.example.com
answers "the admin removes the registered device" 200 "" DELETE /api/v1/devices/02:00:00:00:01:09 "$LAB_ADMIN_TOKEN"
metrics_cover() { lab_in gw curl -s -H "Authorization: Bearer $LAB_AUDITOR_TOKEN" "http://127.0.0.1:$LAB_API_PORT/metrics" | lab_matches 'mudguard_devices{state="enforced"} 4'; }
eventually 10 "the metrics count the enforced devices (refreshed every 5 s)" metrics_cover
