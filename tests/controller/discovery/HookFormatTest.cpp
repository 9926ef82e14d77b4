// The hook datagram format and the mapping of dnsmasq's script arguments and environment.
#include <map>

#include <gtest/gtest.h>

#include "mudguard/controller/HookEvent.h"

using namespace mudguard::controller;

namespace {

LeaseEvent fullV4()
{
    LeaseEvent e;
    e.action = LeaseAction::Old;
    e.address = *IpAddress::parse("192.0.2.10");
    e.mac = MacAddress::parse("02:00:5e:10:00:01");
    e.hostname = "thermostat";
    e.mudUrl = "https://mud.example.com/thermostat.json reserved words";
    e.interface = "br-lan";
    e.tags = "mud lan known";
    e.dataMissing = true;
    e.leaseExpires = 1900000000;
    e.timeRemaining = 3600;
    e.clientId = { 0x01, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x01 };
    return e;
}

struct Env {
    std::map<std::string, std::string> vars;
    std::function<const char*(const char*)> fn()
    {
        return [this](const char* n) -> const char* {
            auto it = vars.find(n);
            return it == vars.end() ? nullptr : it->second.c_str();
        };
    }
};

std::vector<std::uint8_t> header() { return { 'M', 'G', 'H', 'K', 1, 1 }; }

void addField(std::vector<std::uint8_t>& d, std::uint8_t type, std::vector<std::uint8_t> value)
{
    d.push_back(type);
    d.push_back(static_cast<std::uint8_t>(value.size() >> 8));
    d.push_back(static_cast<std::uint8_t>(value.size()));
    d.insert(d.end(), value.begin(), value.end());
}

std::vector<std::uint8_t> minimal()
{
    auto d = header();
    addField(d, 1, { 1 });
    addField(d, 3, { 192, 0, 2, 1 });
    return d;
}

std::string rejection(const std::vector<std::uint8_t>& d)
{
    try {
        decodeHookDatagram(d);
    } catch (const HookFormatError& e) {
        return e.what();
    }
    return "accepted";
}

} // namespace

TEST(HookFormat, RoundTripsEveryFieldV4)
{
    auto e = fullV4();
    auto d = encodeHookDatagram(e);
    EXPECT_LE(d.size(), kMaxHookDatagram);
    EXPECT_EQ(decodeHookDatagram(d), e);
}

TEST(HookFormat, RoundTripsV6WithoutMac)
{
    LeaseEvent e;
    e.action = LeaseAction::Add;
    e.address = *IpAddress::parse("2001:db8::1:10");
    e.iaid = 0x12345678;
    e.temporary = true;
    e.clientId = { 0x00, 0x03, 0x00, 0x01, 0x02, 0, 0, 0, 0, 1 };
    e.mudUrl = "https://mud.example.com/v6.json";
    auto back = decodeHookDatagram(encodeHookDatagram(e));
    EXPECT_EQ(back, e);
    EXPECT_TRUE(back.isV6());
    EXPECT_FALSE(back.mac);
}

TEST(HookFormat, EmptyMudStringIsKeptApartFromNone)
{
    auto e = fullV4();
    e.mudUrl = "";
    EXPECT_EQ(decodeHookDatagram(encodeHookDatagram(e)).mudUrl, std::optional<std::string>(""));
    e.mudUrl.reset();
    EXPECT_FALSE(decodeHookDatagram(encodeHookDatagram(e)).mudUrl);
}

TEST(HookFormat, MudStringAtTheLimitIsCarriedAndLongerIsFlagged)
{
    auto e = fullV4();
    e.hostname = std::string(kMaxHookHostname, 'h');
    e.tags = std::string(kMaxHookTags, 't');
    e.mudUrl = "https://x/" + std::string(kMaxHookMudUrl - 10, 'a');
    auto d = encodeHookDatagram(e);
    EXPECT_LE(d.size(), kMaxHookDatagram);
    EXPECT_EQ(decodeHookDatagram(d).mudUrl->size(), kMaxHookMudUrl);

    e.mudUrl->push_back('b');
    auto back = decodeHookDatagram(encodeHookDatagram(e));
    EXPECT_FALSE(back.mudUrl);
    EXPECT_TRUE(back.mudUrlTooLong);
}

TEST(HookFormat, AcceptsMinimalAndSkipsUnknownFields)
{
    auto d = minimal();
    addField(d, 200, { 1, 2, 3 });
    auto e = decodeHookDatagram(d);
    EXPECT_EQ(e.action, LeaseAction::Add);
    EXPECT_EQ(e.address.toString(), "192.0.2.1");
}

