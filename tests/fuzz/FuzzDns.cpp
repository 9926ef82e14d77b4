// libFuzzer target for the DNS response parser: whole messages and packets copied from the wire.
// Built only with MUDGUARD_FUZZ (scripts/fuzz); seeds in tests/fuzz/dns/.

#include <cstddef>
#include <cstdint>
#include <span>

#include "mudguard/controller/Dns.h"

using namespace mudguard::controller::dns;

namespace {

void check(bool ok)
{
    if (!ok)
        __builtin_trap();
}

void exercise(const Message& m)
{
    for (const auto& q : m.questions) {
        // Escaped names stay bounded: 255 wire octets, at most 4 characters each.
        check(q.name.size() <= 4 * kMaxNameOctets);
        for (auto type : { Type::A, Type::Aaaa }) {
            auto a = extractAnswer(m, q.name, type);
            check(a.cnameChain.size() <= kMaxCnameChain);
            for (const auto& addr : a.addresses)
                check(addr.ttl <= kMaxTtl && addr.ttl >= a.ttl);
        }
        // A name we print must survive a round trip through a query when it is a host name.
        if (isValidHostName(q.name)) {
            auto wire = buildQuery(1, q.name, Type::A);
            check(parseMessage(wire).questions.at(0).name == q.name);
        }
    }
    (void)negativeTtl(m);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::span<const std::uint8_t> in(data, size);
    try {
        exercise(parseMessage(in));
    } catch (const ParseError&) {
    }
    try {
        if (auto seen = parseObservedPacket(in))
            check(seen->answer.addresses.empty() || seen->answer.ttl <= kMaxTtl);
    } catch (const ParseError&) {
    }
    return 0;
}
