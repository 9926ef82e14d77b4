# shellcheck shell=bash
# The mudguard lab: a throwaway network built from network namespaces, shared by scripts/demo
# and the end-to-end tests. Source it, set LAB (a short unique prefix) and LAB_DIR (a scratch
# directory), then call lab_up; lab_down removes everything it made (namespaces, processes,
# /etc/netns/<ns> resolver files, the scratch directory).
#
#   devices (dev1, dev2, ...)          gateway (gw)                      internet (net)
#   +-----------+                     +---------------------------+      +-------------------------+
#   | DHCP      |--veth--+            | br-lan 192.0.2.1/24       |      | 203.0.113.2             |
#   | client    |        +--bridge----| 2001:db8:1::1/64          |-veth-| mud.example.com .10:443 |
#   +-----------+        |            | dnsmasq (DHCP, DNS fwd)   |      | allowed  .20-.22 :80    |
#   +-----------+        |            | mudguard run              |      | forbidden .30 :80       |
#   |           |--veth--+            | wan 203.0.113.1/24        |      | DNS server .53          |
#   +-----------+                     +---------------------------+      | CDN (lab_start_cdn):    |
#                                                                        |   DNS .54, edges .40-.42|
#                                                                        +-------------------------+
#
# Addresses are from the documentation ranges (RFC 5737, RFC 3849); MACs are locally
# administered. Nothing here touches the host's own network or firewall.

