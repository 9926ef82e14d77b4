#pragma once
// The enforcer's own, neutral policy model. The controller translates a parsed MUD profile into
// this; the enforcer never sees MUD documents. Everything here is concrete: names, URIs and
// classes have become references to address sets that the enforcer maintains.

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mudguard::enforcer {

enum class Verdict { Accept, Drop, Reject };

/// Which side may open a TCP connection (ietf-mud direction-initiated), seen from the device.
enum class Initiator { Device, Remote };

enum class Family { Any, Ipv4, Ipv6 };

/// A MAC address. Parses "02:00:5e:10:00:01" (also with '-'), prints lower case with ':'.
struct MacAddress {
    std::array<std::uint8_t, 6> bytes {};
    static std::optional<MacAddress> parse(std::string_view text);
    std::string toString() const;
    auto operator<=>(const MacAddress&) const = default;
};

/// An IPv4 or IPv6 address; bytes in network order (4 or 16 used).
struct IpAddress {
    Family family = Family::Ipv4; ///< Ipv4 or Ipv6, never Any
    std::array<std::uint8_t, 16> bytes {};
    static std::optional<IpAddress> parse(std::string_view text);
    std::string toString() const;
    std::size_t size() const { return family == Family::Ipv6 ? 16 : 4; }
    auto operator<=>(const IpAddress&) const = default;
};

/// An IP prefix. `parse` accepts "192.0.2.0/24", "2001:db8::/32" or a plain address (full
/// length) and refuses host bits set beyond the length.
struct Prefix {
    IpAddress address;
    std::uint8_t length = 32;
    static std::optional<Prefix> parse(std::string_view text);
    static Prefix host(const IpAddress& a) { return { a, static_cast<std::uint8_t>(a.size() * 8) }; }
    Family family() const { return address.family; }
    bool isHost() const { return length == address.size() * 8; }
    std::string toString() const; ///< "192.0.2.0/24"; a host prints without the length
    auto operator<=>(const Prefix&) const = default;
};

/// A port condition on one of the 16-bit tcp/udp port fields: the ports in [lo, hi], or with
/// `negate` those outside it. RFC 8519 operators: eq p = [p, p]; lte p = [0, p]; gte p =
/// [p, 65535]; neq p = negated [p, p]; range = [lower, upper].
struct PortSpec {
    std::uint16_t lo = 0, hi = 0;
    bool negate = false;
    static PortSpec eq(std::uint16_t p) { return { p, p, false }; }
    static PortSpec neq(std::uint16_t p) { return { p, p, true }; }
    static PortSpec lte(std::uint16_t p) { return { 0, p, false }; }
    static PortSpec gte(std::uint16_t p) { return { p, 65535, false }; }
    static PortSpec range(std::uint16_t lo, std::uint16_t hi) { return { lo, hi, false }; }
    bool operator==(const PortSpec&) const = default;
};

/// A MAC address and mask (all-ones when the ACE gives no mask).
struct MacSpec {
    MacAddress address;
    MacAddress mask { { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
    bool operator==(const MacSpec&) const = default;
};

/// A dynamic address set that the enforcer owns and the controller fills. Sets are shared by
/// every policy that names the same (kind, key).
struct SetRef {
    enum class Kind {
        DnsName, ///< key: the DNS name (lower case, no trailing dot)
        LocalNetworks, ///< key: empty
        Controller, ///< key: the class URI
        MyController, ///< key: the MUD URL
        Manufacturer, ///< key: the MUD URL authority (same-manufacturer resolves to the own one)
        Model, ///< key: the MUD URL
    };
    Kind kind = Kind::DnsName;
    std::string key;
    auto operator<=>(const SetRef&) const = default;
};

const char* toString(SetRef::Kind k);

/// RFC 8519 tcp flags bits (cwr ece urg ack psh rst syn fin, MSB..LSB, as in the TCP header).
/// The rule matches when every bit in `bits` is set.
inline constexpr std::uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08, kTcpAck = 0x10,
                              kTcpUrg = 0x20, kTcpEce = 0x40, kTcpCwr = 0x80;

/// One compiled ACE. Absent members match anything. The remote peer (destination in a
/// from-device rule, source in a to-device rule) is named by prefix and/or set.
struct Rule {
    std::string name; ///< "acl/ace", used in comments, counters and errors
    Family family = Family::Any;
    std::optional<std::uint8_t> protocol;
    std::optional<Prefix> srcNet, dstNet;
    std::optional<SetRef> srcSet, dstSet;
    std::optional<std::uint8_t> dscp, ttl; ///< ttl is the hop limit for IPv6
    std::optional<std::uint32_t> flowLabel;
    std::optional<PortSpec> srcPort, dstPort;
    std::optional<std::uint8_t> tcpFlags;
    std::optional<std::uint8_t> icmpType, icmpCode; ///< icmp for IPv4, icmpv6 for IPv6
    std::optional<MacSpec> srcMac, dstMac;
    std::optional<std::uint16_t> ethertype;
    std::optional<Initiator> initiatedBy;
    Verdict verdict = Verdict::Accept;
    /// RFC 8519 logging action (log-syslog): matching packets are also sent to the nflog
    /// group (new flows only: established traffic is accepted before the policy).
    bool log = false;
    bool operator==(const Rule&) const = default;
};

/// A policy shared by every device with the same MUD file (and local variant).
struct Policy {
    std::string id; ///< stable, [a-z0-9]{1,16}; names the policy's chains and sets
    std::string source; ///< the MUD URL (or local file name), for comments and audit
    std::vector<Rule> fromDevice, toDevice;
    bool operator==(const Policy&) const = default;
};

/// True when `id` is a valid policy id ([a-z0-9]{1,16}).
bool isValidPolicyId(std::string_view id);

} // namespace mudguard::enforcer
