# shellcheck shell=bash
# Shared by the end-to-end tests: the lab (scripts/lib/lab.sh) with a unique prefix, removed on
# exit whatever happens, and assertions that count failures and say what was expected.
set -uo pipefail

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export LAB="mge$$"
export LAB_DIR="/tmp/$LAB"
export LAB_MUDGUARD=${LAB_MUDGUARD:-$E2E_ROOT/build/mudguard}
# shellcheck source=../../scripts/lib/lab.sh
source "$E2E_ROOT/scripts/lib/lab.sh"

E2E_FAILED=0
E2E_NAME=$(basename "$0" .sh)

e2e_finish() {
  local rc=$?
  if [ "$E2E_FAILED" -ne 0 ] || [ "$rc" -ne 0 ]; then
    echo "---- mudguard log (last 60 lines) ----"
    tail -n 60 "$LAB_DIR/mudguard.log" 2>/dev/null
    echo "---- dnsmasq log (last 20 lines) ----"
    tail -n 20 "$LAB_DIR/dnsmasq.log" 2>/dev/null
  fi
  lab_down
  if [ "$E2E_FAILED" -ne 0 ]; then
    echo "$E2E_NAME: $E2E_FAILED check(s) failed"
    exit 1
  fi
  exit "$rc"
}
trap e2e_finish EXIT
trap 'exit 130' INT TERM

# Preconditions: root, and the programs the lab runs.
e2e_require() {
  if [ "$(id -u)" -ne 0 ]; then echo "$E2E_NAME: needs root (network namespaces)"; exit 77; fi
  local p
  for p in ip dnsmasq udhcpc dhcpcd curl openssl python3 nft "$LAB_MUDGUARD"; do
    command -v "$p" >/dev/null || { echo "$E2E_NAME: missing $p"; exit 1; }
  done
}

pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; E2E_FAILED=$((E2E_FAILED + 1)); }

# expect "what" CMD...: CMD must succeed.
expect() {
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what (command failed: $*)"; fi
}

# expect_not "what" CMD...: CMD must fail.
expect_not() {
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then fail "$what (command succeeded: $*)"; else pass "$what"; fi
}

# eventually SECONDS "what" CMD...: CMD succeeds within SECONDS.
eventually() {
  local seconds=$1 what=$2
  shift 2
  if lab_wait "$seconds" "$@"; then pass "$what"; else fail "$what (not within ${seconds}s: $*)"; fi
}

# JSON field of an API answer: api_field METHOD PATH PYTHON-EXPRESSION (on `j`).
api_field() {
  lab_api "$1" "$2" | python3 -c "import json,sys; j=json.load(sys.stdin); print($3)"
}

# The device's state in the API.
device_state() { api_field GET "/api/v1/devices/$1" "j['state']" 2>/dev/null; }
state_is() { [ "$(device_state "$1")" = "$2" ]; }

# The certificate chain of the lab's MUD signer as the API gives it (signer first, the lab's CA
# last), and whether the API gives it for device MAC.
LAB_CHAIN="O=Example Devices, CN=mud signer | CN=mudguard lab CA"
signer_chain_is_lab() { [ "$(api_field GET "/api/v1/devices/$1" "' | '.join(j['signer']['chain'])")" = "$LAB_CHAIN" ]; }

# Does device NAME reach http://HOST/ (a lab web server that answers with its banner)?
reaches() { lab_http "$1" "http://$2/" | lab_matches "server"; }
