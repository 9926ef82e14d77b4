// The Parser end to end with real libyang: the Profile built from each example, extension data,
// the strict wrapper, limits, timings, the schema directory, and hostile input.
#include "mudguard/mudparser/Parser.h"

#include <cstdlib>
#include <random>

#include <gtest/gtest.h>

#include "TestSupport.h"

using namespace mudguard::mudparser;

namespace {

const Parser& parser()
{
    static Parser p;
    return p;
}

std::string example(const std::string& name)
{
    return mudguard::test::readFile(mudguard::test::sourceDir() / "examples" / name);
}

std::string data(const std::string& path)
{
    return mudguard::test::readFile(mudguard::test::sourceDir() / "tests/data/mud" / path);
}

Profile valid(const std::string& text, Mode mode = Mode::Strict)
{
    ParseOptions o;
    o.mode = mode;
    auto r = parser().parse(text, o);
    std::string diags;
    for (const auto& d : r.report.diagnostics)
        diags += "\n" + formatText(d);
    EXPECT_TRUE(r.profile) << diags;
    return r.profile ? *r.profile : Profile {};
}

const Ace& aceOf(const Profile& p, const std::string& acl, const std::string& ace)
{
    const Acl* a = p.findAcl(acl);
    if (!a)
        throw std::runtime_error("no ACL " + acl);
    for (const auto& e : a->aces)
        if (e.name == ace)
            return e;
    throw std::runtime_error("no ACE " + ace);
}

bool hasCode(const Report& r, std::string_view code)
{
    return std::any_of(r.diagnostics.begin(), r.diagnostics.end(), [&](const Diagnostic& d) { return d.code == code; });
}

} // namespace

TEST(Parser, BuildsMetadataAndPolicies)
{
    Profile p = valid(example("lightbulb.json"));
    EXPECT_EQ(p.mudUrl, "https://lighting.example.com/lightbulb2000");
    EXPECT_EQ(p.mudVersion, 1);
    EXPECT_EQ(p.lastUpdate, "2024-03-18T09:30:00+01:00");
    EXPECT_EQ(p.cacheValidity, 48);
    EXPECT_TRUE(p.isSupported);
    EXPECT_EQ(p.systeminfo, "Example light bulb, colour, 9 W");
    EXPECT_EQ(p.mfgName, "Example Lighting");
    EXPECT_EQ(p.modelName, "lightbulb2000");
    EXPECT_EQ(p.firmwareRev, "2.4.1");
    EXPECT_FALSE(p.softwareRev);
    EXPECT_EQ(p.documentation, "https://lighting.example.com/docs/lightbulb2000");
    EXPECT_EQ(p.mudSignature, "https://lighting.example.com/lightbulb2000.p7s");
    EXPECT_EQ(p.fromDevicePolicy, (std::vector<std::string> { "lightbulb-v6-from", "lightbulb-v4-from" }));
    EXPECT_EQ(p.toDevicePolicy, (std::vector<std::string> { "lightbulb-v6-to", "lightbulb-v4-to" }));
    ASSERT_EQ(p.acls.size(), 4u);
    EXPECT_EQ(p.acls[0].name, "lightbulb-v6-to") << "file order";
    EXPECT_EQ(p.acls[0].type, AclType::Ipv6);
    EXPECT_EQ(p.acls[2].type, AclType::Ipv4);

    const Ace& cloud = aceOf(p, "lightbulb-v6-from", "cloud6-from");
    EXPECT_EQ(cloud.action, Action::Accept);
    ASSERT_TRUE(cloud.matches.ip);
    EXPECT_EQ(cloud.matches.ip->version, 6u);
    EXPECT_EQ(cloud.matches.ip->protocol, 6);
    EXPECT_EQ(cloud.matches.ip->dstDnsName, "cloud.lighting.example.com");
    EXPECT_FALSE(cloud.matches.ip->srcDnsName);
    ASSERT_TRUE(cloud.matches.tcp);
    EXPECT_EQ(cloud.matches.tcp->dstPort, (PortMatch { PortOp::Eq, 443, 0 }));
    EXPECT_FALSE(cloud.matches.tcp->srcPort);
    EXPECT_EQ(cloud.matches.tcp->directionInitiated, Initiator::FromDevice);
    EXPECT_FALSE(cloud.matches.udp);
    EXPECT_TRUE(cloud.matches.unsupported.empty());

    const Ace& ntp = aceOf(p, "lightbulb-v4-from", "ntp4-from");
    ASSERT_TRUE(ntp.matches.udp);
    EXPECT_EQ(ntp.matches.udp->dstPort, (PortMatch { PortOp::Eq, 123, 0 }));
}