TEST(HookFormat, RejectsMalformedDatagrams)
{
    EXPECT_NE(rejection({}).find("bad magic"), std::string::npos);
    EXPECT_NE(rejection({ 'M', 'G', 'H', 'X', 1, 1 }).find("bad magic"), std::string::npos);
    EXPECT_NE(rejection({ 'M', 'G', 'H', 'K', 2, 1 }).find("version 2"), std::string::npos);
    EXPECT_NE(rejection({ 'M', 'G', 'H', 'K', 1, 9 }).find("unknown hook source"), std::string::npos);

    auto truncated = minimal();
    truncated.push_back(4);
    EXPECT_NE(rejection(truncated).find("truncated field header"), std::string::npos);

    auto overrun = minimal();
    overrun.insert(overrun.end(), { 4, 0, 10, 'a' });
    EXPECT_NE(rejection(overrun).find("overruns"), std::string::npos);

    auto dup = minimal();
    addField(dup, 1, { 2 });
    EXPECT_NE(rejection(dup).find("duplicate field 1"), std::string::npos);

    auto noAction = header();
    addField(noAction, 3, { 192, 0, 2, 1 });
    EXPECT_NE(rejection(noAction).find("missing action"), std::string::npos);

    auto noAddress = header();
    addField(noAddress, 1, { 1 });
    EXPECT_NE(rejection(noAddress).find("missing address"), std::string::npos);

    auto badAction = header();
    addField(badAction, 1, { 9 });
    EXPECT_NE(rejection(badAction).find("unknown action 9"), std::string::npos);

    auto badMac = minimal();
    addField(badMac, 2, { 1, 2, 3 });
    EXPECT_NE(rejection(badMac).find("mac field has length 3"), std::string::npos);

    auto badAddress = header();
    addField(badAddress, 1, { 1 });
    addField(badAddress, 3, { 1, 2, 3, 4, 5 });
    EXPECT_NE(rejection(badAddress).find("address field has length 5"), std::string::npos);

    auto longHost = minimal();
    addField(longHost, 4, std::vector<std::uint8_t>(kMaxHookHostname + 1, 'a'));
    EXPECT_NE(rejection(longHost).find("hostname field is 256 bytes"), std::string::npos);

    auto badIface = minimal();
    addField(badIface, 6, { 'e', '/', 'x' });
    EXPECT_NE(rejection(badIface).find("forbidden character"), std::string::npos);

    auto oversized = minimal();
    addField(oversized, 250, std::vector<std::uint8_t>(kMaxHookDatagram, 0));
    EXPECT_NE(rejection(oversized).find("exceeds the limit"), std::string::npos);

    auto contradictory = minimal();
    addField(contradictory, 5, { 'h' });
    addField(contradictory, 8, { 2 });
    EXPECT_NE(rejection(contradictory).find("flagged as too long"), std::string::npos);
}

TEST(HookFormat, DecoderSurvivesEveryTruncationAndBitFlip)
{
    auto d = encodeHookDatagram(fullV4());
    for (std::size_t n = 0; n < d.size(); ++n) {
        std::vector<std::uint8_t> cut(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(n));
        (void)rejection(cut);
    }
    int accepted = 0;
    for (std::size_t i = 0; i < d.size(); ++i) {
        auto flipped = d;
        flipped[i] ^= 0x5a;
        accepted += rejection(flipped) == "accepted";
    }
    // Flips inside string values stay valid; flips in the header never do.
    EXPECT_GT(accepted, 0);
    EXPECT_LT(accepted, static_cast<int>(d.size()));
}

TEST(DnsmasqArgs, V4AddWithEnvironment)
{
    Env env;
    env.vars = { { "DNSMASQ_MUD_URL", "https://mud.example.com/a.json" }, { "DNSMASQ_INTERFACE", "br0" },
        { "DNSMASQ_TAGS", "mud br0" }, { "DNSMASQ_LEASE_EXPIRES", "1900000000" }, { "DNSMASQ_TIME_REMAINING", "3600" },
        { "DNSMASQ_CLIENT_ID", "01:02:00:5e:10:00:01" } };
    auto e = leaseEventFromDnsmasq({ "add", "02:00:5E:10:00:01", "192.0.2.10", "cam" }, env.fn());
    ASSERT_TRUE(e);
    EXPECT_EQ(e->action, LeaseAction::Add);
    EXPECT_EQ(e->mac->toString(), "02:00:5e:10:00:01");
    EXPECT_EQ(e->address.toString(), "192.0.2.10");
    EXPECT_EQ(e->hostname, "cam");
    EXPECT_EQ(e->mudUrl, "https://mud.example.com/a.json");
    EXPECT_EQ(e->interface, "br0");
    EXPECT_EQ(e->tags, "mud br0");
    EXPECT_EQ(e->leaseExpires, 1900000000);
    EXPECT_EQ(e->timeRemaining, 3600u);
    EXPECT_EQ(e->clientId, (std::vector<std::uint8_t> { 1, 2, 0, 0x5e, 0x10, 0, 1 }));
    EXPECT_FALSE(e->dataMissing);
}

TEST(DnsmasqArgs, StartupReplayHasNoUrl)
{
    Env env;
    env.vars = { { "DNSMASQ_DATA_MISSING", "1" }, { "DNSMASQ_LEASE_EXPIRES", "1900000000" } };
    auto e = leaseEventFromDnsmasq({ "old", "02:00:5e:10:00:01", "192.0.2.10" }, env.fn());
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->dataMissing);
    EXPECT_FALSE(e->mudUrl);
    EXPECT_TRUE(e->interface.empty());
    EXPECT_TRUE(e->hostname.empty());
}

