#pragma once
// IP <-> MAC learning from the kernel's neighbour tables (ARP and IPv6 ND) through libnl-route-3:
// an initial dump, then change notifications on an fd for the daemon's event loop. This is the
// only source of SLAAC and privacy addresses.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mudguard/controller/Discovery.h"

namespace mudguard::controller {

struct NeighbourEvent {
    enum class Kind {
        Add, ///< a usable IP -> MAC mapping appeared
        Change, ///< the MAC behind a known address changed
        Delete, ///< the mapping is gone (deleted, or the kernel marked it failed)
    };
    Kind kind = Kind::Add;
    IpAddress address; ///< family AF_INET or AF_INET6
    MacAddress mac; ///< for Delete: the last MAC known for the address
    int ifindex = 0;
    std::string interface;
    std::uint16_t state = 0; ///< NUD_* bits as the kernel reported them (last known for Delete)

    int family() const { return address.family; }
};

std::string_view toString(NeighbourEvent::Kind kind);

struct NeighbourWatcherOptions {
    /// LAN interfaces (the bridge, or the ports of a routed LAN); empty means every interface.
    std::vector<std::string> interfaces;
    /// IPv6 link-local (fe80::/10) and IPv4 169.254/16 entries.
    bool includeLinkLocal = true;
    /// Also report REACHABLE/STALE/DELAY/PROBE transitions of a known mapping as Change. Off by
    /// default: they are constant and carry no new binding.
    bool reportStateChanges = false;
    /// Netlink receive buffer; an overrun triggers a full resync (see stats()).
    int receiveBuffer = 4 << 20;
};

struct NeighbourWatcherStats {
    std::uint64_t resyncs = 0; ///< full re-reads after a notification overrun or error
    std::uint64_t ignored = 0; ///< entries filtered out (other interfaces, multicast, incomplete...)
};

/// Watches route/neigh. Filters: IPv4/IPv6 only; no multicast or broadcast destinations; no
/// NOARP, INCOMPLETE, FAILED or NONE states; no proxy entries; only 6-byte unicast, non-zero
/// link-layer addresses; only the configured interfaces. A mapping that becomes FAILED or
/// INCOMPLETE is reported as Delete.
class NeighbourWatcher {
public:
    /// Subscribes to neighbour notifications and reads the current tables (nl_cache_mngr_alloc,
    /// nl_cache_mngr_add "route/neigh"). Throws DiscoveryError.
    explicit NeighbourWatcher(NeighbourWatcherOptions options);
    ~NeighbourWatcher();
    NeighbourWatcher(const NeighbourWatcher&) = delete;
    NeighbourWatcher& operator=(const NeighbourWatcher&) = delete;

    /// Every mapping currently known, as Add events (the initial dump, after construction).
    std::vector<NeighbourEvent> snapshot() const;
    /// The notification socket (nl_cache_mngr_get_fd), non-blocking; watch for EPOLLIN.
    int fd() const;
    /// Reads pending notifications (nl_cache_mngr_data_ready) and returns the resulting events.
    /// On an overrun it re-reads the tables and returns the difference. Never throws for kernel
    /// data; throws DiscoveryError only if the resync itself fails.
    std::vector<NeighbourEvent> handleReadable();
    /// Re-reads the tables and returns the difference to what was reported so far.
    std::vector<NeighbourEvent> resync();
    const NeighbourWatcherStats& stats() const;

    struct Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

} // namespace mudguard::controller
