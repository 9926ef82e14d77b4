#pragma once
// Vocabulary shared by the device-discovery sources (dnsmasq hook, neighbour watcher, nflog
// reader, LLDP watcher): link-layer and IP addresses, and the error they throw.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mudguard/controller/Error.h"

namespace mudguard::controller {

/// A discovery source could not be set up or failed at run time (a system call or a C library
/// refused). Malformed input from the network never throws out of a `handleReadable()` call: it
/// is dropped and counted.
class DiscoveryError : public Error {
public:
    using Error::Error;
};

/// An Ethernet (EUI-48) address.
struct MacAddress {
    std::array<std::uint8_t, 6> bytes {};

    /// Accepts exactly "xx:xx:xx:xx:xx:xx" (hex digits, either case; '-' also accepted as separator).
    static std::optional<MacAddress> parse(std::string_view text);
    /// Lower case, colon separated.
    std::string toString() const;
    bool isMulticast() const { return bytes[0] & 0x01; }
    bool isZero() const;
    auto operator<=>(const MacAddress&) const = default;
};

/// An IPv4 or IPv6 address (family AF_INET or AF_INET6; IPv4 uses the first 4 bytes).
struct IpAddress {
    int family = 0;
    std::array<std::uint8_t, 16> bytes {};

    static std::optional<IpAddress> parse(std::string_view text);
    static IpAddress fromBytes(int family, const void* data);
    /// 4 for IPv4, 16 for IPv6.
    std::size_t size() const;
    std::string toString() const;
    bool isV4() const;
    bool isMulticast() const;
    bool isLinkLocal() const;
    auto operator<=>(const IpAddress&) const = default;
};

} // namespace mudguard::controller
