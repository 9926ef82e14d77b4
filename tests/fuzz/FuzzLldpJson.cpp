// libFuzzer target: lldpcli JSON documents (their strings come from LLDP neighbours) and the
// TLV hex decoding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mudguard/controller/LldpWatcher.h"

using namespace mudguard::controller;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        (void)parseLldpJson(text);
    } catch (const DiscoveryError&) {
    }
    if (auto bytes = decodeLldpHex(text); bytes && bytes->size() > kMaxLldpOuiInfo)
        __builtin_trap();
    return 0;
}
