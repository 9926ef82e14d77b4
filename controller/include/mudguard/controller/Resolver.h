#pragma once
// An asynchronous stub resolver for the daemon's event loop. It asks one configured resolver
// (the router's own, the one the devices use: RFC 9726) for A or AAAA records over UDP, falls
// back to TCP when an answer is truncated, and reports the addresses with their TTLs so that the
// daemon can refresh a name before its entries expire. It never asks for PTR records: names of
// the in-addr.arpa and ip6.arpa trees are refused.
//
//   Resolver r(loop, {.server = *IpAddress::parse("127.0.0.1")});
//   r.resolve("updates.example.com", dns::Type::A, [](const Resolver::Result& res) { ... });
//
// Spoofing: each query has a random ID and goes out on a connected socket with a random source
// port chosen by the kernel; an answer counts only when it comes from the server, carries the ID
// of a query in flight and repeats its question (name, type, class). Anything else is dropped and
// counted in stats().rejected.
//
// Callbacks run on the loop thread, exactly once per query (unless cancelled or the Resolver is
// destroyed first, which drops them silently). A callback may start new queries or cancel others;
// it must not destroy the Resolver. An exception escaping a callback is logged (INTERNAL_ERROR)
// and dropped.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mudguard/controller/Dns.h"

namespace mudguard::controller {

class EventLoop;

class Resolver {
public:
    struct Options {
        dns::IpAddress server; ///< the resolver to ask
        std::uint16_t port = 53;
        std::chrono::milliseconds timeout { 1500 }; ///< per attempt; TCP gets twice this
        unsigned attempts = 3; ///< UDP sends per query
        std::size_t maxInFlight = 256; ///< more queries wait in a queue
        std::uint16_t ednsUdpSize = 1232; ///< 0: no EDNS (plain 512-octet UDP)
        bool tcpFallback = true; ///< retry over TCP when the answer is truncated
    };

    enum class Status {
        Ok, ///< addresses found
        NoData, ///< the name exists but has no records of this type
        NxDomain, ///< the name does not exist
        ServerFailure, ///< SERVFAIL or another error rcode
        Refused, ///< REFUSED
        Timeout, ///< no acceptable answer after every attempt
        Truncated, ///< truncated and TCP was off or failed; `addresses` holds what arrived
        NetworkError, ///< the socket failed (detail says how)
    };

    struct Result {
        std::string name; ///< normalised
        dns::Type type = dns::Type::A;
        Status status = Status::Timeout;
        std::vector<dns::AnswerAddress> addresses;
        std::vector<std::string> cnameChain;
        /// Refresh after this many seconds: the smallest address TTL for Ok, the negative TTL
        /// (RFC 2308) for NoData/NxDomain when the server gave one, else 0.
        std::uint32_t ttl = 0;
        std::string detail; ///< for logs: the rcode, the socket error, ...
    };
    using Callback = std::function<void(const Result&)>;

    struct Stats {
        std::uint64_t queries = 0, sent = 0, retries = 0, answered = 0, timeouts = 0, rejected = 0, tcpFallbacks = 0;
    };

    /// Opens the UDP socket and watches it on `loop`. Throws controller::Error.
    Resolver(EventLoop& loop, Options options);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    /// Starts a lookup of `name` (a host name) for A or AAAA. Returns an ID for cancel(). Throws
    /// std::invalid_argument for an invalid name, another type, or a reverse-lookup name.
    std::uint64_t resolve(std::string_view name, dns::Type type, Callback cb);
    /// Forgets the query; its callback will not run. False when it already finished.
    bool cancel(std::uint64_t id);

    std::size_t inFlight() const noexcept;
    std::size_t queued() const noexcept;
    Stats stats() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

const char* toString(Resolver::Status s) noexcept;

} // namespace mudguard::controller
