#include "mudguard/mudparser/IpAddress.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace mudguard::mudparser {

IpAddress IpAddress::v4(std::uint32_t hostOrder)
{
    IpAddress a;
    a.m_family = 4;
    a.m_bytes[0] = static_cast<std::uint8_t>(hostOrder >> 24);
    a.m_bytes[1] = static_cast<std::uint8_t>(hostOrder >> 16);
    a.m_bytes[2] = static_cast<std::uint8_t>(hostOrder >> 8);
    a.m_bytes[3] = static_cast<std::uint8_t>(hostOrder);
    return a;
}

IpAddress IpAddress::v6(const std::array<std::uint8_t, 16>& bytes)
{
    IpAddress a;
    a.m_family = 6;
    a.m_bytes = bytes;
    return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text)
{
    if (text.empty() || text.size() > INET6_ADDRSTRLEN)
        return std::nullopt;
    std::string s(text);
    IpAddress a;
    // inet_pton(AF_INET) accepts only the strict dotted quad, unlike inet_aton.
    if (s.find(':') == std::string::npos) {
        if (inet_pton(AF_INET, s.c_str(), a.m_bytes.data()) != 1)
            return std::nullopt;
        a.m_family = 4;
        return a;
    }
    if (inet_pton(AF_INET6, s.c_str(), a.m_bytes.data()) != 1)
        return std::nullopt;
    a.m_family = 6;
    return a;
}

std::optional<IpAddress> IpAddress::fromSockaddr(const sockaddr* sa)
{
    if (!sa)
        return std::nullopt;
    IpAddress a;
    if (sa->sa_family == AF_INET) {
        sockaddr_in in;
        std::memcpy(&in, sa, sizeof in);
        std::memcpy(a.m_bytes.data(), &in.sin_addr, 4);
        a.m_family = 4;
        return a;
    }
    if (sa->sa_family == AF_INET6) {
        sockaddr_in6 in6;
        std::memcpy(&in6, sa, sizeof in6);
        std::memcpy(a.m_bytes.data(), &in6.sin6_addr, 16);
        a.m_family = 6;
        return a;
    }
    return std::nullopt;
}

std::optional<IpAddress> IpAddress::embeddedV4() const
{
    if (!isV6())
        return std::nullopt;
    static constexpr std::uint8_t kMapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    static constexpr std::uint8_t kNat64[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
    if (std::memcmp(m_bytes.data(), kMapped, 12) != 0 && std::memcmp(m_bytes.data(), kNat64, 12) != 0)
        return std::nullopt;
    IpAddress a;
    a.m_family = 4;
    std::memcpy(a.m_bytes.data(), m_bytes.data() + 12, 4);
    return a;
}

std::string IpAddress::str() const
{
    char buf[INET6_ADDRSTRLEN] = {};
    if (m_family == 4)
        inet_ntop(AF_INET, m_bytes.data(), buf, sizeof buf);
    else if (m_family == 6)
        inet_ntop(AF_INET6, m_bytes.data(), buf, sizeof buf);
    else
        return "(none)";
    return buf;
}

IpPrefix::IpPrefix(const IpAddress& address, unsigned length)
    : m_address(address)
    , m_length(std::min(length, address.isV4() ? 32u : 128u))
{
    // Clear the host bits so that equal prefixes compare equal.
    auto bytes = m_address.bytes();
    unsigned total = m_address.isV4() ? 4 : 16;
    for (unsigned i = 0; i < total; ++i) {
        unsigned bitsHere = m_length > i * 8 ? std::min(8u, m_length - i * 8) : 0;
        bytes[i] &= static_cast<std::uint8_t>(bitsHere == 0 ? 0 : (0xff << (8 - bitsHere)) & 0xff);
    }
    m_address = m_address.isV4() ? IpAddress::v4((std::uint32_t(bytes[0]) << 24) | (std::uint32_t(bytes[1]) << 16)
                    | (std::uint32_t(bytes[2]) << 8) | bytes[3])
                                 : IpAddress::v6(bytes);
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text)
{
    auto slash = text.find('/');
    auto address = IpAddress::parse(text.substr(0, slash));
    if (!address)
        return std::nullopt;
    unsigned max = address->isV4() ? 32 : 128;
    if (slash == std::string_view::npos)
        return IpPrefix(*address, max);
    auto lenText = text.substr(slash + 1);
    unsigned len = 0;
    auto [end, ec] = std::from_chars(lenText.data(), lenText.data() + lenText.size(), len);
    if (ec != std::errc() || end != lenText.data() + lenText.size() || lenText.empty() || len > max)
        return std::nullopt;
    return IpPrefix(*address, len);
}

bool IpPrefix::contains(const IpAddress& a) const
{
    if (a.family() != m_address.family())
        return false;
    const auto& x = a.bytes();
    const auto& p = m_address.bytes();
    unsigned full = m_length / 8;
    if (std::memcmp(x.data(), p.data(), full) != 0)
        return false;
    unsigned rest = m_length % 8;
    if (rest == 0)
        return true;
    auto mask = static_cast<std::uint8_t>((0xff << (8 - rest)) & 0xff);
    return (x[full] & mask) == p[full];
}

std::string IpPrefix::str() const { return m_address.str() + "/" + std::to_string(m_length); }

} // namespace mudguard::mudparser
