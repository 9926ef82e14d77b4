#pragma once
// Traffic that policies blocked, as the kernel reports it (rate-limited nflog copies of denied
// packets): counted per device and peer, summarised into the audit log once a minute, and kept
// for the API (the most recent peers per device). Thread-safe: the loop records, API threads read.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mudguard/controller/NflogReader.h"

namespace mudguard::controller {

class Violations {
public:
    /// One blocked flow, aggregated.
    struct Entry {
        std::chrono::system_clock::time_point last;
        std::string direction; ///< "from-device" or "to-device"
        std::string peer; ///< the other end's address
        std::string protocol; ///< "tcp", "udp", "icmp", "icmpv6", "ip protocol N"
        std::optional<std::uint16_t> port; ///< the peer's port (tcp, udp)
        std::uint64_t count = 0;
    };
    /// What one device did since the last summary.
    struct Summary {
        std::string mac;
        std::string direction; ///< of the most frequent entry
        std::string peers; ///< "198.51.100.7:23/tcp x12, ..." (the top few)
        std::uint64_t packets = 0;
    };

    static constexpr std::size_t kRecentPerDevice = 32;

    /// `fromDevice`: the packet's source is the device (its MAC is the packet's link-layer source);
    /// otherwise the device is the destination, found by address through `ownerOf` (empty: not a
    /// managed device, ignored).
    void record(
        const NflogPacket& packet, bool fromDevice, const std::function<std::string(const std::string&)>& ownerOf);
    std::vector<Summary> takeSummaries();
    /// Most recent first.
    std::vector<Entry> recent(const std::string& mac) const;
    void forget(const std::string& mac);
    std::uint64_t total() const;

private:
    struct Device {
        std::vector<Entry> recent; ///< bounded, unordered
        std::map<std::string, std::uint64_t> sinceSummary; ///< "peer:port/proto" -> packets
        std::string lastDirection;
        std::uint64_t packets = 0;
    };
    mutable std::mutex m_mutex;
    std::map<std::string, Device> m_devices;
    std::uint64_t m_total = 0;
};

} // namespace mudguard::controller
