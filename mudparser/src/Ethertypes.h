#pragma once
// The EtherTypes ietf-ethertypes (RFC 8519) names, and what each one's frames carry: the
// parser reads the names, and the ACE checks judge an ethertype against the IP matches of the
// same entry.

#include <array>
#include <cstdint>
#include <string_view>

namespace mudguard::mudparser {

/// What follows the Ethernet header of a frame with this EtherType.
enum class Payload {
    Ipv4,
    Ipv6,
    /// A tag, tunnel, label stack or session that may hold an IP packet further in (802.1Q,
    /// MPLS, PPPoE session, MACsec, ...): an IP match is not a contradiction.
    Encapsulation,
    /// A protocol of its own that is never an IP packet (ARP, EAPOL, LLDP, ...).
    NotIp,
};

struct Ethertype {
    std::string_view name;
    std::uint16_t value;
    Payload payload;
};

inline constexpr std::array<Ethertype, 46> kEthertypes = { {
    { "ipv4", 0x0800, Payload::Ipv4 },
    { "arp", 0x0806, Payload::NotIp },
    { "wlan", 0x0842, Payload::NotIp }, // Wake-on-LAN
    { "trill", 0x22F3, Payload::Encapsulation },
    { "srp", 0x22EA, Payload::NotIp },
    { "decnet", 0x6003, Payload::NotIp },
    { "rarp", 0x8035, Payload::NotIp },
    { "appletalk", 0x809B, Payload::NotIp },
    { "aarp", 0x80F3, Payload::NotIp },
    { "vlan", 0x8100, Payload::Encapsulation },
    { "ipx", 0x8137, Payload::NotIp },
    { "qnx", 0x8204, Payload::NotIp },
    { "ipv6", 0x86DD, Payload::Ipv6 },
    { "efc", 0x8808, Payload::NotIp }, // Ethernet flow control
    { "esp", 0x8809, Payload::NotIp }, // Ethernet slow protocols (LACP)
    { "cobranet", 0x8819, Payload::NotIp },
    { "mpls-unicast", 0x8847, Payload::Encapsulation },
    { "mpls-multicast", 0x8848, Payload::Encapsulation },
    { "pppoe-discovery", 0x8863, Payload::NotIp },
    { "pppoe-session", 0x8864, Payload::Encapsulation },
    { "intel-ans", 0x886D, Payload::NotIp },
    { "jumbo-frames", 0x8870, Payload::Encapsulation }, // LLC, which may carry SNAP-encapsulated IP
    { "homeplug", 0x887B, Payload::NotIp },
    { "eap", 0x888E, Payload::NotIp },
    { "profinet", 0x8892, Payload::NotIp },
    { "hyperscsi", 0x889A, Payload::NotIp },
    { "aoe", 0x88A2, Payload::NotIp },
    { "ethercat", 0x88A4, Payload::NotIp },
    { "provider-bridging", 0x88A8, Payload::Encapsulation },
    { "ethernet-powerlink", 0x88AB, Payload::NotIp },
    { "goose", 0x88B8, Payload::NotIp },
    { "gse", 0x88B9, Payload::NotIp },
    { "sv", 0x88BA, Payload::NotIp },
    { "lldp", 0x88CC, Payload::NotIp },
    { "sercos", 0x88CD, Payload::NotIp },
    { "wsmp", 0x88DC, Payload::NotIp },
    { "homeplug-av-mme", 0x88E1, Payload::NotIp },
    { "mrp", 0x88E3, Payload::NotIp },
    { "macsec", 0x88E5, Payload::Encapsulation },
    { "pbb", 0x88E7, Payload::Encapsulation },
    { "cfm", 0x8902, Payload::NotIp },
    { "fcoe", 0x8906, Payload::NotIp },
    { "fcoe-ip", 0x8914, Payload::NotIp }, // FCoE initialization protocol
    { "roce", 0x8915, Payload::NotIp },
    { "tte", 0x891D, Payload::NotIp },
    { "hsr", 0x892F, Payload::Encapsulation },
} };

/// The entry for `value`, or nullptr for numbers ietf-ethertypes does not name (they are not
/// judged).
inline const Ethertype* findEthertype(std::uint16_t value)
{
    for (const auto& e : kEthertypes)
        if (e.value == value)
            return &e;
    return nullptr;
}

inline const Ethertype* findEthertype(std::string_view name)
{
    for (const auto& e : kEthertypes)
        if (e.name == name)
            return &e;
    return nullptr;
}

} // namespace mudguard::mudparser