TEST(Parser, PortsOperatorsActionsAndNetworks)
{
    Profile p = valid(example("camera-ports.json"));
    EXPECT_EQ(p.cacheValidity, 168);
    const Ace& rtp = aceOf(p, "cam-from", "rtp-from");
    EXPECT_EQ(rtp.matches.udp->srcPort, (PortMatch { PortOp::Range, 16384, 16483 }));
    EXPECT_EQ(rtp.matches.udp->dstPort, (PortMatch { PortOp::Range, 10000, 20000 }));
    EXPECT_EQ(rtp.matches.ip->dscp, 46);
    EXPECT_EQ(rtp.matches.ip->dstNetwork, (Network { "198.51.100.0/24" }));
    EXPECT_EQ(aceOf(p, "cam-from", "upload-from").matches.tcp->dstPort, (PortMatch { PortOp::Gte, 8000, 0 }));
    const Ace& legacy = aceOf(p, "cam-from", "legacy-from");
    EXPECT_EQ(legacy.matches.tcp->dstPort, (PortMatch { PortOp::Lte, 1023, 0 }));
    EXPECT_EQ(legacy.action, Action::Reject);
    EXPECT_EQ(aceOf(p, "cam-from", "syslog-from").matches.ip->ttl, 64);
    EXPECT_EQ(aceOf(p, "cam-from", "any-udp-from").matches.udp->dstPort, (PortMatch { PortOp::Neq, 1900, 0 }));
    const Ace& rest = aceOf(p, "cam-from", "rest-from");
    EXPECT_EQ(rest.action, Action::Drop);
    EXPECT_EQ(rest.matches.ip->dstNetwork, (Network { "0.0.0.0/0" }));
    EXPECT_FALSE(rest.matches.ip->protocol);
    const Ace& admin = aceOf(p, "cam-to", "admin-to");
    EXPECT_EQ(admin.matches.tcp->directionInitiated, Initiator::ToDevice);
    EXPECT_EQ(admin.matches.ip->srcNetwork, (Network { "192.0.2.0/28" }));
    const Ace& ping = aceOf(p, "cam-to", "ping-to");
    EXPECT_EQ(ping.matches.icmp, (IcmpMatch { 8, 0 }));
}

TEST(Parser, Ipv6AndIcmpv6)
{
    Profile p = valid(example("sensor-ipv6.json"));
    EXPECT_FALSE(p.isSupported);
    EXPECT_EQ(p.cacheValidity, 48) << "the YANG default";
    const Ace& reply = aceOf(p, "ls6-from", "ping-reply-from");
    EXPECT_EQ(reply.matches.ip->version, 6u);
    EXPECT_EQ(reply.matches.ip->protocol, 58);
    EXPECT_EQ(reply.matches.icmp, (IcmpMatch { 129, 0 }));
    EXPECT_EQ(reply.matches.ip->dstNetwork, (Network { "2001:db8:100::/48" }));
    EXPECT_EQ(aceOf(p, "ls6-from", "nd-from").matches.ip->ttl, 255) << "hop limit";
    EXPECT_EQ(aceOf(p, "ls6-from", "nd-from").matches.icmp, (IcmpMatch { 135, std::nullopt }));
    const Ace& coap = aceOf(p, "ls6-from", "coap-from");
    EXPECT_EQ(coap.matches.ip->flowLabel, 12345u);
    EXPECT_EQ(coap.matches.ip->dscp, 10);
    EXPECT_EQ(coap.matches.ip->dstNetwork, (Network { "2001:db8:100::10/128" }));
}

