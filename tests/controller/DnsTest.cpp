#include "mudguard/controller/Dns.h"

#include <random>

#include <gtest/gtest.h>

#include "DnsWire.h"

namespace mudguard::controller::dns {
namespace {

TEST(DnsQuery, BuildsTheExactWireForm)
{
    auto q = buildQuery(0x1234, "Example.COM.", Type::A, 1232);
    Bytes want = Wire {}.header(0x1234, 0x0100, 1, 0, 0, 1).question("example.com", Type::A).opt(1232).b;
    EXPECT_EQ(q, want);
    auto plain = buildQuery(7, "a.b", Type::Aaaa, 0);
    EXPECT_EQ(plain, Wire {}.header(7, 0x0100, 1, 0).question("a.b", Type::Aaaa).b);
}

TEST(DnsQuery, RefusesNamesThatAreNotHostNames)
{
    for (const std::string& bad : std::vector<std::string> { "", ".", "a..b", "bad name", std::string("x\0y", 3),
             std::string(64, 'a') + ".com", std::string(254, 'a'), "caf\xc3\xa9.example", "a.b/c" })
        EXPECT_THROW(buildQuery(1, bad, Type::A), std::invalid_argument) << bad;
    std::string longest;
    for (int i = 0; i < 4; ++i)
        longest += std::string(i == 3 ? 61 : 63, 'a') + (i == 3 ? "" : ".");
    EXPECT_EQ(longest.size(), 253u);
    auto q = buildQuery(1, longest, Type::A, 0);
    EXPECT_EQ(parseMessage(q).questions[0].name, longest) << "255 octets in wire form is the limit";
    EXPECT_THROW(buildQuery(1, longest + "a", Type::A), std::invalid_argument);
    EXPECT_NO_THROW(buildQuery(1, "_srv-x.example", Type::A));
}

TEST(DnsParse, ReadsACompressedAnswer)
{
    auto w = Wire {}
                 .header(0xbeef, kResponse, 1, 2)
                 .question("www.example.com", Type::A)
                 .a(kQname, 300, { 192, 0, 2, 1 })
                 .a(kQname, 120, { 192, 0, 2, 2 });
    auto m = parseMessage(w.b);
    EXPECT_EQ(m.id, 0xbeef);
    EXPECT_TRUE(m.response);
    EXPECT_TRUE(m.recursionAvailable);
    EXPECT_FALSE(m.truncated);
    ASSERT_EQ(m.questions.size(), 1u);
    EXPECT_EQ(m.questions[0].name, "www.example.com");
    ASSERT_EQ(m.answers.size(), 2u);
    EXPECT_EQ(m.answers[1].name, "www.example.com");
    EXPECT_EQ(m.answers[1].ttl, 120u);
    EXPECT_EQ(m.answers[1].address->toString(), "192.0.2.2");
    auto a = extractAnswer(m, "WWW.Example.com.", Type::A);
    EXPECT_EQ(a.name, "www.example.com");
    ASSERT_EQ(a.addresses.size(), 2u);
    EXPECT_EQ(a.ttl, 120u);
    EXPECT_EQ(a.addresses[0].ttl, 300u);
    EXPECT_TRUE(extractAnswer(m, "www.example.com", Type::Aaaa).addresses.empty());
}

TEST(DnsParse, FollowsCnameChainsWithTheSmallestTtl)
{
    Wire w;
    w.header(1, kResponse, 1, 5).question("www.example.com", Type::Aaaa);
    // www.example.com CNAME cdn.example.net (300)
    w.pointer(kQname).u16(5).u16(kClassIn).u32(300).u16(17).name("cdn.example.net");
    unsigned cdn = static_cast<unsigned>(w.b.size() - 17);
    // cdn.example.net CNAME edge.cdn.net (60)
    w.pointer(cdn).u16(5).u16(kClassIn).u32(60).u16(14).name("edge.cdn.net");
    unsigned edge = static_cast<unsigned>(w.b.size() - 14);
    Bytes v6(16, 0);
    v6[0] = 0x20, v6[1] = 0x01, v6[2] = 0x0d, v6[3] = 0xb8, v6[15] = 1;
    w.a(edge, 600, v6);
    // A poisoning attempt: an address for a name nobody asked about.
    w.name("bank.example").u16(28).u16(kClassIn).u32(600).u16(16).raw(v6);
    // The same address again, with a lower TTL: merged.
    w.a(edge, 30, v6);
    auto m = parseMessage(w.b);
    auto a = extractAnswer(m, "www.example.com", Type::Aaaa);
    EXPECT_EQ(a.cnameChain, (std::vector<std::string> { "cdn.example.net", "edge.cdn.net" }));
    ASSERT_EQ(a.addresses.size(), 1u);
    EXPECT_EQ(a.addresses[0].address.toString(), "2001:db8::1");
    EXPECT_EQ(a.addresses[0].ttl, 30u);
    EXPECT_EQ(a.ttl, 30u);
}

TEST(DnsParse, CnameLoopsEnd)
{
    Wire w;
    w.header(1, kResponse, 1, 2).question("a.test", Type::A);
    w.pointer(kQname).u16(5).u16(kClassIn).u32(60).u16(8).name("b.test");
    unsigned b = static_cast<unsigned>(w.b.size() - 8);
    w.pointer(b).u16(5).u16(kClassIn).u32(60).u16(2).pointer(kQname);
    auto a = extractAnswer(parseMessage(w.b), "a.test", Type::A);
    EXPECT_EQ(a.cnameChain, std::vector<std::string> { "b.test" });
    EXPECT_TRUE(a.addresses.empty());
    EXPECT_EQ(a.ttl, 0u);
}

void expectMalformed(const Bytes& b, const std::string& fragment)
{
    try {
        parseMessage(b);
        ADD_FAILURE() << "accepted; expected an error containing \"" << fragment << "\"";
    } catch (const ParseError& e) {
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
}

TEST(DnsParse, RefusesPointerLoopsAndForwardPointers)
{
    // A pointer to itself.
    expectMalformed(Wire {}.header(1, kResponse, 1, 0).pointer(12).u16(1).u16(1).b, "does not point backwards");
    // A pointer forward.
    expectMalformed(
        Wire {}.header(1, kResponse, 1, 0).pointer(20).u16(1).u16(1).u32(0).u8(0).b, "does not point backwards");
    // A label followed by a pointer back to that label: a loop of backward jumps.
    expectMalformed(
        Wire {}.header(1, kResponse, 1, 0).u8(1).u8('a').pointer(12).u16(1).u16(1).b, "does not point backwards");
    // Two names pointing at each other through earlier targets.
    expectMalformed(Wire {}
                        .header(1, kResponse, 2, 0)
                        .u8(1)
                        .u8('a')
                        .pointer(18)
                        .u16(1)
                        .u16(1)
                        .u8(1)
                        .u8('b')
                        .pointer(12)
                        .u16(1)
                        .u16(1)
                        .b,
        "does not point backwards");
}

TEST(DnsParse, RefusesOverlongNamesAndReservedLabelTypes)
{
    Wire longName;
    longName.header(1, kResponse, 1, 0);
    for (int i = 0; i < 5; ++i)
        longName.u8(63).raw(Bytes(63, 'a'));
    longName.u8(0).u16(1).u16(1);
    expectMalformed(longName.b, "longer than 255 octets");
    expectMalformed(Wire {}.header(1, kResponse, 1, 0).u8(0x41).u8(0).u16(1).u16(1).b, "unsupported label type");
    expectMalformed(Wire {}.header(1, kResponse, 1, 0).u8(0x81).u8(0).u16(1).u16(1).b, "unsupported label type");
    expectMalformed(Wire {}.header(1, kResponse, 1, 0).u8(5).u8('a').b, "label runs past the end");
    expectMalformed(Bytes { 0, 1, 2 }, "shorter than a header");
}

TEST(DnsParse, RefusesRecordsThatOverrunTheMessage)
{
    auto w = Wire {}.header(1, kResponse, 1, 1).question("x.test", Type::A);
    w.pointer(kQname).u16(1).u16(kClassIn).u32(60).u16(4).u8(192).u8(0);
    expectMalformed(w.b, "answer 1 rdata runs past the end");
    auto bad = Wire {}.header(1, kResponse, 1, 1).question("x.test", Type::A);
    bad.pointer(kQname).u16(1).u16(kClassIn).u32(60).u16(5).raw({ 192, 0, 2, 1, 9 });
    expectMalformed(bad.b, "A rdata of 5 octets");
    auto cname = Wire {}.header(1, kResponse, 1, 1).question("x.test", Type::A);
    cname.pointer(kQname).u16(5).u16(kClassIn).u32(60).u16(4).name("y.test");
    expectMalformed(cname.b, "");
    // Counts that promise more than the message holds.
    expectMalformed(Wire {}.header(1, kResponse, 1, 3).question("x.test", Type::A).b, "answer 1");
}

TEST(DnsParse, TruncatedResponsesKeepWhatIsComplete)
{
    auto w = Wire {}.header(9, kResponse | 0x0200, 1, 3).question("big.test", Type::A).a(kQname, 60, { 192, 0, 2, 1 });
    w.pointer(kQname).u16(1); // cut in the middle of the second record
    auto m = parseMessage(w.b);
    EXPECT_TRUE(m.truncated);
    EXPECT_TRUE(m.incomplete);
    ASSERT_EQ(m.answers.size(), 1u);
    EXPECT_EQ(extractAnswer(m, "big.test", Type::A).addresses.size(), 1u);
}

TEST(DnsParse, NegativeAnswersCarryTheSoaTtl)
{
    auto w = Wire {}.header(1, 0x8183, 1, 0, 1).question("nope.example", Type::A);
    // example SOA: owner "example" (inside the question name, offset 12 + 5), TTL 3600, minimum 300.
    w.pointer(kQname + 5).u16(6).u16(kClassIn).u32(3600);
    Wire rdata;
    rdata.name("ns.example").name("admin.example").u32(1).u32(2).u32(3).u32(4).u32(300);
    w.u16(static_cast<unsigned>(rdata.b.size())).raw(rdata.b);
    auto m = parseMessage(w.b);
    EXPECT_EQ(m.rcode, static_cast<std::uint8_t>(Rcode::NxDomain));
    EXPECT_EQ(negativeTtl(m), 300u);
    EXPECT_FALSE(negativeTtl(parseMessage(Wire {}.header(1, 0x8183, 1, 0).question("x.t", Type::A).b)));
}

TEST(DnsParse, TtlsWithTheTopBitAreZero)
{
    auto w = Wire {}.header(1, kResponse, 1, 1).question("x.test", Type::A).a(kQname, 0x80000001u, { 192, 0, 2, 1 });
    EXPECT_EQ(parseMessage(w.b).answers[0].ttl, 0u);
}

TEST(DnsParse, OddLabelBytesAreEscapedSoNamesCannotAlias)
{
    auto w = Wire {}.header(1, kResponse, 1, 0);
    w.u8(12).raw({ 'E', 'v', 'i', 'l', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e' }).u8(3).raw({ 'c', 'o', 'm' }).u8(0);
    w.u16(1).u16(1);
    auto m = parseMessage(w.b);
    EXPECT_EQ(m.questions[0].name, "evil\\046example.com");
    auto ctl = Wire {}.header(1, kResponse, 1, 0).u8(3).raw({ 'a', 0, '\\' }).u8(0).u16(1).u16(1);
    EXPECT_EQ(parseMessage(ctl.b).questions[0].name, "a\\000\\092");
}

TEST(DnsParse, MutatedMessagesNeverCrash)
{
    auto base = Wire {}
                    .header(0x4242, kResponse, 1, 2, 0, 1)
                    .question("www.example.com", Type::A)
                    .a(kQname, 300, { 192, 0, 2, 1 })
                    .a(kQname, 120, { 192, 0, 2, 2 })
                    .opt(1232)
                    .b;
    std::mt19937 rng(20240501);
    int parsed = 0, refused = 0;
    for (int i = 0; i < 20000; ++i) {
        Bytes m = base;
        int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; ++e) {
            switch (rng() % 3) {
            case 0:
                m[rng() % m.size()] = static_cast<std::uint8_t>(rng());
                break;
            case 1:
                m.resize(rng() % (m.size() + 1));
                break;
            default:
                m.insert(m.begin() + static_cast<long>(rng() % (m.size() + 1)), static_cast<std::uint8_t>(rng()));
                break;
            }
            if (m.empty())
                m.push_back(0);
        }
        try {
            auto msg = parseMessage(m);
            (void)extractAnswer(msg, "www.example.com", Type::A);
            (void)negativeTtl(msg);
            ++parsed;
        } catch (const ParseError&) {
            ++refused;
        }
    }
    EXPECT_GT(parsed, 0);
    EXPECT_GT(refused, 0);
}

// ---- packets seen on the wire ----

Bytes dnsAnswer(std::string_view name, Bytes addr, std::uint32_t ttl = 300, unsigned flags = kResponse)
{
    Type t = addr.size() == 4 ? Type::A : Type::Aaaa;
    return Wire {}.header(0x1111, flags, 1, 1).question(name, t).a(kQname, ttl, addr).b;
}

Bytes udp(unsigned sport, unsigned dport, const Bytes& payload, int lengthDelta = 0)
{
    return Wire {}
        .u16(sport)
        .u16(dport)
        .u16(static_cast<unsigned>(static_cast<int>(payload.size()) + 8 + lengthDelta))
        .u16(0)
        .raw(payload)
        .b;
}

Bytes ipv4(const Bytes& l4, unsigned proto = 17, unsigned frag = 0)
{
    return Wire {}
        .u8(0x45)
        .u8(0)
        .u16(static_cast<unsigned>(20 + l4.size()))
        .u16(0)
        .u16(frag)
        .u8(64)
        .u8(proto)
        .u16(0)
        .raw({ 192, 0, 2, 53 })
        .raw({ 198, 51, 100, 7 })
        .raw(l4)
        .b;
}

Bytes ipv6(const Bytes& l4, bool withDestOpts = false, unsigned next = 17)
{
    Bytes src(16, 0), dst(16, 0);
    src[0] = 0x20, src[1] = 0x01, src[2] = 0x0d, src[3] = 0xb8, src[15] = 0x53;
    dst[0] = 0x20, dst[1] = 0x01, dst[2] = 0x0d, dst[3] = 0xb8, dst[15] = 0x07;
    Bytes ext;
    if (withDestOpts)
        ext = { static_cast<std::uint8_t>(next), 0, 1, 4, 0, 0, 0, 0 }; // PadN
    return Wire {}
        .u32(0x60000000)
        .u16(static_cast<unsigned>(ext.size() + l4.size()))
        .u8(withDestOpts ? 60 : next)
        .u8(64)
        .raw(src)
        .raw(dst)
        .raw(ext)
        .raw(l4)
        .b;
}

TEST(DnsObserved, ReadsAnIpv4Answer)
{
    auto got = parseObservedPacket(ipv4(udp(53, 40000, dnsAnswer("Cdn.Example.net", { 203, 0, 113, 9 }, 42))));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->client.toString(), "198.51.100.7");
    EXPECT_EQ(got->server.toString(), "192.0.2.53");
    EXPECT_EQ(got->clientPort, 40000);
    EXPECT_EQ(got->type, Type::A);
    EXPECT_EQ(got->answer.name, "cdn.example.net");
    ASSERT_EQ(got->answer.addresses.size(), 1u);
    EXPECT_EQ(got->answer.addresses[0].address.toString(), "203.0.113.9");
    EXPECT_EQ(got->answer.ttl, 42u);
}

TEST(DnsObserved, ReadsAnIpv6AnswerBehindAnExtensionHeader)
{
    Bytes v6(16, 0);
    v6[0] = 0x20, v6[1] = 0x01, v6[2] = 0x0d, v6[3] = 0xb8, v6[15] = 0x99;
    auto got = parseObservedPacket(ipv6(udp(53, 5353, dnsAnswer("v6.example", v6)), true));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->client.toString(), "2001:db8::7");
    EXPECT_EQ(got->server.toString(), "2001:db8::53");
    EXPECT_EQ(got->type, Type::Aaaa);
    ASSERT_EQ(got->answer.addresses.size(), 1u);
    EXPECT_EQ(got->answer.addresses[0].address.toString(), "2001:db8::99");
}

TEST(DnsObserved, IgnoresWhatIsNotAnAnswer)
{
    auto answer = dnsAnswer("x.example", { 192, 0, 2, 1 });
    EXPECT_FALSE(parseObservedPacket(ipv4(udp(5353, 53, answer)))); // not from port 53
    EXPECT_FALSE(parseObservedPacket(ipv4(udp(53, 4000, answer), 6))); // TCP
    EXPECT_FALSE(parseObservedPacket(ipv4(udp(53, 4000, answer), 17, 0x2000))); // first fragment
    EXPECT_FALSE(parseObservedPacket(ipv4(udp(53, 4000, answer), 17, 0x0010))); // later fragment
    EXPECT_FALSE(parseObservedPacket(ipv6(udp(53, 4000, answer), true, 44))); // IPv6 fragment
    EXPECT_FALSE(
        parseObservedPacket(ipv4(udp(53, 4000, dnsAnswer("x.example", { 1, 2, 3, 4 }, 1, 0x0100))))); // a query
    EXPECT_FALSE(
        parseObservedPacket(ipv4(udp(53, 4000, dnsAnswer("x.example", { 1, 2, 3, 4 }, 1, 0x8183))))); // NXDOMAIN
}

TEST(DnsObserved, RefusesBrokenPackets)
{
    auto answer = dnsAnswer("x.example", { 192, 0, 2, 1 });
    EXPECT_THROW(parseObservedPacket(ipv4(udp(53, 4000, answer, 10))), ParseError); // UDP length too long
    auto shortIp = ipv4(udp(53, 4000, answer));
    shortIp.resize(shortIp.size() - 3); // total length now exceeds the buffer
    EXPECT_THROW(parseObservedPacket(shortIp), ParseError);
    EXPECT_THROW(parseObservedPacket(Bytes { 0x45, 0 }), ParseError);
    EXPECT_THROW(parseObservedPacket(Bytes { 0x75, 0, 0, 0 }), ParseError);
    EXPECT_THROW(parseObservedPacket(Bytes {}), ParseError);
    auto badDns = answer;
    badDns.resize(20);
    EXPECT_THROW(parseObservedPacket(ipv4(udp(53, 4000, badDns))), ParseError);
}

TEST(DnsAddress, ParsesAndPrints)
{
    EXPECT_EQ(IpAddress::parse("2001:DB8::1")->toString(), "2001:db8::1");
    EXPECT_EQ(IpAddress::parse("192.0.2.1")->family, 4);
    EXPECT_FALSE(IpAddress::parse("192.0.2"));
    EXPECT_EQ(normalizeName("WWW.Example.COM."), "www.example.com");
}

} // namespace
} // namespace mudguard::controller::dns
