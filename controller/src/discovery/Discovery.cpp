#include "mudguard/controller/Discovery.h"

#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "discovery/Hex.h"

namespace mudguard::controller {
std::optional<MacAddress> MacAddress::parse(std::string_view text)
{
    if (text.size() != 17)
        return std::nullopt;
    MacAddress mac;
    for (std::size_t i = 0; i < 6; ++i) {
        int hi = discovery::hexDigit(text[i * 3]), lo = discovery::hexDigit(text[i * 3 + 1]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        if (i < 5 && text[i * 3 + 2] != ':' && text[i * 3 + 2] != '-')
            return std::nullopt;
        mac.bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return mac;
}

std::string MacAddress::toString() const
{
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s;
    s.reserve(17);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i)
            s += ':';
        s += kHex[bytes[i] >> 4];
        s += kHex[bytes[i] & 0xf];
    }
    return s;
}

bool MacAddress::isZero() const
{
    for (auto b : bytes)
        if (b)
            return false;
    return true;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text)
{
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN)
        return std::nullopt;
    char buf[INET6_ADDRSTRLEN] = {};
    std::memcpy(buf, text.data(), text.size());
    IpAddress ip;
    if (::inet_pton(AF_INET, buf, ip.bytes.data()) == 1) {
        ip.family = AF_INET;
        return ip;
    }
    if (::inet_pton(AF_INET6, buf, ip.bytes.data()) == 1) {
        ip.family = AF_INET6;
        return ip;
    }
    return std::nullopt;
}

IpAddress IpAddress::fromBytes(int family, const void* data)
{
    IpAddress ip;
    ip.family = family;
    std::memcpy(ip.bytes.data(), data, family == AF_INET ? 4 : 16);
    return ip;
}

std::size_t IpAddress::size() const { return family == AF_INET ? 4 : 16; }

bool IpAddress::isV4() const { return family == AF_INET; }

std::string IpAddress::toString() const
{
    char buf[INET6_ADDRSTRLEN] = {};
    if (family != AF_INET && family != AF_INET6)
        return {};
    ::inet_ntop(family, bytes.data(), buf, sizeof buf);
    return buf;
}

bool IpAddress::isMulticast() const
{
    if (family == AF_INET)
        return (bytes[0] & 0xf0) == 0xe0 || (bytes[0] == 255 && bytes[1] == 255 && bytes[2] == 255 && bytes[3] == 255);
    return bytes[0] == 0xff;
}

bool IpAddress::isLinkLocal() const
{
    if (family == AF_INET)
        return bytes[0] == 169 && bytes[1] == 254;
    return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;
}

} // namespace mudguard::controller
