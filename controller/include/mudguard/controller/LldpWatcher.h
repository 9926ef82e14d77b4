#pragma once
// MUD URLs announced over LLDP (RFC 8520 section 11: TLV 127, OUI 00-00-5E, subtype 1), read from
// the router's lldpd through `lldpcli -f json0`: a `watch` child for changes plus a one-shot
// `show neighbors details` for the neighbours already known at start. Both run without a shell,
// with a fixed argv; their output is parsed with size and depth limits.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mudguard/controller/Discovery.h"

namespace mudguard::controller {

/// Longest LLDP organisationally specific information string (IEEE 802.1AB: 507 octets).
inline constexpr std::size_t kMaxLldpOuiInfo = 507;

struct LldpNeighbour {
    std::string interface; ///< the router's port that heard the neighbour
    std::string chassisIdType, chassisId; ///< e.g. "mac" / "02:00:5e:00:00:61"
    std::string portIdType, portId;
    std::optional<MacAddress> chassisMac; ///< chassis id when its type is "mac"
    std::optional<MacAddress> portMac; ///< port id when its type is "mac"
    std::uint32_t ttl = 0;
    /// The MUD TLV's information string, raw (RFC 8520 section 10 parsing is the daemon's job).
    std::optional<std::string> mudUrl;
    /// A MUD TLV was present but its value could not be decoded (reason in the string).
    std::string mudUrlError;

    /// The MAC to bind the URL to: the chassis MAC, else the port MAC.
    std::optional<MacAddress> mac() const { return chassisMac ? chassisMac : portMac; }
    bool operator==(const LldpNeighbour&) const = default;
};

struct LldpEvent {
    enum class Kind {
        Present, ///< known when the watcher started (`show neighbors details`)
        Added, ///< lldp-added
        Updated, ///< lldp-updated
        Deleted, ///< lldp-deleted (the neighbour timed out or said goodbye)
        Stopped, ///< the `lldpcli watch` child ended; `detail` says why. restart() resumes.
    };
    Kind kind = Kind::Present;
    LldpNeighbour neighbour;
    std::string detail;
};

std::string_view toString(LldpEvent::Kind kind);

/// Parses one lldpcli `-f json0` document (`{"lldp": ...}` from show, or `{"lldp-added": ...}`,
/// `{"lldp-updated": ...}`, `{"lldp-deleted": ...}` from watch). Throws DiscoveryError for a
/// document that is not valid, bounded JSON of that shape; fields that are merely missing or odd
/// leave the corresponding member empty.
std::vector<LldpEvent> parseLldpJson(std::string_view document);

/// Decodes lldpcli's hex form of a TLV value ("68,74,74,70" or "68:74"); nullopt when malformed
/// or longer than kMaxLldpOuiInfo bytes.
std::optional<std::string> decodeLldpHex(std::string_view text);

struct LldpWatcherOptions {
    /// lldpcli program (absolute path; the one found at build time by default).
    std::string lldpcli;
    /// lldpd's control socket (lldpcli -u); empty: lldpd's default.
    std::string socket;
    /// Local ports to listen to; empty means all.
    std::vector<std::string> interfaces;
    /// Largest JSON document accepted from lldpcli.
    std::size_t maxDocument = 1 << 20;
    /// A second `show neighbors details` this long after (re)start: lldpcli subscribes to changes
    /// asynchronously, and a change in between would otherwise be missed.
    std::chrono::milliseconds settleDelay { 1000 };
    /// Then a fresh snapshot this often (Present events again), repairing anything missed;
    /// zero disables it.
    std::chrono::seconds refreshInterval { 300 };
};

struct LldpWatcherStats {
    std::uint64_t documents = 0; ///< documents parsed
    std::uint64_t rejected = 0; ///< documents refused (invalid, oversized)
    std::string lastRejection;
};

/// Runs the lldpcli children and turns their output into events (a snapshot repeats Present
/// events for neighbours already reported: consumers treat events as idempotent). Single-threaded: call
/// handleReadable() when fd() is readable. Children are stopped (SIGTERM, then SIGKILL) on
/// destruction and die with the daemon (PR_SET_PDEATHSIG).
class LldpWatcher {
public:
    /// Starts `lldpcli [-u socket] -f json0 watch` and `... show neighbors details`.
    /// Throws DiscoveryError when the programs cannot be started.
    explicit LldpWatcher(LldpWatcherOptions options);
    ~LldpWatcher();
    LldpWatcher(const LldpWatcher&) = delete;
    LldpWatcher& operator=(const LldpWatcher&) = delete;

    /// An epoll descriptor over the children's pipes, process descriptors and snapshot timer (EPOLLIN).
    int fd() const;
    std::vector<LldpEvent> handleReadable();
    /// True while the watch child runs.
    bool running() const;
    /// Starts the children again after a Stopped event (the daemon decides when: back-off).
    void restart();
    const LldpWatcherStats& stats() const;

    struct Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

} // namespace mudguard::controller
