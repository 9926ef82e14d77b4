// Fuzzes the CMS signature decoder and verifier with arbitrary bytes as the signature: it must
// refuse everything it cannot verify, with a reason, and never crash or leak.

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mudguard/mudparser/Signature.h"

using namespace mudguard::mudparser;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static const auto anchors = TrustAnchors::systemStore();
    static const std::string_view content = "{\"ietf-mud:mud\": {\"mud-version\": 1}}\n";
    std::string_view sig(reinterpret_cast<const char*>(data), size);
    auto check = verifySignature(content, sig, *anchors);
    if (check.valid || check.code.empty() || check.message.empty())
        std::abort(); // nothing here is signed by a system CA
    return 0;
}
