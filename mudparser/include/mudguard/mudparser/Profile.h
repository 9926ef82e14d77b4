#pragma once
// The typed MUD profile: what a validated MUD file says, independent of libyang trees.
// Field names follow RFC 8520 (ietf-mud) and RFC 8519 (ietf-access-control-list,
// ietf-packet-fields); every optional member is absent when the file does not set it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mudguard::mudparser {

/// ietf-access-control-list forwarding actions (RFC 8519 section 4.1).
enum class Action { Accept, Drop, Reject };

/// ietf-mud direction-initiated (RFC 8520 section 2.1): who may open a TCP connection.
enum class Initiator { FromDevice, ToDevice };

/// ietf-packet-fields port-range-or-operator. RFC 8519's operators are inclusive: lte means
/// "port <= N" and gte "port >= N" (there are no strict lt/gt operators).
enum class PortOp { Eq, Lte, Gte, Neq, Range };

struct PortMatch {
    PortOp op = PortOp::Eq;
    std::uint16_t port = 0; ///< the port for eq/lte/gte/neq; the lower port for a range
    std::uint16_t upper = 0; ///< the upper port of a range (inclusive); unused otherwise
    bool operator==(const PortMatch&) const = default;
};

/// A prefix in canonical text form ("192.0.2.0/24", "2001:db8::/32").
struct Network {
    std::string prefix;
    bool operator==(const Network&) const = default;
};

/// ipv4 or ipv6 header matches (ietf-packet-fields plus ietf-acldns).
struct IpMatch {
    unsigned version = 4; ///< 4 or 6
    std::optional<std::uint8_t> protocol; ///< "protocol" (ipv4) / "protocol" (next-header, ipv6)
    std::optional<std::uint8_t> dscp;
    std::optional<std::uint8_t> ttl; ///< "ttl" (ipv4) or "ttl" (hop limit, ipv6)
    std::optional<std::uint32_t> flowLabel; ///< ipv6 only
    std::optional<Network> srcNetwork, dstNetwork;
    std::optional<std::string> srcDnsName, dstDnsName; ///< ietf-acldns
    bool operator==(const IpMatch&) const = default;
};

/// tcp matches; direction-initiated is the ietf-mud augment.
struct TcpMatch {
    std::optional<PortMatch> srcPort, dstPort;
    std::optional<std::uint8_t> flags; ///< RFC 8519 "flags" bits: cwr ece urg ack psh rst syn fin (MSB..LSB)
    std::optional<Initiator> directionInitiated;
    bool operator==(const TcpMatch&) const = default;
};

struct UdpMatch {
    std::optional<PortMatch> srcPort, dstPort;
    bool operator==(const UdpMatch&) const = default;
};

/// icmp (ipv4 ACLs) or icmpv6 (ipv6 ACLs) type and code.
struct IcmpMatch {
    std::optional<std::uint8_t> type, code;
    bool operator==(const IcmpMatch&) const = default;
};

/// A MAC address with an optional mask, both in lower-case "aa:bb:cc:dd:ee:ff" form.
struct MacMatch {
    std::string address;
    std::optional<std::string> mask;
    bool operator==(const MacMatch&) const = default;
};

/// eth matches (ietf-packet-fields).
struct EthMatch {
    std::optional<MacMatch> src, dst;
    std::optional<std::uint16_t> ethertype;
    bool operator==(const EthMatch&) const = default;
};

/// The six MUD matches of RFC 8520 section 8 (at most one is set, as YANG allows any
/// combination the parser keeps all that are present).
struct MudMatch {
    std::optional<std::string> manufacturer; ///< an authority (host name)
    bool sameManufacturer = false;
    std::optional<std::string> model; ///< a MUD URL
    bool localNetworks = false;
    std::optional<std::string> controller; ///< a class URI
    bool myController = false;
    bool operator==(const MudMatch&) const = default;
};

struct Matches {
    std::optional<IpMatch> ip;
    std::optional<TcpMatch> tcp;
    std::optional<UdpMatch> udp;
    std::optional<IcmpMatch> icmp;
    std::optional<EthMatch> eth;
    std::optional<MudMatch> mud;
    /// Matches that are valid YANG but that this model does not carry (for example ipv4
    /// "identification" or tcp "window-size"), as JSON paths. The enforcer refuses an ACE
    /// that has any, naming the ACE, instead of silently ignoring them.
    std::vector<std::string> unsupported;
    bool operator==(const Matches&) const = default;
};

struct Ace {
    std::string name;
    Matches matches;
    Action action = Action::Drop;
    bool logSyslog = false; ///< actions/logging is log-syslog (the default is log-none)
    bool operator==(const Ace&) const = default;
};

/// RFC 8519 acl-type identities, reduced to what the enforcer needs to know.
enum class AclType { Ipv4, Ipv6, Eth, MixedEthIpv4, MixedEthIpv6, MixedEthIpv4Ipv6 };

struct Acl {
    std::string name;
    AclType type = AclType::Ipv4;
    std::vector<Ace> aces;
    bool operator==(const Acl&) const = default;
};

/// RFC 9472 transparency extension: where SBOMs and vulnerability information live.
struct Transparency {
    struct Sbom {
        std::optional<std::string> versionInfo;
        std::string url;
        bool operator==(const Sbom&) const = default;
    };
    std::vector<Sbom> sboms; ///< case "cloud"
    std::optional<std::string> sbomLocalWellKnown; ///< case "local-well-known" (identity name)
    std::optional<std::string> sbomContactUri; ///< case "sbom-contact-info"
    std::optional<std::string> sbomArchiveList;
    std::vector<std::string> vulnUrls; ///< case "cloud"
    std::optional<std::string> vulnContactUri; ///< case "vuln-contact-info"
    bool operator==(const Transparency&) const = default;
};

/// Extension data that is recognised but not modelled (for example RFC 9761 ietf-mud-tls):
/// carried verbatim as compact JSON so that auditors can see it.
struct OpaqueExtension {
    std::string module;
    std::string json; ///< the member's value
    std::string path; ///< where the member was ("/ietf-mud:mud/ietf-mud-tls:is-tls-dtls-profile-supported")
    bool operator==(const OpaqueExtension&) const = default;
};

struct Profile {
    // ietf-mud metadata
    std::string mudUrl;
    std::uint8_t mudVersion = 1;
    std::string lastUpdate;
    std::uint8_t cacheValidity = 48; ///< hours, 1..168
    bool isSupported = true;
    std::optional<std::string> systeminfo, mfgName, modelName, firmwareRev, softwareRev, documentation;
    std::optional<std::string> mudSignature;
    std::vector<std::string> extensions;

    /// ACL names in policy order.
    std::vector<std::string> fromDevicePolicy, toDevicePolicy;
    /// Every ACL of the file, in file order.
    std::vector<Acl> acls;

    std::optional<Transparency> transparency;
    std::vector<OpaqueExtension> opaqueExtensions;

    /// The ACL with this name, or nullptr.
    const Acl* findAcl(const std::string& name) const;

    bool operator==(const Profile&) const = default;
};

} // namespace mudguard::mudparser