TEST(Parser, EthernetMatchesAndTcpFlags)
{
    Profile p = valid(example("hub-ethernet.json"));
    EXPECT_EQ(p.findAcl("h1-eth-from")->type, AclType::Eth);
    EXPECT_EQ(p.findAcl("h1-mixed-from")->type, AclType::MixedEthIpv4);
    const Ace& lldp = aceOf(p, "h1-eth-from", "lldp-from");
    EXPECT_EQ(lldp.matches.eth->ethertype, 0x88cc) << "named ethertype";
    EXPECT_EQ(lldp.matches.eth->dst, (MacMatch { "01:80:c2:00:00:0e", std::nullopt }));
    EXPECT_EQ(aceOf(p, "h1-eth-from", "arp-from").matches.eth->ethertype, 0x0806);
    const Ace& vendor = aceOf(p, "h1-eth-from", "vendor-from");
    EXPECT_EQ(vendor.matches.eth->dst, (MacMatch { "00:00:5e:00:53:00", std::string("ff:ff:ff:ff:ff:00") }));
    EXPECT_EQ(vendor.matches.eth->ethertype, 35085);
    EXPECT_EQ(aceOf(p, "h1-eth-from", "block-ipx-from").matches.eth->ethertype, 0x8137);
    EXPECT_EQ(aceOf(p, "h1-eth-from", "block-ipx-from").action, Action::Drop);
    EXPECT_EQ(aceOf(p, "h1-eth-to", "vendor-to").matches.eth->src->mask, "ff:ff:ff:ff:ff:00");
    const Ace& syn = aceOf(p, "h1-mixed-from", "bridge-syn-from");
    EXPECT_EQ(syn.matches.tcp->flags, 0x02);
    EXPECT_EQ(syn.matches.eth->ethertype, 0x0800);
    EXPECT_EQ(syn.matches.ip->dstNetwork, (Network { "192.0.2.1/32" }));
    EXPECT_EQ(aceOf(p, "h1-mixed-to", "bridge-reset-to").matches.tcp->flags, 0x14) << "ack rst";
}

TEST(Parser, TheSixMudClasses)
{
    Profile p = valid(example("thermostat-classes.json"));
    EXPECT_EQ(aceOf(p, "t7-from", "dns-from").matches.mud->controller, "urn:ietf:params:mud:dns");
    EXPECT_TRUE(aceOf(p, "t7-from", "hub-from").matches.mud->myController);
    EXPECT_TRUE(aceOf(p, "t7-from", "sensors-from").matches.mud->sameManufacturer);
    EXPECT_EQ(aceOf(p, "t7-from", "bridge-from").matches.mud->model, "https://climate.example.com/mud/bridge-b2");
    EXPECT_EQ(aceOf(p, "t7-from", "partner-from").matches.mud->manufacturer, "energy.example.org");
    const Ace& app = aceOf(p, "t7-to", "app-to");
    EXPECT_TRUE(app.matches.mud->localNetworks);
    EXPECT_FALSE(app.matches.mud->myController);
    EXPECT_EQ(app.matches.tcp->directionInitiated, Initiator::ToDevice);
    EXPECT_EQ(app.matches.tcp->dstPort, (PortMatch { PortOp::Eq, 80, 0 }));
}

TEST(Parser, Transparency)
{
    Profile p = valid(example("printer-transparency.json"));
    EXPECT_EQ(p.extensions, std::vector<std::string> { "transparency" });
    ASSERT_TRUE(p.transparency);
    ASSERT_EQ(p.transparency->sboms.size(), 2u);
    EXPECT_EQ(p.transparency->sboms[0].versionInfo, "3.2.0");
    EXPECT_EQ(p.transparency->sboms[0].url, "https://print.example.com/sbom/p200-3.2.0.cdx.json");
    EXPECT_EQ(p.transparency->sbomArchiveList, "https://print.example.com/sbom/p200/");
    EXPECT_EQ(p.transparency->vulnUrls, std::vector<std::string> { "https://print.example.com/csaf/p200.json" });
    EXPECT_FALSE(p.transparency->sbomContactUri);
}

