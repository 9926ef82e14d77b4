// The compile step's refusals, names and element helpers.

#include "mudguard/enforcer/Layout.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "mudguard/enforcer/Error.h"
#include "mudguard/enforcer/Json.h"
#include "mudguard/enforcer/Render.h"

namespace mudguard::enforcer {
namespace {

Policy policyWith(Rule r) { return Policy { "p1", "https://example.com/p.json", { std::move(r) }, {} }; }

void expectRefused(Rule r, const std::string& fragment)
{
    r.name = "acl/ace";
    try {
        checkPolicy(policyWith(r));
        ADD_FAILURE() << "accepted; expected a refusal mentioning " << fragment;
    } catch (const CompileError& e) {
        EXPECT_EQ(e.rule(), "acl/ace");
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
}

TEST(Layout, RefusesInexpressibleRulesNamingThem)
{
    Rule ports;
    ports.dstPort = PortSpec::eq(80);
    expectRefused(ports, "port matches need protocol");

    Rule flags;
    flags.protocol = 17;
    flags.tcpFlags = kTcpSyn;
    expectRefused(flags, "tcp flags need protocol tcp");

    Rule initiated;
    initiated.protocol = 17;
    initiated.initiatedBy = Initiator::Device;
    expectRefused(initiated, "tcp only");

    Rule icmp;
    icmp.icmpType = 8;
    expectRefused(icmp, "icmp type and code need");

    Rule mixed;
    mixed.srcNet = Prefix::parse("192.0.2.0/24");
    mixed.dstNet = Prefix::parse("2001:db8::/32");
    expectRefused(mixed, "contradicts");

    Rule dscp;
    dscp.dscp = 12;
    expectRefused(dscp, "dscp and ttl need");

    Rule flow;
    flow.flowLabel = 0x100000;
    expectRefused(flow, "flow label");

    Rule range;
    range.protocol = 6;
    range.dstPort = PortSpec::range(10, 5);
    expectRefused(range, "empty");

    Rule icmpTcp;
    icmpTcp.family = Family::Ipv4;
    icmpTcp.protocol = 6;
    icmpTcp.icmpType = 8;
    expectRefused(icmpTcp, "icmp type and code need protocol");

    Rule v4icmp6;
    v4icmp6.family = Family::Ipv4;
    v4icmp6.protocol = 58;
    expectRefused(v4icmp6, "contradicts");

    Rule arpTcp;
    arpTcp.ethertype = 0x0806;
    arpTcp.protocol = 6;
    expectRefused(arpTcp, "ethertype ipv4 or ipv6 only, not 0x0806");

    Rule eapolDns;
    eapolDns.ethertype = 0x888e;
    eapolDns.dstSet = SetRef { SetRef::Kind::DnsName, "a.example.com" };
    expectRefused(eapolDns, "ethertype ipv4 or ipv6 only, not 0x888e");

    Rule ip4v6;
    ip4v6.ethertype = 0x0800;
    ip4v6.family = Family::Ipv6;
    expectRefused(ip4v6, "contradicts");

    Rule noKey;
    noKey.dstSet = SetRef { SetRef::Kind::DnsName, "" };
    expectRefused(noKey, "without a name");
}

TEST(Layout, RefusesBadIdsAndDuplicates)
{
    Policy bad { "Bad-Id", "", {}, {} };
    EXPECT_THROW(checkPolicy(bad), CompileError);
    Policy a { "a", "", {}, {} }, b { "a", "", {}, {} };
    EXPECT_THROW(compileLayout({ &a, &b }, {}, {}), CompileError);
    Config c;
    c.holdUnmanaged = true;
    EXPECT_THROW(compileLayout({}, c, {}), CompileError);
    c.lanInterfaces = { "br0; flush ruleset" };
    EXPECT_THROW(compileLayout({}, c, {}), CompileError);
    Config extra;
    Rule r;
    r.name = "x";
    r.verdict = Verdict::Drop;
    extra.infrastructure.extra.push_back(r);
    EXPECT_THROW(compileLayout({}, extra, {}), CompileError);
}

TEST(Layout, NamesAreDerivedFromTypedValues)
{
    EXPECT_EQ(names::policyChain("abc", Direction::FromDevice), "p_abc_from");
    EXPECT_EQ(names::memberSet("abc", ir::KeyType::Ipv6Addr), "p_abc_ip6");
    EXPECT_EQ(names::holdSet(Hold::Quarantine, ir::KeyType::EtherAddr), "quarantine_mac");
    EXPECT_EQ(names::managedSet(ir::KeyType::Ipv4Addr), "managed_ip4");
    SetRef hostile { SetRef::Kind::DnsName, "evil\"; flush ruleset; \"" };
    std::string n = names::classSet(hostile, ir::KeyType::Ipv4Addr);
    EXPECT_EQ(n.size(), std::string("dns_0123456789abcdef_ip4").size());
    EXPECT_EQ(n.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_"), std::string::npos);
    EXPECT_EQ(names::classSet(SetRef { SetRef::Kind::LocalNetworks, "" }, ir::KeyType::Ipv6Addr), "lan_ip6");
    // The same key always gives the same name (a restart finds its sets again).
    EXPECT_EQ(names::classSet(hostile, ir::KeyType::Ipv4Addr), n);
    EXPECT_EQ(ir::sanitize("a\"b\\c\n$d"), "a_b_c__d");
}

TEST(Layout, HostileStringsNeverReachTheTextUnescaped)
{
    Rule r;
    r.name = "acl\"/ace\" drop; #";
    r.protocol = 6;
    r.dstSet = SetRef { SetRef::Kind::DnsName, "x\" } flush ruleset {" };
    Policy p { "p", "https://e.com/\"; delete table inet filter", { r }, {} };
    auto layout = compileLayout({ &p }, {}, {});
    std::string text = render(layout.inet);
    // Quotes in user strings are replaced, so every hostile fragment stays inside a comment.
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        std::string line = text.substr(start, end - start);
        start = end == std::string::npos ? text.size() : end + 1;
        EXPECT_EQ(std::count(line.begin(), line.end(), '"') % 2, 0) << line;
        auto hostile = line.find("flush ruleset");
        if (hostile != std::string::npos) {
            EXPECT_NE(line.rfind("comment \"", hostile), std::string::npos) << line;
        }
    }
    EXPECT_EQ(text.find("\"; delete"), std::string::npos);
    EXPECT_NE(text.find("comment \"acl_/ace_ drop; #\""), std::string::npos);
}

TEST(Layout, ClassElements)
{
    ir::ElementMap m;
    SetRef lan { SetRef::Kind::LocalNetworks, "" };
    addClassElements(
        m, lan, ir::TableFamily::Inet, { *Prefix::parse("192.168.0.0/16"), *Prefix::parse("fd00::/8") }, {});
    ASSERT_EQ(m["lan_ip4"].size(), 1u);
    EXPECT_EQ(m["lan_ip4"][0].bits, 16);
    ASSERT_EQ(m["lan_ip6"].size(), 1u);
    SetRef mfr { SetRef::Kind::Manufacturer, "example.com" };
    ir::ElementMap b;
    addClassElements(
        b, mfr, ir::TableFamily::Bridge, { *Prefix::parse("192.0.2.1") }, { *MacAddress::parse("02:00:00:00:00:01") });
    EXPECT_EQ(b.size(), 1u);
    EXPECT_EQ(b.begin()->second.size(), 1u);
    ir::ElementMap i;
    // Prefixes are dropped from sets of host addresses.
    addClassElements(
        i, mfr, ir::TableFamily::Inet, { *Prefix::parse("192.0.2.0/24"), *Prefix::parse("192.0.2.1") }, {});
    EXPECT_EQ(i[names::classSet(mfr, ir::KeyType::Ipv4Addr)].size(), 1u);
    SetRef dns { SetRef::Kind::DnsName, "a.example.com" };
    ir::ElementMap d;
    addClassElements(d, dns, ir::TableFamily::Inet, { *Prefix::parse("192.0.2.1") }, {}, 300000);
    auto set = ir::SetDef { names::classSet(dns, ir::KeyType::Ipv4Addr), ir::KeyType::Ipv4Addr, false, true };
    EXPECT_EQ(renderElement(set, d[set.name].at(0)), "192.0.2.1 timeout 5m");
}

TEST(Layout, AddressParsing)
{
    EXPECT_FALSE(Prefix::parse("192.0.2.1/24"));
    EXPECT_FALSE(Prefix::parse("192.0.2.0/33"));
    EXPECT_FALSE(Prefix::parse("2001:db8::/129"));
    EXPECT_FALSE(Prefix::parse("192.0.2.0/"));
    EXPECT_EQ(Prefix::parse("2001:DB8::/32")->toString(), "2001:db8::/32");
    EXPECT_EQ(Prefix::parse("192.0.2.7")->toString(), "192.0.2.7");
    EXPECT_FALSE(MacAddress::parse("02:00:00:00:00"));
    EXPECT_FALSE(MacAddress::parse("02:00:00:00:00:0g"));
    EXPECT_EQ(MacAddress::parse("02-AA-00-00-00-01")->toString(), "02:aa:00:00:00:01");
    EXPECT_EQ(renderDuration(0), "0ms");
    EXPECT_EQ(renderDuration(90061001), "1d1h1m1s1ms");
    EXPECT_EQ(renderDuration(3600000), "1h");
}

TEST(Layout, JsonRoundTrip)
{
    Rule r;
    r.name = "a/b";
    r.family = Family::Ipv6;
    r.protocol = 6;
    r.dstSet = SetRef { SetRef::Kind::Controller, "urn:x" };
    r.srcPort = PortSpec::range(1, 2);
    r.dstPort = PortSpec::neq(3);
    r.srcMac = MacSpec {};
    r.srcMac->address = *MacAddress::parse("02:00:00:00:00:01");
    r.srcMac->mask = *MacAddress::parse("ff:ff:00:00:00:00");
    r.initiatedBy = Initiator::Remote;
    r.verdict = Verdict::Reject;
    Policy p { "p", "s", { r }, { r } };
    EXPECT_EQ(json::parsePolicy(json::toJson(p)), p);
    EXPECT_THROW(json::parsePolicy(std::string(100, '[')), Error);
    EXPECT_THROW(json::parsePolicy("{\"id\": \"p\", \"bogus\": 1}"), Error);
}

} // namespace
} // namespace mudguard::enforcer
