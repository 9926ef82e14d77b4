#pragma once
// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram to the socket
// named by $NOTIFY_SOCKET. Does nothing when the variable is unset (not started by systemd).

#include <string_view>

namespace mudguard::controller {

/// Sends `state` ("READY=1", "STOPPING=1", "STATUS=..."); returns false when it could not.
bool sdNotify(std::string_view state);

} // namespace mudguard::controller