TEST(Parser, TlsProfilesAreCarriedAsIs)
{
    auto r = parser().parse(data("warnings/extension-tls-not-enforced.json"));
    ASSERT_TRUE(r.profile);
    const auto& o = r.profile->opaqueExtensions;
    ASSERT_EQ(o.size(), 2u);
    EXPECT_EQ(o[0].module, "ietf-mud-tls");
    EXPECT_EQ(o[0].json, "true");
    EXPECT_EQ(o[0].path, "/ietf-mud:mud/ietf-mud-tls:is-tls-dtls-profile-supported");
    EXPECT_EQ(o[1].module, "ietf-acl-tls");
    EXPECT_EQ(o[1].json, R"({"tls-dtls-profile":[{"name":"p1","supported-tls-version":["tls13"]}]})");
    EXPECT_EQ(o[1].path,
        "/ietf-access-control-list:acls/acl[name='p1-from']/aces/ace[name='cloud-from']/matches/"
        "ietf-acl-tls:client-profiles");
    // The entry itself is enforced without the TLS constraint.
    EXPECT_EQ(r.profile->findAcl("p1-from")->aces[0].matches.tcp->dstPort, (PortMatch { PortOp::Eq, 443, 0 }));
}

TEST(Parser, UnsupportedMatchesAreListed)
{
    auto r = parser().parse(data("warnings/match-unsupported.json"));
    ASSERT_TRUE(r.profile);
    const Ace& a = aceOf(*r.profile, "p1-from", "cloud-from");
    EXPECT_EQ(a.matches.unsupported,
        std::vector<std::string> {
            "/ietf-access-control-list:acls/acl[name='p1-from']/aces/ace[name='cloud-from']/matches/tcp/window-size" });
}

TEST(Parser, LenientModeReadsLegacyForms)
{
    std::string text = data("warnings/lenient-legacy-forms.json");
    auto strict = parser().parse(text);
    EXPECT_FALSE(strict.profile);
    EXPECT_TRUE(hasCode(strict.report, "legacy-access-lists"));
    Profile p = valid(text, Mode::Lenient);
    EXPECT_TRUE(p.isSupported);
    EXPECT_EQ(p.lastUpdate, "2024-05-01T12:00:00-00:00");
    EXPECT_EQ(p.findAcl("p1-from")->type, AclType::MixedEthIpv4) << "widened: eth matches in an IPv4 ACL";
    EXPECT_EQ(p.findAcl("p1-l2")->type, AclType::Eth);
    EXPECT_EQ(aceOf(p, "p1-from", "local-from").matches.eth->ethertype, 0x0800);
    EXPECT_EQ(aceOf(p, "p1-l2", "arp").matches.eth->ethertype, 0x0806);
    EXPECT_EQ(aceOf(p, "p1-from", "cloud-from").matches.ip->dstDnsName, "cloud.things.example.com");
    EXPECT_EQ(aceOf(p, "p1-from", "local-from").matches.mud->controller, "urn:ietf:params:mud:gateway");
}

TEST(Parser, StrictWrapperThrowsWithTheReport)
{
    EXPECT_NO_THROW(parser().parseOrThrow(example("lightbulb.json")));
    try {
        ParseOptions o;
        o.fileName = "cv.json";
        parser().parseOrThrow(data("invalid/cache-validity-480.json"), o);
        FAIL() << "no exception";
    } catch (const InvalidMud& e) {
        ASSERT_EQ(e.report().diagnostics.size(), 1u);
        EXPECT_STREQ(e.what(),
            "cv.json:6:23: error: cache-validity 480 is out of range 1..168 hours [cache-validity-range] (at "
            "/ietf-mud:mud/cache-validity)");
    }
}

TEST(Parser, ErrorsOfOneDocumentDoNotLeakIntoTheNext)
{
    for (int i = 0; i < 3; ++i) {
        EXPECT_FALSE(parser().parse(data("invalid/several-errors.json")).profile);
        auto ok = parser().parse(example("lightbulb.json"));
        EXPECT_TRUE(ok.profile);
        EXPECT_TRUE(ok.report.diagnostics.empty());
    }
}

TEST(Parser, DiagnosticsFollowTheFile)
{
    auto r = parser().parse(data("invalid/several-errors.json"));
    ASSERT_GE(r.report.diagnostics.size(), 4u);
    for (std::size_t i = 1; i < r.report.diagnostics.size(); ++i)
        EXPECT_LE(r.report.diagnostics[i - 1].line.value_or(0), r.report.diagnostics[i].line.value_or(0));
}

