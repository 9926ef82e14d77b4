// The DNS names of enforced policies, against a scripted server on 127.0.0.1: each name is
// queried again before the shortest of its answers expires.

#include "daemon/DnsNames.h"

#include <optional>
#include <utility>

#include <gtest/gtest.h>

#include "mudguard/controller/EventLoop.h"

#include "DnsWire.h"
#include "ScriptedDnsServer.h"

using namespace std::chrono_literals;

namespace mudguard::controller {
namespace {

TEST(DnsNames, RefreshesWhenTheShortestAnswerIsDueWhicheverArrivesLast)
{
    EventLoop loop;
    // The A answer (TTL 1 s) is held until the AAAA query arrives; then both go out, so that the
    // AAAA's empty answer (no SOA: the 300 s default) is the last to arrive.
    std::optional<dns::Bytes> heldA;
    int aQueries = 0;
    dns::ScriptedServer server(loop, [&](const dns::Message& q, int) {
        const auto& question = q.questions.at(0);
        auto type = static_cast<dns::Type>(question.type);
        if (type == dns::Type::A) {
            ++aQueries;
            heldA = dns::Wire {}
                        .header(q.id, dns::kResponse, 1, 1)
                        .question(question.name, type)
                        .a(dns::kQname, 1, { 203, 0, 113, 40 })
                        .b;
            return std::vector<dns::Bytes> {};
        }
        std::vector<dns::Bytes> out;
        if (heldA)
            out.push_back(*std::exchange(heldA, std::nullopt));
        out.push_back(dns::Wire {}.header(q.id, dns::kResponse, 1, 0).question(question.name, type).b);
        return out;
    });
    DnsNames::Options o;
    o.resolver = "127.0.0.1";
    o.port = server.port();
    o.minTtl = 1;
    o.maxTtl = 3600;
    DnsNames names(loop, o, {});
    names.track({ "cdn.example.com" });
    ASSERT_TRUE(loop.runUntil([&] { return names.settled() && !heldA && server.queries() >= 2; }, 5s));
    ASSERT_TRUE(loop.runUntil([&] { return names.addresses("cdn.example.com").size() == 1; }, 5s));
    auto updates = names.takeUpdates();
    ASSERT_EQ(updates.size(), 1u);
    EXPECT_EQ(updates[0].first, "cdn.example.com");
    ASSERT_EQ(updates[0].second.size(), 1u);
    EXPECT_EQ(updates[0].second[0].address.toString(), "203.0.113.40");

    // The A record's set element lives 1 s plus a margin: it is asked again after about a second,
    // not after the AAAA answer's 300 s.
    EXPECT_TRUE(loop.runUntil([&] { return aQueries >= 2; }, 5s)) << "the name was not refreshed in time";
}

} // namespace
} // namespace mudguard::controller
