#pragma once
// The enforcer's own, neutral policy model. The controller translates a parsed MUD profile into
// this; the enforcer never sees MUD documents. Everything here is concrete: names, URIs and
// classes have become references to address sets that the enforcer maintains.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mudguard::enforcer {

enum class Verdict { Accept, Drop, Reject };

/// Which side may open a TCP connection (ietf-mud direction-initiated).
enum class Initiator { Device, Remote };

enum class Family { Any, Ipv4, Ipv6 };

/// A port condition on one of the 16-bit tcp/udp port fields. eq is lo == hi; lt/gt/ranges are
/// [lo, hi]; neq is a negated [lo, lo].
struct PortSpec {
    std::uint16_t lo = 0, hi = 0;
    bool negate = false;
    bool operator==(const PortSpec&) const = default;
};

/// An IP prefix: address bytes in network order (4 or 16 used) and a length.
struct Prefix {
    Family family = Family::Ipv4;
    std::array<std::uint8_t, 16> addr{};
    std::uint8_t length = 32;
    bool operator==(const Prefix&) const = default;
};

/// A MAC address and mask (all-ones when the ACE gives no mask).
struct MacSpec {
    std::array<std::uint8_t, 6> addr{};
    std::array<std::uint8_t, 6> mask{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    bool operator==(const MacSpec&) const = default;
};

/// A dynamic address set that the enforcer owns and the controller fills. Sets are shared by
/// every policy that names the same (kind, key).
struct SetRef {
    enum class Kind {
        DnsName,       ///< key: the DNS name (lower case, no trailing dot)
        LocalNetworks, ///< key: empty
        Controller,    ///< key: the class URI
        MyController,  ///< key: the MUD URL
        Manufacturer,  ///< key: the MUD URL authority (same-manufacturer resolves to the own one)
        Model,         ///< key: the MUD URL
    };
    Kind kind = Kind::DnsName;
    std::string key;
    bool operator==(const SetRef&) const = default;
    bool operator<(const SetRef& o) const { return kind != o.kind ? kind < o.kind : key < o.key; }
};

/// One compiled ACE. Absent members match anything.
struct Rule {
    std::string name; ///< "acl/ace", used in comments, counters and errors
    Family family = Family::Any;
    std::optional<std::uint8_t> protocol;
    std::optional<Prefix> srcNet, dstNet;
    std::optional<SetRef> srcSet, dstSet; ///< the remote peer, by set
    std::optional<std::uint8_t> dscp, ttl;
    std::optional<std::uint32_t> flowLabel;
    std::optional<PortSpec> srcPort, dstPort;
    std::optional<std::uint8_t> tcpFlags; ///< RFC 8519 bits; the rule matches when all are set
    std::optional<std::uint8_t> icmpType, icmpCode;
    std::optional<MacSpec> srcMac, dstMac;
    std::optional<std::uint16_t> ethertype;
    std::optional<Initiator> initiatedBy;
    Verdict verdict = Verdict::Accept;
    bool operator==(const Rule&) const = default;
};

/// A policy shared by every device with the same MUD file (and local variant).
struct Policy {
    std::string id;     ///< stable, [a-z0-9]{1,16}; names the policy's chains
    std::string source; ///< the MUD URL (or local file name), for comments and audit
    std::vector<Rule> fromDevice, toDevice;
    bool operator==(const Policy&) const = default;
};

} // namespace mudguard::enforcer