TEST(Parser, LimitsOnAclsAndAces)
{
    ParseOptions o;
    o.limits.maxAcls = 1;
    auto r = parser().parse(example("lightbulb.json"), o);
    EXPECT_FALSE(r.profile);
    ASSERT_EQ(r.report.diagnostics.size(), 1u);
    EXPECT_EQ(r.report.diagnostics[0].code, "limit-acls");
    EXPECT_EQ(r.report.diagnostics[0].path, "/ietf-access-control-list:acls/acl");

    o = ParseOptions {};
    o.limits.maxAcesPerAcl = 4;
    r = parser().parse(example("camera-ports.json"), o);
    EXPECT_FALSE(r.profile);
    EXPECT_TRUE(hasCode(r.report, "limit-aces"));

    o = ParseOptions {};
    o.limits.maxAcesTotal = 10;
    r = parser().parse(example("camera-ports.json"), o);
    EXPECT_TRUE(hasCode(r.report, "limit-aces"));
}

TEST(Parser, TimingsAreRecordedOnRequest)
{
    PhaseTimings t;
    ParseOptions o;
    o.timings = &t;
    ASSERT_TRUE(parser().parse(example("camera-ports.json"), o).profile);
    EXPECT_GT(t.json.count(), 0);
    EXPECT_GT(t.rules.count(), 0);
    EXPECT_GT(t.yang.count(), 0);
    EXPECT_GT(t.model.count(), 0);
}

TEST(Parser, SchemaDirectory)
{
    const char* old = std::getenv("MUDGUARD_SCHEMA_DIR");
    std::string saved = old ? old : "";
    ::setenv("MUDGUARD_SCHEMA_DIR", "/nonexistent/schemas", 1);
    EXPECT_EQ(Parser::defaultSchemaDir(), "/nonexistent/schemas");
    EXPECT_THROW(Parser {}, Error);
    if (old)
        ::setenv("MUDGUARD_SCHEMA_DIR", saved.c_str(), 1);
    else
        ::unsetenv("MUDGUARD_SCHEMA_DIR");
    EXPECT_EQ(Parser::defaultSchemaDir(), mudguard::test::sourceDir() / "schemas");

    // A directory without the MUD modules is refused with the module's name.
    mudguard::test::TempDir empty;
    try {
        Parser p(empty.path());
        FAIL() << "no exception";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("ietf-access-control-list"), std::string::npos) << e.what();
    }
}

TEST(Parser, HostileInputNeverCrashes)
{
    std::mt19937 rng(20240501);
    std::string base = example("camera-ports.json");
    for (int i = 0; i < 300; ++i) {
        std::string t = base;
        int edits = 1 + static_cast<int>(rng() % 8);
        for (int e = 0; e < edits; ++e) {
            std::size_t at = rng() % t.size();
            switch (rng() % 4) {
            case 0:
                t[at] = static_cast<char>(rng() % 256);
                break;
            case 1:
                t.erase(at, rng() % 16);
                break;
            case 2:
                t.insert(at, std::string(1 + rng() % 4, "{[\"}]:,0"[rng() % 8]));
                break;
            default:
                t = t.substr(0, at);
            }
            if (t.empty())
                t = "x";
        }
        for (Mode mode : { Mode::Strict, Mode::Lenient }) {
            ParseOptions o;
            o.mode = mode;
            auto r = parser().parse(t, o);
            EXPECT_EQ(r.profile.has_value(), !r.report.hasErrors());
        }
    }
    // Deep nesting inside a MUD container, huge numbers, NUL escapes.
    EXPECT_FALSE(parser().parse("{\"ietf-mud:mud\": " + std::string(100000, '[')).profile);
    EXPECT_FALSE(parser()
                     .parse(R"({"ietf-mud:mud": {"mud-version": 1e999999, "mud-url": "https://a.example/\u0000"}})")
                     .profile);
    EXPECT_FALSE(parser().parse(std::string(2 << 20, ' ')).profile);
}
