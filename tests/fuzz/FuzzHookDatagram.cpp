// libFuzzer target: the hook datagram decoder (input from any local process that may write to the
// daemon's socket) and the dnsmasq argument mapping.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mudguard/controller/HookEvent.h"

using namespace mudguard::controller;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    try {
        auto event = decodeHookDatagram({ data, size });
        // Whatever decodes must encode back to something that decodes to the same event.
        auto again = decodeHookDatagram(encodeHookDatagram(event));
        if (!(again == event))
            __builtin_trap();
    } catch (const HookFormatError&) {
    }

    // The same bytes as dnsmasq arguments and environment: NUL-separated fields.
    std::vector<std::string> parts(1);
    for (std::size_t i = 0; i < size && parts.size() < 8; ++i) {
        if (data[i] == 0)
            parts.emplace_back();
        else
            parts.back() += static_cast<char>(data[i]);
    }
    std::vector<std::string> args(parts.begin(), parts.begin() + std::min<std::size_t>(parts.size(), 4));
    auto env = [&](const char* name) -> const char* {
        std::string n(name);
        if (n == "DNSMASQ_MUD_URL" && parts.size() > 4)
            return parts[4].c_str();
        if (n == "DNSMASQ_IAID" && parts.size() > 5)
            return parts[5].c_str();
        if (n == "DNSMASQ_MAC" && parts.size() > 6)
            return parts[6].c_str();
        if (n == "DNSMASQ_LEASE_EXPIRES" && parts.size() > 7)
            return parts[7].c_str();
        return nullptr;
    };
    try {
        if (auto e = leaseEventFromDnsmasq(args, env))
            (void)decodeHookDatagram(encodeHookDatagram(*e));
    } catch (const HookFormatError&) {
    }
    return 0;
}