LAB=${LAB:-mgl$$}
LAB_DIR=${LAB_DIR:-/tmp/$LAB}
LAB_ROOT=${LAB_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LAB_MUDGUARD=${LAB_MUDGUARD:-$LAB_ROOT/build/mudguard}
LAB_VERBOSE=${LAB_VERBOSE:-0}

LAB_LAN4=192.0.2
LAB_LAN6=2001:db8:1
LAB_WAN4=203.0.113
LAB_WAN6=2001:db8:ff
LAB_MUD_HOST=mud.example.com
LAB_API_PORT=8181

lab_gw() { echo "${LAB}-gw"; }
lab_net() { echo "${LAB}-net"; }
lab_dev() { echo "${LAB}-$1"; }

# Run a command inside one of the lab's namespaces: lab_in gw|net|devN CMD...
lab_in() {
  local who=$1
  shift
  ip netns exec "${LAB}-$who" "$@"
}

lab_log() {
  if [ "$LAB_VERBOSE" = 1 ]; then echo "lab: $*" >&2; fi
}

# Like `grep -q`, but reads its whole input: under pipefail, `grep -q` leaving at the first match
# can kill the writer with SIGPIPE and fail the pipeline although the text matched.
lab_matches() { grep "$@" >/dev/null; }

# Wait until CMD succeeds, polling every 0.1 s, for at most SECONDS. Prints nothing.
lab_wait() {
  local seconds=$1
  shift
  local deadline=$(( $(date +%s%N) + seconds * 1000000000 ))
  while ! "$@" >/dev/null 2>&1; do
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

_lab_track() { echo "$1" >>"$LAB_DIR/pids"; }

# Start a background process whose output goes to $LAB_DIR/<name>.log; remembered for lab_down.
lab_spawn() {
  local name=$1
  shift
  "$@" >"$LAB_DIR/$name.log" 2>&1 &
  local pid=$!
  disown "$pid" # lab_down ends it; the shell need not report it
  _lab_track "$pid"
  echo "$pid" >"$LAB_DIR/$name.pid"
  lab_log "started $name (pid $pid)"
}

lab_stop() {
  local name=$1 pid
  pid=$(cat "$LAB_DIR/$name.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  lab_wait 5 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
  rm -f "$LAB_DIR/$name.pid"
}

_lab_ns() {
  ip netns add "$1"
  echo "$1" >>"$LAB_DIR/namespaces"
  ip netns exec "$1" ip link set lo up
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# The PKI: a CA, the MUD server's TLS certificate, and the maker's signing certificate.
_lab_pki() {
  local d=$LAB_DIR/pki
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=mudguard lab CA" -keyout ca.key -out ca.pem \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$LAB_MUD_HOST" \
      -keyout server.key -out server.csr 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out server.pem \
      -extfile <(printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$LAB_MUD_HOST") 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Example Devices/CN=mud signer" \
      -keyout signer.key -out signer.csr 2>/dev/null
    openssl x509 -req -in signer.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out signer.pem \
      -extfile <(printf 'keyUsage=critical,digitalSignature\n') 2>/dev/null
    # A second maker, for the signer-change case.
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Other Maker/CN=mud signer" \
      -keyout other.key -out other.csr 2>/dev/null
    openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out other.pem \
      -extfile <(printf 'keyUsage=critical,digitalSignature\n') 2>/dev/null
  )
}

# Publish the lab's MUD files on the MUD server, each with a detached signature made by the
# openssl CLI, as a device maker would.
_lab_publish() {
  local www=$LAB_DIR/www
  mkdir -p "$www"
  cp "$LAB_ROOT"/examples/lab/*.json "$www/"
  local f
  for f in "$www"/*.json; do
    local key=signer
    case "$(basename "$f")" in other-*) key=other ;; esac
    openssl cms -sign -binary -outform DER -nosmimecap -signer "$LAB_DIR/pki/$key.pem" \
      -inkey "$LAB_DIR/pki/$key.key" -in "$f" -out "${f%.json}.p7s"
  done
}

lab_up() {
  mkdir -p "$LAB_DIR"
  : >"$LAB_DIR/namespaces"
  : >"$LAB_DIR/pids"
  local gw net
  gw=$(lab_gw)
  net=$(lab_net)
  _lab_ns "$gw"
  _lab_ns "$net"

  # Gateway: LAN bridge, WAN link, forwarding.
  lab_in gw ip link add br-lan type bridge
  lab_in gw ip addr add "$LAB_LAN4.1/24" dev br-lan
  lab_in gw ip -6 addr add "$LAB_LAN6::1/64" dev br-lan nodad
  lab_in gw ip link set br-lan up
  # udhcpc drops partially checksummed replies over veth: no TX offload on the gateway side.
  lab_in gw ethtool -K br-lan tx off >/dev/null 2>&1 || true
  ip link add wan netns "$gw" type veth peer name wan netns "$net"
  lab_in gw ip addr add "$LAB_WAN4.1/24" dev wan
  lab_in gw ip -6 addr add "$LAB_WAN6::1/64" dev wan nodad
  lab_in gw ip link set wan up
  lab_in gw sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  # The gateway resolves names (MUD servers, names in policies) through the lab's DNS server.
  mkdir -p "/etc/netns/$gw"
  echo "nameserver $LAB_WAN4.53" >"/etc/netns/$gw/resolv.conf"
  echo "/etc/netns/$gw" >>"$LAB_DIR/etcnetns"

  # Internet: the MUD server, a DNS server, allowed and forbidden servers.
  lab_in net ip addr add "$LAB_WAN4.2/24" dev wan
  local a
  for a in 10 11 20 21 22 30 40 41 42 53 54; do lab_in net ip addr add "$LAB_WAN4.$a/32" dev wan; done
  lab_in net ip -6 addr add "$LAB_WAN6::2/64" dev wan nodad
  for a in 20 21 30; do lab_in net ip -6 addr add "$LAB_WAN6::$a/128" dev wan nodad; done
  lab_in net ip link set wan up
  lab_in net ip route add "$LAB_LAN4.0/24" via "$LAB_WAN4.1"
  lab_in net ip -6 route add "$LAB_LAN6::/64" via "$LAB_WAN6::1"

  _lab_pki
  _lab_publish

  # The lab's names are its own (--local): a name without AAAA records gets an empty answer, not
  # a refusal.
  lab_spawn dns ip netns exec "$net" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
    --no-hosts --listen-address="$LAB_WAN4.53" --bind-interfaces --port=53 --log-queries \
    --local=/example.com/ --local=/example.net/ \
    --host-record="$LAB_MUD_HOST,$LAB_WAN4.10" \
    --host-record="slow.example.com,$LAB_WAN4.11" \
    --host-record="hub.example.com,$LAB_WAN4.22" \
    --host-record="cloud.example.com,$LAB_WAN4.20,$LAB_WAN6::20" \
    --host-record="updates.example.com,$LAB_WAN4.21,$LAB_WAN6::21" \
    --host-record="evil.example.net,$LAB_WAN4.30,$LAB_WAN6::30" \
    --local-ttl=60 --pid-file="$LAB_DIR/dns-dnsmasq.pid"
  lab_start_mudserver
  local s
  for s in 20 21 22 30; do
    lab_spawn "web$s" ip netns exec "$net" python3 "$LAB_ROOT/scripts/lib/mudserver.py" \
      --bind "$LAB_WAN4.$s" --port 80 --banner "server $LAB_WAN4.$s"
  done
  for s in 20 21 30; do
    lab_spawn "web${s}v6" ip netns exec "$net" python3 "$LAB_ROOT/scripts/lib/mudserver.py" \
      --bind "$LAB_WAN6::$s" --port 80 --banner "server $LAB_WAN6::$s"
  done
}

# A CDN for cdn.example.com: its DNS server (.54) gives each client network its own edge server,
# as CDNs do with the client subnet that resolvers forward (the gateway's dnsmasq adds it): the
# router itself gets edge .40, the LAN's devices edge .41; edge .42 serves another region and is
# never given to anyone here. Answers are logged to $LAB_DIR/cdn-dns.log.
lab_start_cdn() {
  lab_spawn cdn-dns ip netns exec "$(lab_net)" python3 "$LAB_ROOT/scripts/lib/cdndns.py" \
    --bind "$LAB_WAN4.54" --name cdn.example.com --ttl 60 --log "$LAB_DIR/cdn-dns.log" \
    --edge "$LAB_LAN4.1/32=$LAB_WAN4.40" --edge "$LAB_LAN4.0/24=$LAB_WAN4.41" --edge "198.51.100.0/24=$LAB_WAN4.42"
  local s
  for s in 40 41 42; do
    lab_spawn "web$s" ip netns exec "$(lab_net)" python3 "$LAB_ROOT/scripts/lib/mudserver.py" \
      --bind "$LAB_WAN4.$s" --port 80 --banner "server $LAB_WAN4.$s"
  done
  for s in 40 41 42; do
    lab_wait 10 lab_in net bash -c "exec 3<>/dev/tcp/$LAB_WAN4.$s/80" || { echo "lab: CDN edge .$s did not start" >&2; return 1; }
  done
}

# A MUD server that accepts connections and never answers (slow.example.com, port 443).
lab_start_slow() {
  lab_spawn slow ip netns exec "$(lab_net)" socat "TCP-LISTEN:443,bind=$LAB_WAN4.11,fork,reuseaddr" \
    SYSTEM:'sleep 120'
  lab_wait 10 lab_in net bash -c "exec 3<>/dev/tcp/$LAB_WAN4.11/443"
}

# The HTTPS MUD server (mud.example.com), serving $LAB_DIR/www; lab_stop mudserver stops it.
lab_start_mudserver() {
  lab_spawn mudserver ip netns exec "$(lab_net)" python3 "$LAB_ROOT/scripts/lib/mudserver.py" \
    --bind "$LAB_WAN4.10" --port 443 --cert "$LAB_DIR/pki/server.pem" --key "$LAB_DIR/pki/server.key" \
    --root "$LAB_DIR/www" --log "$LAB_DIR/mudserver-access.log"
  lab_wait 10 lab_in net bash -c "exec 3<>/dev/tcp/$LAB_WAN4.10/443" || { echo "lab: MUD server did not start" >&2; return 1; }
}

# The gateway's mudguard configuration for the lab.
lab_write_config() {
  local cfg=$LAB_DIR/mudguard.json
  mkdir -p "$LAB_DIR/state"
  cat >"$cfg" <<EOF
{
  "mudguard-config:mudguard": {
    "lan": { "interface": ["br-lan"], "prefix": ["$LAB_LAN4.0/24", "$LAB_LAN6::/64"],
             "router-address": ["$LAB_LAN4.1", "$LAB_LAN6::1"] },
    "state-directory": "$LAB_DIR/state",
    "hook-socket": "$LAB_DIR/hook.sock",
    "api": { "listen-address": "0.0.0.0", "port": $LAB_API_PORT,
             "token": [ { "name": "lab-auditor", "sha256": "$(printf %s "$LAB_AUDITOR_TOKEN" | sha256sum | cut -d' ' -f1)", "role": "auditor" },
                        { "name": "lab-admin", "sha256": "$(printf %s "$LAB_ADMIN_TOKEN" | sha256sum | cut -d' ' -f1)", "role": "admin" } ] },
    "trust": { "signature": "require", "trust-anchor": ["$LAB_DIR/pki/ca.pem"] },
    "fetch": { "ca-file": ["$LAB_DIR/pki/ca.pem"], "timeout-seconds": 5 },
    "classes": { "controller": [ { "uri": "https://controller.example.com/hub", "name": ["hub.example.com"] } ] },
    "dns": { "resolver": "$LAB_LAN4.1", "min-ttl": 5 },
    "discovery": { "neighbours": true, $( [ "${LAB_LLDP:-0}" = 1 ] \
      && echo "\"lldp\": true, \"lldpctl-socket\": \"$LAB_DIR/lldpd.sock\"" || echo '"lldp": false') },
    "nflog": { "summary-interval": 5 },
    "posture": { "leave-grace-seconds": ${LAB_LEAVE_GRACE:-60} }
  }
}
EOF
  echo "$cfg"
}

LAB_AUDITOR_TOKEN=${LAB_AUDITOR_TOKEN:-lab-auditor-token}
LAB_ADMIN_TOKEN=${LAB_ADMIN_TOKEN:-lab-admin-token}

# Start the gateway's daemons: mudguard first (it owns the hook socket), then dnsmasq.
lab_start_mudguard() {
  local cfg
  cfg=$(lab_write_config)
  lab_spawn mudguard ip netns exec "$(lab_gw)" "$LAB_MUDGUARD" run --config "$cfg" "$@"
  lab_wait 20 lab_in gw curl -sf "http://127.0.0.1:$LAB_API_PORT/healthz" || {
    echo "lab: mudguard did not become healthy; its log:" >&2
    tail -n 30 "$LAB_DIR/mudguard.log" >&2
    return 1
  }
}

lab_start_dnsmasq() {
  # dnsmasq runs its --dhcp-script with the lease's details; the hook forwards them to
  # mudguard's socket and returns at once.
  cat >"$LAB_DIR/hook" <<EOF
#!/bin/sh
exec "$LAB_MUDGUARD" hook dnsmasq --socket "$LAB_DIR/hook.sock" "\$@"
EOF
  chmod +x "$LAB_DIR/hook"
  lab_spawn dnsmasq ip netns exec "$(lab_gw)" dnsmasq --keep-in-foreground --conf-file=/dev/null \
    --no-resolv --no-hosts --server="$LAB_WAN4.53" --server="/cdn.example.com/$LAB_WAN4.54" \
    --add-subnet=32,128 --interface=br-lan --bind-interfaces \
    --dhcp-range="$LAB_LAN4.100,$LAB_LAN4.199,255.255.255.0,2m" \
    --dhcp-range="$LAB_LAN6::100,$LAB_LAN6::1ff,64,2m" --enable-ra \
    --dhcp-leasefile="$LAB_DIR/dnsmasq.leases" --pid-file="$LAB_DIR/dnsmasq.pid" \
    --dhcp-script="$LAB_DIR/hook" --script-on-renewal --dhcp-match=set:mud,161 \
    --log-dhcp --log-queries
  lab_wait 10 lab_in gw bash -c "exec 3<>/dev/tcp/$LAB_LAN4.1/53"
}

# Add a device namespace attached to the LAN bridge: lab_add_device NAME MAC
lab_add_device() {
  local name=$1 mac=$2 ns
  ns=$(lab_dev "$name")
  _lab_ns "$ns"
  # Created directly inside the two namespaces, so the names only need to be unique there.
  local port="v-${name:0:13}"
  ip link add "$port" netns "$(lab_gw)" type veth peer name eth0 netns "$ns"
  lab_in "$name" ip link set eth0 address "$mac" up
  lab_in gw ip link set "$port" master br-lan up
  lab_in gw ethtool -K "$port" tx off >/dev/null 2>&1 || true
  # Names resolve through the gateway, as DHCP would say.
  mkdir -p "/etc/netns/$ns"
  echo "nameserver $LAB_LAN4.1" >"/etc/netns/$ns/resolv.conf"
  echo "/etc/netns/$ns" >>"$LAB_DIR/etcnetns"
}

# Does the device in namespace NS have an IPv4 address of the LAN (a bound lease)?
_lab_has_lease4() { ip netns exec "$1" ip -4 addr show dev eth0 | lab_matches "inet $LAB_LAN4"; }

# The script udhcpc runs at DHCP events for device NAME; prints its path.
_lab_udhcpc_script() {
  local script=$LAB_DIR/udhcpc-$1.sh
  cat >"$script" <<'EOF'
#!/bin/sh
# Apply the lease to the interface; never touch /etc/resolv.conf (shared by all namespaces).
case "$1" in
  bound|renew)
    ip addr flush dev "$interface" scope global
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    ;;
esac
exit 0
EOF
  chmod +x "$script"
  echo "$script"
}

# A device asks for a lease with udhcpc, announcing MUD_URL in option 161 (empty: none).
lab_udhcpc() {
  local name=$1 url=$2 script
  script=$(_lab_udhcpc_script "$name")
  local opt=()
  [ -n "$url" ] && opt=(-x "0xa1:\"$url\"")
  ip netns exec "$(lab_dev "$name")" udhcpc -i eth0 -f -q -n -t 5 -T 1 -s "$script" "${opt[@]}" \
    >"$LAB_DIR/udhcpc-$name.log" 2>&1
}

# A device keeps its udhcpc running, as a device that stays on the network does; it releases its
# lease when it exits (lab_stop udhcpc-NAME: the device leaves). Returns once the lease is bound.
lab_udhcpc_keep() {
  local name=$1 url=$2 script
  script=$(_lab_udhcpc_script "$name")
  local opt=()
  [ -n "$url" ] && opt=(-x "0xa1:\"$url\"")
  lab_in "$name" ip -4 addr flush dev eth0 scope global
  lab_spawn "udhcpc-$name" ip netns exec "$(lab_dev "$name")" udhcpc -i eth0 -f -R -t 5 -T 1 -s "$script" "${opt[@]}"
  lab_wait 20 _lab_has_lease4 "$(lab_dev "$name")"
}

# A device asks for a lease with dhcpcd (IPv4), announcing MUD_URL with `mudurl`.
lab_dhcpcd() {
  local name=$1 url=$2 ns
  ns=$(lab_dev "$name")
  {
    echo "ipv4only"
    echo "noipv4ll"
    echo "persistent"
    echo "nohook resolv.conf, hostname, ntp.conf, timesyncd.conf, chrony.conf"
    [ -n "$url" ] && echo "mudurl $url"
  } >"$LAB_DIR/dhcpcd-$name.conf"
  printf '#!/bin/sh\nexit 0\n' >"$LAB_DIR/noop.sh"
  chmod +x "$LAB_DIR/noop.sh"
  # dhcpcd keeps leases in /var/lib/dhcpcd: a private, empty one for each run (ip netns exec gives
  # each command its own mount namespace), so that nothing of the host's is read or written.
  ip netns exec "$ns" sh -c 'mount -t tmpfs lab /var/lib/dhcpcd && exec "$@"' dhcpcd \
    dhcpcd -f "$LAB_DIR/dhcpcd-$name.conf" -c "$LAB_DIR/noop.sh" -1 -4 -B -t 15 \
    --nobackground eth0 >"$LAB_DIR/dhcpcd-$name.log" 2>&1 &
  _lab_track $!
  lab_wait 20 _lab_has_lease4 "$ns"
}

# A device asks for a DHCPv6 lease with dhcpcd, announcing MUD_URL in option 112. It waits for the
# gateway's router advertisement first (dnsmasq --enable-ra).
lab_dhcpcd6() {
  local name=$1 url=$2 ns
  ns=$(lab_dev "$name")
  {
    echo "ipv6only"
    echo "persistent"
    echo "nohook resolv.conf, hostname, ntp.conf, timesyncd.conf, chrony.conf"
    [ -n "$url" ] && echo "mudurl $url"
  } >"$LAB_DIR/dhcpcd6-$name.conf"
  ip netns exec "$ns" sh -c 'mount -t tmpfs lab /var/lib/dhcpcd && exec "$@"' dhcpcd \
    dhcpcd -f "$LAB_DIR/dhcpcd6-$name.conf" -c /bin/true -1 -6 -B -t 20 eth0 >"$LAB_DIR/dhcpcd6-$name.log" 2>&1
  lab_wait 20 bash -c "ip netns exec $ns ip -6 addr show dev eth0 scope global | grep -q 'inet6 $LAB_LAN6:'"
}

# The gateway's lldpd, receive only, on the LAN ports, with its control socket in the lab
# directory (mudguard reads it with LAB_LLDP=1).
lab_lldp_router() {
  lab_spawn lldpd-gw ip netns exec "$(lab_gw)" lldpd -d -r -u "$LAB_DIR/lldpd.sock" -O /dev/null -I 'v-*'
  lab_wait 10 test -S "$LAB_DIR/lldpd.sock"
}

# A device's lldpd announcing MUD_URL in the MUD custom TLV (OUI 00-00-5E, subtype 1).
lab_lldp_device() {
  local name=$1 url=$2 hex
  hex=$(printf %s "$url" | od -An -tx1 -v | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
  printf 'configure lldp tx-interval 1\nconfigure lldp custom-tlv oui 00,00,5e subtype 1 oui-info %s\n' "$hex" \
    >"$LAB_DIR/lldpd-$name.conf"
  lab_spawn "lldpd-$name" ip netns exec "$(lab_dev "$name")" lldpd -d -u "$LAB_DIR/lldpd-$name.sock" \
    -O "$LAB_DIR/lldpd-$name.conf" -I eth0
  lab_wait 10 test -S "$LAB_DIR/lldpd-$name.sock"
}

# The device's IPv4 address on the LAN.
lab_addr() {
  lab_in "$1" ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1 | head -n1
}

# Can device NAME open a TCP connection to URL's host? Prints the HTTP body on success.
lab_http() {
  local name=$1 url=$2
  lab_in "$name" curl -s --max-time "${LAB_HTTP_TIMEOUT:-2}" "$url"
}

# The API, as the lab's auditor (or admin with LAB_ROLE=admin): lab_api METHOD PATH [BODY]
lab_api() {
  local method=$1 path=$2 body=${3:-} token=$LAB_AUDITOR_TOKEN
  [ "${LAB_ROLE:-auditor}" = admin ] && token=$LAB_ADMIN_TOKEN
  lab_in gw curl -s -X "$method" -H "Authorization: Bearer $token" \
    ${body:+-H "Content-Type: application/json" --data "$body"} "http://127.0.0.1:$LAB_API_PORT$path"
}

lab_down() {
  [ -d "$LAB_DIR" ] || return 0
  local pid
  if [ -f "$LAB_DIR/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$LAB_DIR/pids"
    sleep 0.2
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$LAB_DIR/pids"
  fi
  local ns
  if [ -f "$LAB_DIR/namespaces" ]; then
    # Processes started inside a namespace by others (dhcpcd forks) die with it.
    while read -r ns; do
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
      ip netns del "$ns" 2>/dev/null || true
    done <"$LAB_DIR/namespaces"
  fi
  if [ -f "$LAB_DIR/etcnetns" ]; then
    while read -r ns; do rm -rf "$ns"; done <"$LAB_DIR/etcnetns"
  fi
  if [ "${LAB_KEEP:-0}" != 1 ]; then rm -rf "$LAB_DIR"; fi
}
