#pragma once
// The daemon's end of the dnsmasq hook: a UNIX datagram socket that the event loop watches.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "mudguard/controller/HookEvent.h"

namespace mudguard::controller {

inline constexpr const char* kDefaultHookSocket = "/run/mudguard/hook.sock";
/// Environment variable naming the socket for `mudguard hook dnsmasq` (after --socket).
inline constexpr const char* kHookSocketEnv = "MUDGUARD_HOOK_SOCKET";

struct HookServerOptions {
    std::filesystem::path path = kDefaultHookSocket;
    /// Senders allowed besides root (dnsmasq runs the script as root unless --dhcp-scriptuser).
    std::vector<uid_t> allowedUids;
    /// Permissions of the socket file.
    mode_t mode = 0600;
    /// Receive buffer (SO_RCVBUF); the kernel doubles it.
    int receiveBuffer = 1 << 20;
    /// Datagrams handled per handleReadable() call, so one busy source cannot starve the loop.
    std::size_t maxPerCall = 256;
};

/// A lease event with who sent it and when it arrived.
struct HookMessage {
    LeaseEvent event;
    pid_t senderPid = 0;
    uid_t senderUid = 0;
};

struct HookServerStats {
    std::uint64_t received = 0; ///< accepted datagrams
    std::uint64_t rejected = 0; ///< malformed, oversized or from a sender not allowed
    std::string lastRejection; ///< reason of the last rejection
};

/// Binds the socket (replacing a stale socket file, refusing if another process still serves
/// it), receives with SCM_CREDENTIALS and validates each datagram. Single-threaded: call
/// handleReadable() from the event loop when fd() is readable. The socket file is removed on
/// destruction.
class HookServer {
public:
    explicit HookServer(HookServerOptions options);
    ~HookServer();
    HookServer(const HookServer&) = delete;
    HookServer& operator=(const HookServer&) = delete;

    /// Non-blocking, close-on-exec datagram socket (EPOLLIN).
    int fd() const { return m_fd; }
    /// Drains up to maxPerCall datagrams; never throws for bad input (see stats() and onRejected).
    std::vector<HookMessage> handleReadable();
    /// Called with the reason for each refused datagram (for the daemon's log).
    void onRejected(std::function<void(const std::string&)> callback) { m_onRejected = std::move(callback); }
    const HookServerStats& stats() const { return m_stats; }
    const std::filesystem::path& path() const { return m_options.path; }

private:
    void reject(std::string reason);

    HookServerOptions m_options;
    int m_fd = -1;
    HookServerStats m_stats;
    std::function<void(const std::string&)> m_onRejected;
};

/// The sending side, used by `mudguard hook dnsmasq`: sends one datagram, waiting at most
/// `timeout` for room in the receiver's queue. Returns an empty string on success, otherwise the
/// reason (the daemon is down, the queue stayed full...). Never throws.
std::string sendHookDatagram(
    const std::filesystem::path& socket, const std::vector<std::uint8_t>& datagram, std::chrono::milliseconds timeout);

} // namespace mudguard::controller
