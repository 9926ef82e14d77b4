#pragma once
// The intermediate representation of mudguard's nftables state: tables, sets, chains and rules
// made of typed statements. The compile step produces it; two back ends consume it: the text
// renderer (exactly what `nft list table` prints) and the libnftnl encoder (the kernel batch).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace mudguard::enforcer::ir {

inline constexpr std::string_view kTableName = "mudguard";

enum class TableFamily { Inet, Bridge };
const char* toString(TableFamily f); ///< "inet" / "bridge"

enum class KeyType { EtherAddr, Ipv4Addr, Ipv6Addr };
std::size_t keyLength(KeyType k);

struct SetDef {
    std::string name;
    KeyType key = KeyType::Ipv4Addr;
    bool interval = false; ///< elements are prefixes
    bool timeout = false; ///< elements may carry timeouts
    bool dynamic = false; ///< updated from the packet path (`update @set { ... }`)
    bool counter = false; ///< every element carries a packet/byte counter
    std::optional<std::uint32_t> size;
    std::string comment;
    bool operator==(const SetDef&) const = default;
};

/// A set element: a key in network byte order; in interval sets a prefix of `bits` bits.
struct Element {
    std::vector<std::uint8_t> key;
    std::uint8_t bits = 0; ///< prefix length; key.size() * 8 for a single key
    std::optional<std::uint64_t> timeoutMs; ///< only in timeout sets
    bool operator==(const Element&) const = default;
    bool operator<(const Element& o) const { return key != o.key ? key < o.key : bits < o.bits; }
};

/// Set name -> elements.
using ElementMap = std::map<std::string, std::vector<Element>>;

enum class Field {
    EtherDaddr,
    EtherSaddr,
    EtherType,
    IpDscp,
    IpTtl,
    IpProtocol,
    IpSaddr,
    IpDaddr,
    Ip6Dscp,
    Ip6Flowlabel,
    Ip6Hoplimit,
    Ip6Saddr,
    Ip6Daddr,
    TcpSport,
    TcpDport,
    TcpFlags,
    UdpSport,
    UdpDport,
    IcmpType,
    IcmpCode,
    Icmpv6Type,
    Icmpv6Code,
    MetaNfproto, ///< inet: ipv4 (2) / ipv6 (10)
    MetaProtocol, ///< bridge: the ethertype, ip (0x0800) / ip6 (0x86dd)
    MetaL4proto,
    MetaIifname,
    CtState,
    CtDirection,
};

/// Protocol numbers as nftables names them.
inline constexpr std::uint32_t kNfprotoIpv4 = 2, kNfprotoIpv6 = 10;
inline constexpr std::uint32_t kEthIp = 0x0800, kEthIp6 = 0x86dd, kEthArp = 0x0806;
inline constexpr std::uint32_t kCtInvalid = 1, kCtEstablished = 2, kCtRelated = 4, kCtNew = 8, kCtUntracked = 64;
inline constexpr std::uint32_t kCtOriginal = 0, kCtReply = 1;

enum class Op { Eq, Neq, Lte, Gte, Range, NotRange, InSet, NotInSet };

/// One match. Integer fields use value/value2 (host order) and, for tcp flags, mask; address
/// fields (ether/ip/ip6 saddr/daddr) use addr (network order) with a prefix length (IP) or a mask
/// (MAC, empty = exact); iifname uses text; set lookups name the set in text.
struct Match {
    Field field = Field::MetaL4proto;
    Op op = Op::Eq;
    std::uint32_t value = 0, value2 = 0;
    std::optional<std::uint32_t> mask;
    std::vector<std::uint8_t> addr;
    std::uint8_t prefix = 0;
    std::vector<std::uint8_t> addrMask;
    std::string text;
    bool operator==(const Match&) const = default;
};

struct Counter {
    bool operator==(const Counter&) const = default;
};

/// `update @set { key }`: adds the packet's key to a dynamic set (refreshing its counter).
struct Update {
    std::string set;
    Field key = Field::EtherSaddr;
    bool operator==(const Update&) const = default;
};

struct Limit {
    unsigned perSecond = 10; ///< burst is nftables' default (5 packets)
    bool operator==(const Limit&) const = default;
};

struct Log {
    std::string prefix;
    std::uint16_t group = 0;
    bool operator==(const Log&) const = default;
};

struct Verdict {
    enum class Kind { Accept, Drop, Return, Jump, Goto, Reject };
    Kind kind = Kind::Accept;
    std::string chain; ///< Jump/Goto target
    bool operator==(const Verdict&) const = default;
};

using Stmt = std::variant<Match, Counter, Update, Limit, Log, Verdict>;

struct Rule {
    std::vector<Stmt> stmts;
    std::string comment;
    bool operator==(const Rule&) const = default;
};

enum class Hook { Forward, Input, Output };
const char* toString(Hook h);

struct Chain {
    std::string name;
    std::optional<Hook> hook; ///< base chains: type filter, priority filter, policy accept
    std::string comment;
    std::vector<Rule> rules;
    bool operator==(const Chain&) const = default;
};

struct Table {
    TableFamily family = TableFamily::Inet;
    std::vector<SetDef> sets;
    std::vector<Chain> chains;
    const SetDef* findSet(std::string_view name) const;
    const Chain* findChain(std::string_view name) const;
    bool operator==(const Table&) const = default;
};

/// Makes `s` safe inside an nft comment or log prefix: printable ASCII without quotes or
/// backslashes (others become '_'), at most `maxLength` bytes.
std::string sanitize(std::string_view s, std::size_t maxLength = 120);

} // namespace mudguard::enforcer::ir
