// Translation of parsed MUD profiles into the enforcer's policy model (hand-built profiles, so
// that the mapping is tested independently of the parser).

#include "Translate.h"

#include <gtest/gtest.h>

#include "mudguard/enforcer/Error.h"
#include "mudguard/enforcer/Layout.h"
#include "mudguard/enforcer/Render.h"

namespace mudguard::controller {
namespace {

using namespace mudguard::mudparser;
using enforcer::SetRef;

Profile profileWith(AclType type, Ace fromAce, std::optional<Ace> toAce = std::nullopt)
{
    Profile p;
    p.mudUrl = "https://Maker.Example.com:443/lightbulb2000.json";
    p.fromDevicePolicy = { "from" };
    p.acls.push_back(Acl { "from", type, { std::move(fromAce) } });
    if (toAce) {
        p.toDevicePolicy = { "to" };
        p.acls.push_back(Acl { "to", type, { std::move(*toAce) } });
    }
    return p;
}

Ace ace(std::string name, Matches m, Action a = Action::Accept) { return Ace { std::move(name), std::move(m), a }; }

std::string renderedFrom(const enforcer::Policy& p)
{
    auto rules = enforcer::compileRules(p, enforcer::Direction::FromDevice, enforcer::ir::TableFamily::Inet, {}, {});
    std::string out;
    for (const auto& r : rules)
        out += enforcer::renderRule(r) + "\n";
    return out;
}

TEST(Translate, Rfc8520ExampleShape)
{
    Matches from;
    from.ip = IpMatch { 4, 6, {}, {}, {}, {}, {}, {}, std::string("Service.BMS.example.com.") };
    from.tcp = TcpMatch { {}, PortMatch { PortOp::Eq, 443, 0 }, {}, Initiator::FromDevice };
    Matches to;
    to.ip = IpMatch { 4, 6, {}, {}, {}, {}, {}, std::string("service.bms.example.com"), {} };
    to.tcp = TcpMatch { PortMatch { PortOp::Eq, 443, 0 }, {}, {}, Initiator::FromDevice };
    auto p = translate(profileWith(AclType::Ipv4, ace("cl0-frdev", from), ace("cl0-todev", to)), "light");
    ASSERT_EQ(p.fromDevice.size(), 1u);
    const auto& r = p.fromDevice[0];
    EXPECT_EQ(r.name, "from/cl0-frdev");
    EXPECT_EQ(r.family, enforcer::Family::Ipv4);
    EXPECT_EQ(r.protocol, 6);
    EXPECT_EQ(r.dstSet, (SetRef { SetRef::Kind::DnsName, "service.bms.example.com" }));
    EXPECT_EQ(r.dstPort, enforcer::PortSpec::eq(443));
    EXPECT_EQ(r.initiatedBy, enforcer::Initiator::Device);
    ASSERT_EQ(p.toDevice.size(), 1u);
    EXPECT_EQ(p.toDevice[0].srcSet, (SetRef { SetRef::Kind::DnsName, "service.bms.example.com" }));
    EXPECT_EQ(p.toDevice[0].srcPort, enforcer::PortSpec::eq(443));
    EXPECT_EQ(p.source, "https://Maker.Example.com:443/lightbulb2000.json");
    EXPECT_EQ(renderedFrom(p),
        "ip daddr @" + enforcer::names::classSet(*r.dstSet, enforcer::ir::KeyType::Ipv4Addr)
            + " tcp dport 443 ct state new counter return comment \"from/cl0-frdev\"\n"
              "counter goto drop_from comment \"default deny\"\n");
}

TEST(Translate, PortOperatorsAreInclusive)
{
    Matches m;
    m.udp = UdpMatch { PortMatch { PortOp::Gte, 1024, 0 }, PortMatch { PortOp::Lte, 1023, 0 } };
    auto p = translate(profileWith(AclType::Ipv4, ace("a", m)), "p");
    EXPECT_EQ(p.fromDevice[0].srcPort, enforcer::PortSpec::gte(1024));
    EXPECT_EQ(p.fromDevice[0].dstPort, enforcer::PortSpec::lte(1023));
    EXPECT_EQ(p.fromDevice[0].protocol, 17);
    m.udp = UdpMatch { PortMatch { PortOp::Neq, 53, 0 }, PortMatch { PortOp::Range, 1000, 2000 } };
    p = translate(profileWith(AclType::Ipv4, ace("a", m)), "p");
    EXPECT_EQ(p.fromDevice[0].srcPort, enforcer::PortSpec::neq(53));
    EXPECT_EQ(p.fromDevice[0].dstPort, enforcer::PortSpec::range(1000, 2000));
}

TEST(Translate, MudClassesNameThePeer)
{
    struct Case {
        MudMatch mud;
        SetRef expected;
    };
    std::vector<Case> cases;
    cases.push_back({ MudMatch { std::string("Other.Example.org"), false, {}, false, {}, false },
        { SetRef::Kind::Manufacturer, "other.example.org" } });
    cases.push_back(
        { MudMatch { {}, true, {}, false, {}, false }, { SetRef::Kind::Manufacturer, "maker.example.com" } });
    cases.push_back({ MudMatch { {}, false, std::string("https://x.example/m.json"), false, {}, false },
        { SetRef::Kind::Model, "https://x.example/m.json" } });
    cases.push_back({ MudMatch { {}, false, {}, true, {}, false }, { SetRef::Kind::LocalNetworks, "" } });
    cases.push_back({ MudMatch { {}, false, {}, false, std::string("urn:ietf:params:mud:dns"), false },
        { SetRef::Kind::Controller, "urn:ietf:params:mud:dns" } });
    cases.push_back({ MudMatch { {}, false, {}, false, {}, true },
        { SetRef::Kind::MyController, "https://Maker.Example.com:443/lightbulb2000.json" } });
    for (const auto& c : cases) {
        Matches m;
        m.mud = c.mud;
        auto from = ace("f", m);
        auto p = translate(profileWith(AclType::Ipv6, from, ace("t", m)), "p");
        EXPECT_EQ(p.fromDevice[0].dstSet, c.expected);
        EXPECT_FALSE(p.fromDevice[0].srcSet);
        EXPECT_EQ(p.toDevice[0].srcSet, c.expected);
        EXPECT_FALSE(p.toDevice[0].dstSet);
        EXPECT_EQ(p.fromDevice[0].family, enforcer::Family::Ipv6);
    }
}

TEST(Translate, IpEthIcmpAndActions)
{
    Matches m;
    m.ip = IpMatch { 6, {}, 10, 64, 12345, Network { "2001:db8::/32" }, Network { "2001:db8:1::1/128" }, {}, {} };
    auto p = translate(profileWith(AclType::Ipv6, ace("a", m, Action::Reject)), "p");
    const auto& r = p.fromDevice[0];
    EXPECT_EQ(r.dscp, 10);
    EXPECT_EQ(r.ttl, 64);
    EXPECT_EQ(r.flowLabel, 12345u);
    EXPECT_EQ(r.srcNet->toString(), "2001:db8::/32");
    EXPECT_EQ(r.dstNet->toString(), "2001:db8:1::1");
    EXPECT_EQ(r.verdict, enforcer::Verdict::Reject);

    Matches icmp;
    icmp.icmp = IcmpMatch { 128, 0 };
    p = translate(profileWith(AclType::Ipv6, ace("a", icmp, Action::Drop)), "p");
    EXPECT_EQ(p.fromDevice[0].protocol, 58);
    EXPECT_EQ(p.fromDevice[0].icmpType, 128);
    EXPECT_EQ(p.fromDevice[0].verdict, enforcer::Verdict::Drop);

    Matches eth;
    eth.eth = EthMatch { MacMatch { "02:00:00:00:00:01", std::string("ff:ff:ff:00:00:00") },
        MacMatch { "02:00:00:00:00:02", {} }, 0x0806 };
    p = translate(profileWith(AclType::Eth, ace("a", eth)), "p");
    EXPECT_EQ(p.fromDevice[0].family, enforcer::Family::Any);
    EXPECT_EQ(p.fromDevice[0].srcMac->mask.toString(), "ff:ff:ff:00:00:00");
    EXPECT_EQ(p.fromDevice[0].dstMac->address.toString(), "02:00:00:00:00:02");
    EXPECT_EQ(p.fromDevice[0].ethertype, 0x0806);

    Matches flags;
    flags.tcp = TcpMatch { {}, {}, std::uint8_t { 0x12 }, Initiator::ToDevice };
    p = translate(profileWith(AclType::Ipv4, ace("a", flags)), "p");
    EXPECT_EQ(p.fromDevice[0].tcpFlags, 0x12);
    EXPECT_EQ(p.fromDevice[0].initiatedBy, enforcer::Initiator::Remote);
}

void expectRefused(const Matches& m, AclType type, const std::string& fragment)
{
    try {
        translate(profileWith(type, ace("bad-ace", m)), "p");
        ADD_FAILURE() << "translated, expected a refusal mentioning " << fragment;
    } catch (const enforcer::CompileError& e) {
        EXPECT_EQ(e.rule(), "from/bad-ace");
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
}

TEST(Translate, RefusesWhatCannotBeEnforcedNamingTheAce)
{
    Matches unsupported;
    unsupported.unsupported = { "/ietf-access-control-list:acls/acl/aces/ace/matches/ipv4/identification" };
    expectRefused(unsupported, AclType::Ipv4, "identification");

    Matches twoClasses;
    twoClasses.mud = MudMatch { {}, false, {}, true, std::string("urn:x"), false };
    expectRefused(twoClasses, AclType::Ipv4, "both");

    Matches dnsAndClass;
    dnsAndClass.ip = IpMatch { 4, {}, {}, {}, {}, {}, {}, {}, std::string("a.example.com") };
    dnsAndClass.mud = MudMatch { {}, false, {}, true, {}, false };
    expectRefused(dnsAndClass, AclType::Ipv4, "both");

    Matches ownName;
    ownName.ip = IpMatch { 4, {}, {}, {}, {}, {}, {}, std::string("me.example.com"), {} };
    expectRefused(ownName, AclType::Ipv4, "own side");

    Matches contradiction;
    contradiction.ip = IpMatch { 4, 17, {}, {}, {}, {}, {}, {}, {} };
    contradiction.tcp = TcpMatch {};
    expectRefused(contradiction, AclType::Ipv4, "protocol 17");

    Matches icmpNoFamily;
    icmpNoFamily.icmp = IcmpMatch { 8, {} };
    expectRefused(icmpNoFamily, AclType::Eth, "icmp");

    Matches badNet;
    badNet.ip = IpMatch { 4, {}, {}, {}, {}, {}, Network { "2001:db8::/32" }, {}, {} };
    expectRefused(badNet, AclType::Ipv4, "ipv4 network");

    Matches badDscp;
    badDscp.ip = IpMatch { 4, {}, 64, {}, {}, {}, {}, {}, {} };
    expectRefused(badDscp, AclType::Ipv4, "dscp");
}

TEST(Translate, MissingAclIsRefused)
{
    Profile p;
    p.mudUrl = "https://example.com/x.json";
    p.fromDevicePolicy = { "nope" };
    EXPECT_THROW(translate(p, "p"), enforcer::CompileError);
}

TEST(Translate, Helpers)
{
    EXPECT_EQ(urlAuthority("https://User@Maker.Example.COM:8443/a/b?c"), "maker.example.com");
    EXPECT_EQ(urlAuthority("https://[2001:db8::1]:443/x"), "[2001:db8::1]");
    EXPECT_EQ(urlAuthority("not a url"), "");
    EXPECT_EQ(canonicalDnsName("WWW.Example.com."), "www.example.com");
    EXPECT_EQ(policyIdFor("https://a/b"), policyIdFor("https://a/b"));
    EXPECT_NE(policyIdFor("https://a/b"), policyIdFor("https://a/c"));
    EXPECT_TRUE(enforcer::isValidPolicyId(policyIdFor("https://a/b")));
}

} // namespace
} // namespace mudguard::controller
