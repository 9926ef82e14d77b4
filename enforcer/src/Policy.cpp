#include "mudguard/enforcer/Policy.h"

#include <cctype>
#include <charconv>

#include <arpa/inet.h>
#include <fmt/format.h>

#include "mudguard/enforcer/Config.h"
#include "mudguard/enforcer/Error.h"

namespace mudguard::enforcer {

namespace {

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

} // namespace

std::optional<MacAddress> MacAddress::parse(std::string_view text)
{
    if (text.size() != 17)
        return std::nullopt;
    MacAddress m;
    for (std::size_t i = 0; i < 6; ++i) {
        int hi = hexValue(text[i * 3]), lo = hexValue(text[i * 3 + 1]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        if (i < 5 && text[i * 3 + 2] != ':' && text[i * 3 + 2] != '-')
            return std::nullopt;
        m.bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return m;
}

std::string MacAddress::toString() const
{
    return fmt::format(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]);
}

std::optional<IpAddress> IpAddress::parse(std::string_view text)
{
    if (text.empty() || text.size() > 45)
        return std::nullopt;
    std::string s(text);
    IpAddress a;
    if (s.find(':') != std::string::npos) {
        a.family = Family::Ipv6;
        if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1)
            return std::nullopt;
    } else {
        a.family = Family::Ipv4;
        if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1)
            return std::nullopt;
    }
    return a;
}

std::string IpAddress::toString() const
{
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == Family::Ipv6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
    return buf;
}

std::optional<Prefix> Prefix::parse(std::string_view text)
{
    auto slash = text.find('/');
    auto addr = IpAddress::parse(text.substr(0, slash));
    if (!addr)
        return std::nullopt;
    Prefix p { *addr, static_cast<std::uint8_t>(addr->size() * 8) };
    if (slash != std::string_view::npos) {
        auto lenText = text.substr(slash + 1);
        unsigned len = 0;
        auto [end, ec] = std::from_chars(lenText.data(), lenText.data() + lenText.size(), len);
        if (ec != std::errc() || end != lenText.data() + lenText.size() || lenText.empty() || len > addr->size() * 8)
            return std::nullopt;
        p.length = static_cast<std::uint8_t>(len);
    }
    // Host bits beyond the length must be zero: "192.0.2.1/24" is a typo, not a network.
    for (std::size_t bit = p.length; bit < addr->size() * 8; ++bit)
        if (addr->bytes[bit / 8] & (0x80 >> (bit % 8)))
            return std::nullopt;
    return p;
}

std::string Prefix::toString() const
{
    if (isHost())
        return address.toString();
    return fmt::format("{}/{}", address.toString(), length);
}

const char* toString(SetRef::Kind k)
{
    switch (k) {
    case SetRef::Kind::DnsName:
        return "dns-name";
    case SetRef::Kind::LocalNetworks:
        return "local-networks";
    case SetRef::Kind::Controller:
        return "controller";
    case SetRef::Kind::MyController:
        return "my-controller";
    case SetRef::Kind::Manufacturer:
        return "manufacturer";
    case SetRef::Kind::Model:
        return "model";
    }
    return "?";
}

bool isValidPolicyId(std::string_view id)
{
    if (id.empty() || id.size() > 16)
        return false;
    for (char c : id)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return false;
    return true;
}

void validate(const Config& config)
{
    for (const auto& name : config.lanInterfaces) {
        // IFNAMSIZ is 16 including the terminating NUL; the name becomes an nft string.
        bool ok = !name.empty() && name.size() < 16;
        for (char c : name)
            ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
        if (!ok)
            throw CompileError("lan-interfaces", fmt::format("'{}' is not a valid interface name", name));
    }
    if (config.holdUnmanaged && config.lanInterfaces.empty())
        throw CompileError("hold-unmanaged", "holding unmanaged devices needs the LAN interfaces");
    if (config.logRatePerSecond == 0 || config.logRatePerSecond > 100000)
        throw CompileError("log-rate", "the log rate must be between 1 and 100000 per second");
    for (const auto& r : config.infrastructure.extra) {
        if (r.verdict != Verdict::Accept)
            throw CompileError(r.name, "an infrastructure allowance must accept");
        if (r.srcSet || r.dstSet)
            throw CompileError(r.name, "an infrastructure allowance cannot name an address set");
    }
}

} // namespace mudguard::enforcer
