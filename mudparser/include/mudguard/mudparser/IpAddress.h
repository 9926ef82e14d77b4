#pragma once
// IPv4 and IPv6 addresses and prefixes as plain values, for the server-side request forgery guard.

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sockaddr;

namespace mudguard::mudparser {

/// An IPv4 or IPv6 address. IPv4 addresses keep their 4 bytes in the first 4 of `bytes`.
class IpAddress {
public:
    IpAddress() = default;
    static IpAddress v4(std::uint32_t hostOrder);
    static IpAddress v6(const std::array<std::uint8_t, 16>& bytes);

    /// Strict text forms only: dotted quad ("192.0.2.1") or RFC 4291 text ("2001:db8::1"),
    /// no zone index, no shortened IPv4 forms such as "127.1".
    static std::optional<IpAddress> parse(std::string_view text);
    /// From an AF_INET or AF_INET6 socket address; nullopt for other families.
    static std::optional<IpAddress> fromSockaddr(const sockaddr* sa);

    bool isV4() const { return m_family == 4; }
    bool isV6() const { return m_family == 6; }
    int family() const { return m_family; } ///< 4 or 6 (0 for a default-constructed value)
    const std::array<std::uint8_t, 16>& bytes() const { return m_bytes; }

    /// The embedded IPv4 address of an IPv4-mapped (::ffff:0:0/96) or NAT64 (64:ff9b::/96)
    /// IPv6 address; nullopt otherwise.
    std::optional<IpAddress> embeddedV4() const;

    std::string str() const;

    auto operator<=>(const IpAddress&) const = default;
    bool operator==(const IpAddress&) const = default;

private:
    int m_family = 0;
    std::array<std::uint8_t, 16> m_bytes {};
};

/// An address prefix ("192.0.2.0/24", "2001:db8::/32"). The host bits are cleared on parsing.
class IpPrefix {
public:
    IpPrefix() = default;
    IpPrefix(const IpAddress& address, unsigned length);

    /// "addr/len", or a bare address (a host prefix: /32 or /128).
    static std::optional<IpPrefix> parse(std::string_view text);

    const IpAddress& address() const { return m_address; }
    unsigned length() const { return m_length; }
    bool contains(const IpAddress& a) const;
    std::string str() const;

    bool operator==(const IpPrefix&) const = default;

private:
    IpAddress m_address;
    unsigned m_length = 0;
};

} // namespace mudguard::mudparser
