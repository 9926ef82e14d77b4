#pragma once
// The DNS names that enforced policies use (RFC 9726): each is resolved through the devices'
// resolver for A and AAAA, honouring the TTLs (clamped to the configured range), and queried again
// before its answers expire. Addresses that managed devices receive in answers from that resolver
// are learnt too (copies of the answers arrive through nflog), so that round-robin and CDN names
// work. Reverse lookups are never made.
//
// Updates are collected and handed to the daemon, which commits them to the enforcer: a name's
// addresses become set elements whose timeout is their TTL plus a margin, so that a resolver that
// stops answering closes access instead of leaving it open forever.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "mudguard/controller/EventLoop.h"
#include "mudguard/controller/Resolver.h"
#include "mudguard/enforcer/Enforcer.h"

namespace mudguard::controller {

class DnsNames {
public:
    struct Options {
        std::string resolver; ///< address of the devices' resolver
        std::uint16_t port = 53;
        std::uint32_t minTtl = 30, maxTtl = 86400;
        /// Retry after a failed lookup.
        std::chrono::seconds retry { 30 };
    };
    using Updates = std::vector<std::pair<std::string, std::vector<enforcer::DnsAddress>>>;

    /// `onUpdates` is called on the loop when answers are waiting in takeUpdates().
    DnsNames(EventLoop& loop, Options options, std::function<void()> onUpdates);
    ~DnsNames();

    /// The names to keep resolved; names no longer listed stop being refreshed (their set
    /// elements then expire on their own).
    void track(const std::set<std::string>& names);
    /// True when every tracked name has had at least one answer or failure.
    bool settled() const;
    /// Answers collected since the last call, by name.
    Updates takeUpdates();
    /// A copy of a DNS response (an IP packet). Used when it comes from the devices' resolver,
    /// goes to a managed device (`managed(client address)`) and answers a tracked name.
    /// `fromRouter`: the copy was taken on the router's output path, so the router's own resolver
    /// sent it, whichever of the router's addresses (IPv4 or IPv6) the device asked.
    void observe(std::span<const std::uint8_t> packet, const std::function<bool(const std::string&)>& managed,
        bool fromRouter = false);

    struct Stats {
        std::uint64_t lookups = 0, failures = 0, observed = 0, ignored = 0;
    };
    Stats stats() const { return m_stats; }
    std::size_t tracked() const { return m_names.size(); }
    /// Addresses last learnt for a name (for the API).
    std::vector<std::string> addresses(const std::string& name) const;

private:
    struct Name {
        bool answered = false;
        std::map<int, std::uint64_t> inFlight; ///< by type (1 A, 28 AAAA): resolver query id
        std::map<std::string, std::chrono::steady_clock::time_point> known; ///< address -> expiry
        EventLoop::Handle refresh;
        std::optional<std::chrono::steady_clock::time_point> refreshAt; ///< while `refresh` is pending
        bool failing = false;
    };
    void lookup(const std::string& name);
    void onResult(const std::string& name, const Resolver::Result& r);
    std::uint32_t clamp(std::uint32_t ttl) const;
    void add(const std::string& name, const std::string& address, std::uint32_t ttl);

    EventLoop& m_loop;
    Options m_options;
    std::function<void()> m_onUpdates;
    std::unique_ptr<Resolver> m_resolver;
    std::map<std::string, Name> m_names;
    std::map<std::string, std::vector<enforcer::DnsAddress>> m_updates;
    Stats m_stats;
};

} // namespace mudguard::controller
