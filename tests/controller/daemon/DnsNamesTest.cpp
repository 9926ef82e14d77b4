// The DNS names of enforced policies, against a scripted server on 127.0.0.1: each name is
// queried again before the shortest of its answers expires.

#include "daemon/DnsNames.h"

#include <optional>
#include <utility>

#include <gtest/gtest.h>

#include "mudguard/controller/EventLoop.h"
#include "mudguard/controller/Log.h"

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

/// A DNS answer as the nflog copy carries it: IPv6, UDP from port 53.
dns::Bytes answerPacket(const dns::Bytes& from, const dns::Bytes& to, const dns::Bytes& answer)
{
    dns::Bytes udp = dns::Wire {}.u16(53).u16(40000).u16(static_cast<unsigned>(answer.size() + 8)).u16(0).raw(answer).b;
    return dns::Wire {}
        .u32(0x60000000)
        .u16(static_cast<unsigned>(udp.size()))
        .u8(17)
        .u8(64)
        .raw(from)
        .raw(to)
        .raw(udp)
        .b;
}

TEST(DnsNames, LearnsAnswersFromTheResolverOrFromTheRouterItself)
{
    EventLoop loop;
    dns::ScriptedServer server(loop, [](const dns::Message& q, int) {
        const auto& question = q.questions.at(0);
        return std::vector<dns::Bytes> { dns::Wire {}
                                             .header(q.id, dns::kResponse, 1, 0)
                                             .question(question.name, static_cast<dns::Type>(question.type))
                                             .b };
    });
    DnsNames::Options o;
    o.resolver = "127.0.0.1";
    o.port = server.port();
    DnsNames names(loop, o, {});
    names.track({ "cdn.example.com" });
    ASSERT_TRUE(loop.runUntil([&] { return names.settled(); }, 5s));

    // The router's IPv6 address answers a device: not the configured resolver address.
    dns::Bytes router(16, 0), device(16, 0), edge(16, 0);
    for (auto* a : { &router, &device, &edge })
        (*a)[0] = 0x20, (*a)[1] = 0x01, (*a)[2] = 0x0d, (*a)[3] = 0xb8;
    router[15] = 0x01, device[15] = 0x07, edge[15] = 0x41;
    auto answer = dns::Wire {}
                      .header(0x2222, dns::kResponse, 1, 1)
                      .question("cdn.example.com", dns::Type::Aaaa)
                      .a(dns::kQname, 60, edge)
                      .b;
    auto packet = answerPacket(router, device, answer);
    auto anyDevice = [](const std::string&) { return true; };

    std::vector<std::string> lines;
    log::setLevel(log::Category::Dns, log::Level::Debug);
    log::setSink([&](std::string_view line) { lines.emplace_back(line); });
    names.observe(packet, anyDevice); // forwarded: only the configured resolver is believed
    log::setSink({});
    log::setLevel(log::Category::Dns, log::Level::Info);
    EXPECT_TRUE(names.addresses("cdn.example.com").empty());
    EXPECT_EQ(names.stats().ignored, 1u);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("DNS_ANSWER_REJECTED"), std::string::npos) << lines[0];

    names.observe(packet, anyDevice, true); // sent by the router itself
    ASSERT_EQ(names.addresses("cdn.example.com"), std::vector<std::string> { "2001:db8::41" });
    EXPECT_EQ(names.stats().observed, 1u);

    names.observe(
        packet, [](const std::string&) { return false; }, true); // not to a managed device
    EXPECT_EQ(names.stats().ignored, 2u);
}

TEST(DnsNames, AFailingNameIsLoggedOnceAndItsAddressesAreLeftToExpire)
{
    EventLoop loop;
    dns::ScriptedServer server(loop, [](const dns::Message& q, int) {
        const auto& question = q.questions.at(0);
        // SERVFAIL: the response flags with rcode 2.
        return std::vector<dns::Bytes> { dns::Wire {}
                                             .header(q.id, dns::kResponse | 2, 1, 0)
                                             .question(question.name, static_cast<dns::Type>(question.type))
                                             .b };
    });
    DnsNames::Options o;
    o.resolver = "127.0.0.1";
    o.port = server.port();
    std::vector<std::string> lines;
    log::setSink([&](std::string_view line) { lines.emplace_back(line); });
    DnsNames names(loop, o, {});
    names.track({ "broken.example.com" });
    bool settled = loop.runUntil([&] { return names.settled(); }, 5s);
    log::setSink({});
    ASSERT_TRUE(settled);
    EXPECT_TRUE(names.addresses("broken.example.com").empty());
    EXPECT_EQ(names.stats().failures, 2u); // A and AAAA
    std::size_t logged = 0;
    for (const auto& l : lines)
        if (l.find("DNS_RESOLVE_FAILED") != std::string::npos && l.find("broken.example.com") != std::string::npos)
            ++logged;
    EXPECT_EQ(logged, 1u) << "a failing name is logged once, not at every answer";
}

} // namespace
} // namespace mudguard::controller
