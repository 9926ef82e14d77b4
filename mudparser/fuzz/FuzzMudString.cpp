// Fuzzes what devices and servers hand the trust code as text: the DHCP/LLDP MUD string, URLs,
// relative references (mud-signature, Location), addresses and the mud-signature scan.
// Besides not crashing, normalisation must be stable: parsing a normalised URL gives it back.

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mudguard/mudparser/IpAddress.h"
#include "mudguard/mudparser/MudString.h"
#include "mudguard/mudparser/TrustPipeline.h"
#include "mudguard/mudparser/Url.h"

using namespace mudguard::mudparser;

namespace {

void checkStable(const UrlResult& r)
{
    if (!r)
        return;
    auto again = Url::parse(r.url->str());
    if (!again || again.url->str() != r.url->str())
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto mud = parseMudString(in);
    checkStable(mud);
    if (mud && mud.url->str().size() > kMaxMudStringBytes + 8)
        std::abort();
    checkStable(Url::parse(in));
    static const Url base = *Url::parse("https://mud.example.com/devices/a/b.json?x=1").url;
    auto resolved = base.resolve(in);
    checkStable(resolved);
    if (mud)
        checkStable(mud.url->resolve("../sig/file.p7s"));
    if (auto a = IpAddress::parse(in)) {
        auto back = IpAddress::parse(a->str());
        if (!back || *back != *a)
            std::abort();
    }
    (void)IpPrefix::parse(in);
    (void)findMudSignature(in);
    return 0;
}
