#include "mudguard/controller/Model.h"

#include <array>
#include <cctype>

#include <arpa/inet.h>

namespace mudguard::controller {
namespace {

constexpr std::array<const char*, 5> kStateNames = { "pending", "fetching", "enforced", "failed", "quarantined" };
constexpr std::array<const char*, 4> kSourceNames = { "dhcp", "dhcpv6", "lldp", "admin" };
constexpr std::array<const char*, 3> kAssuranceNames = { "asserted", "certificate", "admin" };
constexpr std::array<const char*, 9> kStageNames
    = { "url", "fetch", "signature", "signer", "validation", "translation", "kernel", "store", "limit" };

template <typename E, std::size_t N> const char* nameOf(const std::array<const char*, N>& names, E v) noexcept
{
    auto i = static_cast<std::size_t>(v);
    return i < names.size() ? names[i] : "?";
}

template <typename E, std::size_t N>
std::optional<E> parseName(const std::array<const char*, N>& names, std::string_view s) noexcept
{
    for (std::size_t i = 0; i < names.size(); ++i)
        if (s == names[i])
            return static_cast<E>(i);
    return std::nullopt;
}

} // namespace

const char* toString(DeviceState s) noexcept { return nameOf(kStateNames, s); }
const char* toString(DeviceSource s) noexcept { return nameOf(kSourceNames, s); }
const char* toString(Assurance a) noexcept { return nameOf(kAssuranceNames, a); }
const char* toString(FailureStage s) noexcept { return nameOf(kStageNames, s); }

std::optional<DeviceState> parseDeviceState(std::string_view s) noexcept
{
    return parseName<DeviceState>(kStateNames, s);
}

std::optional<DeviceSource> parseDeviceSource(std::string_view s) noexcept
{
    return parseName<DeviceSource>(kSourceNames, s);
}

std::optional<FailureStage> parseFailureStage(std::string_view s) noexcept
{
    return parseName<FailureStage>(kStageNames, s);
}

std::vector<FailureStage> allFailureStages()
{
    std::vector<FailureStage> out;
    for (std::size_t i = 0; i < kStageNames.size(); ++i)
        out.push_back(static_cast<FailureStage>(i));
    return out;
}

std::optional<std::string> canonicalMac(std::string_view s)
{
    if (s.size() != 17)
        return std::nullopt;
    char sep = s[2];
    if (sep != ':' && sep != '-')
        return std::nullopt;
    std::string out(17, ':');
    for (std::size_t i = 0; i < 17; ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (i % 3 == 2) {
            if (c != static_cast<unsigned char>(sep))
                return std::nullopt;
            continue;
        }
        if (!std::isxdigit(c))
            return std::nullopt;
        out[i] = static_cast<char>(std::tolower(c));
    }
    return out;
}

std::optional<std::string> canonicalIp(std::string_view s)
{
    if (s.empty() || s.size() >= INET6_ADDRSTRLEN)
        return std::nullopt;
    std::string in(s);
    unsigned char buf[16];
    char out[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, in.c_str(), buf) == 1)
        return std::string(inet_ntop(AF_INET, buf, out, sizeof out));
    if (inet_pton(AF_INET6, in.c_str(), buf) == 1)
        return std::string(inet_ntop(AF_INET6, buf, out, sizeof out));
    return std::nullopt;
}

} // namespace mudguard::controller
