#include "Names.h"

#include <array>
#include <utility>

namespace mudguard::enforcer::nftnames {

namespace {

template <std::size_t N>
std::optional<std::string_view> lookup(
    const std::array<std::pair<std::uint32_t, std::string_view>, N>& table, std::uint32_t v)
{
    for (const auto& [value, name] : table)
        if (value == v)
            return name;
    return std::nullopt;
}

constexpr auto kDscp = std::to_array<std::pair<std::uint32_t, std::string_view>>({
    { 0x00, "cs0" },
    { 0x01, "lephb" },
    { 0x08, "cs1" },
    { 0x0a, "af11" },
    { 0x0c, "af12" },
    { 0x0e, "af13" },
    { 0x10, "cs2" },
    { 0x12, "af21" },
    { 0x14, "af22" },
    { 0x16, "af23" },
    { 0x18, "cs3" },
    { 0x1a, "af31" },
    { 0x1c, "af32" },
    { 0x1e, "af33" },
    { 0x20, "cs4" },
    { 0x22, "af41" },
    { 0x24, "af42" },
    { 0x26, "af43" },
    { 0x28, "cs5" },
    { 0x2c, "va" },
    { 0x2e, "ef" },
    { 0x30, "cs6" },
    { 0x38, "cs7" },
});

constexpr auto kIcmpType = std::to_array<std::pair<std::uint32_t, std::string_view>>({
    { 0, "echo-reply" },
    { 3, "destination-unreachable" },
    { 4, "source-quench" },
    { 5, "redirect" },
    { 8, "echo-request" },
    { 9, "router-advertisement" },
    { 10, "router-solicitation" },
    { 11, "time-exceeded" },
    { 12, "parameter-problem" },
    { 13, "timestamp-request" },
    { 14, "timestamp-reply" },
    { 15, "info-request" },
    { 16, "info-reply" },
    { 17, "address-mask-request" },
    { 18, "address-mask-reply" },
});

constexpr auto kIcmpCode = std::to_array<std::pair<std::uint32_t, std::string_view>>({
    { 0, "net-unreachable" },
    { 1, "host-unreachable" },
    { 2, "prot-unreachable" },
    { 3, "port-unreachable" },
    { 4, "frag-needed" },
    { 9, "net-prohibited" },
    { 10, "host-prohibited" },
    { 13, "admin-prohibited" },
});

constexpr auto kIcmpv6Type = std::to_array<std::pair<std::uint32_t, std::string_view>>({
    { 1, "destination-unreachable" },
    { 2, "packet-too-big" },
    { 3, "time-exceeded" },
    { 4, "parameter-problem" },
    { 128, "echo-request" },
    { 129, "echo-reply" },
    { 130, "mld-listener-query" },
    { 131, "mld-listener-report" },
    { 132, "mld-listener-done" },
    { 133, "nd-router-solicit" },
    { 134, "nd-router-advert" },
    { 135, "nd-neighbor-solicit" },
    { 136, "nd-neighbor-advert" },
    { 137, "nd-redirect" },
    { 138, "router-renumbering" },
    { 141, "ind-neighbor-solicit" },
    { 142, "ind-neighbor-advert" },
    { 143, "mld2-listener-report" },
});

constexpr auto kIcmpv6Code = std::to_array<std::pair<std::uint32_t, std::string_view>>({
    { 0, "no-route" },
    { 1, "admin-prohibited" },
    { 3, "addr-unreachable" },
    { 4, "port-unreachable" },
    { 5, "policy-fail" },
    { 6, "reject-route" },
});

constexpr auto kEtherType = std::to_array<std::pair<std::uint32_t, std::string_view>>({
    { 0x0800, "ip" },
    { 0x0806, "arp" },
    { 0x86dd, "ip6" },
    { 0x8100, "8021q" },
    { 0x88a8, "8021ad" },
});

constexpr auto kProtocol = std::to_array<std::pair<std::uint32_t, std::string_view>>({
    { 0, "ip" },
    { 1, "icmp" },
    { 2, "igmp" },
    { 3, "ggp" },
    { 4, "ipencap" },
    { 5, "st" },
    { 6, "tcp" },
    { 8, "egp" },
    { 9, "igp" },
    { 12, "pup" },
    { 17, "udp" },
    { 20, "hmp" },
    { 22, "xns-idp" },
    { 27, "rdp" },
    { 29, "iso-tp4" },
    { 33, "dccp" },
    { 36, "xtp" },
    { 37, "ddp" },
    { 38, "idpr-cmtp" },
    { 41, "ipv6" },
    { 43, "ipv6-route" },
    { 44, "ipv6-frag" },
    { 45, "idrp" },
    { 46, "rsvp" },
    { 47, "gre" },
    { 50, "esp" },
    { 51, "ah" },
    { 57, "skip" },
    { 58, "ipv6-icmp" },
    { 59, "ipv6-nonxt" },
    { 60, "ipv6-opts" },
    { 73, "rspf" },
    { 81, "vmtp" },
    { 88, "eigrp" },
    { 89, "ospf" },
    { 93, "ax.25" },
    { 94, "ipip" },
    { 97, "etherip" },
    { 98, "encap" },
    { 103, "pim" },
    { 108, "ipcomp" },
    { 112, "vrrp" },
    { 115, "l2tp" },
    { 124, "isis" },
    { 132, "sctp" },
    { 133, "fc" },
    { 135, "mobility-header" },
    { 136, "udplite" },
    { 137, "mpls-in-ip" },
    { 138, "manet" },
    { 139, "hip" },
    { 140, "shim6" },
    { 141, "wesp" },
    { 142, "rohc" },
    { 143, "ethernet" },
});

constexpr std::array<std::string_view, 8> kTcpFlags { "fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr" };

} // namespace

std::optional<std::string_view> dscp(std::uint32_t v) { return lookup(kDscp, v); }
std::optional<std::string_view> icmpType(std::uint32_t v) { return lookup(kIcmpType, v); }
std::optional<std::string_view> icmpCode(std::uint32_t v) { return lookup(kIcmpCode, v); }
std::optional<std::string_view> icmpv6Type(std::uint32_t v) { return lookup(kIcmpv6Type, v); }
std::optional<std::string_view> icmpv6Code(std::uint32_t v) { return lookup(kIcmpv6Code, v); }
std::optional<std::string_view> etherType(std::uint32_t v) { return lookup(kEtherType, v); }

std::optional<std::string_view> protocol(std::uint32_t v) { return lookup(kProtocol, v); }

std::string_view tcpFlag(unsigned bit) { return bit < kTcpFlags.size() ? kTcpFlags[bit] : std::string_view("?"); }

} // namespace mudguard::enforcer::nftnames