TEST(DnsmasqArgs, V6UsesDuidArgumentAndMacFromEnvironment)
{
    Env env;
    env.vars = { { "DNSMASQ_MAC", "02:00:5e:10:00:02" }, { "DNSMASQ_IAID", "T42" },
        { "DNSMASQ_MUD_URL", "https://mud.example.com/v6.json" } };
    auto e = leaseEventFromDnsmasq({ "add", "00:03:00:01:02:00:5e:10:00:02", "2001:db8::10" }, env.fn());
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->isV6());
    EXPECT_EQ(e->mac->toString(), "02:00:5e:10:00:02");
    EXPECT_EQ(e->clientId.size(), 10u);
    EXPECT_EQ(e->iaid, 42u);
    EXPECT_TRUE(e->temporary);

    env.vars.erase("DNSMASQ_MAC");
    auto noMac = leaseEventFromDnsmasq({ "add", "00:03:00:01:02:00:5e:10:00:02", "2001:db8::10" }, env.fn());
    EXPECT_FALSE(noMac->mac);
}

TEST(DnsmasqArgs, NonEthernetHardwareHasNoMac)
{
    Env env;
    auto e = leaseEventFromDnsmasq({ "add", "06-01:23:45:67:89:ab", "192.0.2.11" }, env.fn());
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->mac);
}

TEST(DnsmasqArgs, ActionsWithoutLeaseAreIgnored)
{
    Env env;
    EXPECT_FALSE(leaseEventFromDnsmasq({ "init" }, env.fn()));
    EXPECT_FALSE(leaseEventFromDnsmasq({ "tftp", "1234", "192.0.2.1", "/srv/tftp/f" }, env.fn()));
    EXPECT_FALSE(leaseEventFromDnsmasq({ "relay-snoop", "eth0", "fe80::1", "2001:db8:1::/48" }, env.fn()));
    EXPECT_FALSE(leaseEventFromDnsmasq({ "future-action", "x" }, env.fn()));
}

TEST(DnsmasqArgs, MalformedArgumentsThrow)
{
    Env env;
    EXPECT_THROW(leaseEventFromDnsmasq({}, env.fn()), HookFormatError);
    EXPECT_THROW(leaseEventFromDnsmasq({ "add", "02:00:5e:10:00:01" }, env.fn()), HookFormatError);
    EXPECT_THROW(leaseEventFromDnsmasq({ "add", "02:00:5e:10:00:01", "not-an-ip" }, env.fn()), HookFormatError);
    EXPECT_THROW(
        leaseEventFromDnsmasq({ "add", "02:00:5e:10:00:01", "192.0.2.1; rm -rf /" }, env.fn()), HookFormatError);
}

TEST(DnsmasqArgs, OverlongMudStringIsFlaggedNotTruncated)
{
    Env env;
    env.vars = { { "DNSMASQ_MUD_URL", "https://x/" + std::string(2000, 'a') } };
    auto e = leaseEventFromDnsmasq({ "add", "02:00:5e:10:00:01", "192.0.2.10" }, env.fn());
    EXPECT_FALSE(e->mudUrl);
    EXPECT_TRUE(e->mudUrlTooLong);
}

TEST(HexBytes, ParsesDnsmasqForms)
{
    EXPECT_EQ(parseHexBytes("00:01:0a", 10), (std::vector<std::uint8_t> { 0, 1, 10 }));
    EXPECT_EQ(parseHexBytes("00010A", 10), (std::vector<std::uint8_t> { 0, 1, 10 }));
    EXPECT_EQ(parseHexBytes("1:2", 10), (std::vector<std::uint8_t> { 1, 2 }));
    EXPECT_FALSE(parseHexBytes("zz", 10));
    EXPECT_FALSE(parseHexBytes("01:02:03", 2));
}

TEST(Addresses, MacAndIpParsing)
{
    EXPECT_FALSE(MacAddress::parse("02:00:5e:10:00"));
    EXPECT_FALSE(MacAddress::parse("02:00:5e:10:00:0g"));
    EXPECT_FALSE(MacAddress::parse("02:00:5e:10:00:01:"));
    EXPECT_TRUE(MacAddress::parse("ff:ff:ff:ff:ff:ff")->isMulticast());
    EXPECT_TRUE(MacAddress::parse("00:00:00:00:00:00")->isZero());
    EXPECT_TRUE(IpAddress::parse("ff02::1")->isMulticast());
    EXPECT_TRUE(IpAddress::parse("224.0.0.1")->isMulticast());
    EXPECT_TRUE(IpAddress::parse("fe80::1")->isLinkLocal());
    EXPECT_FALSE(IpAddress::parse("2001:db8::1")->isLinkLocal());
    EXPECT_FALSE(IpAddress::parse(std::string(100, '1')));
    EXPECT_EQ(IpAddress::parse("2001:DB8::1")->toString(), "2001:db8::1");
}
