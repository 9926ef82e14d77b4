// lldpcli json0 documents -> events: a captured watch document, the show form, and hostile input.
#include <gtest/gtest.h>

#include "mudguard/controller/LldpWatcher.h"

#include "TestSupport.h"

using namespace mudguard::controller;
using namespace mudguard::test;
using Kind = LldpEvent::Kind;

namespace {

std::string hexOf(const std::string& s, char sep = ',')
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (!out.empty())
            out += sep;
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
    return out;
}

std::string neighbourDoc(const std::string& root, const std::string& iface, const std::string& tlvs)
{
    return R"({")" + root + R"(": [{"interface": [{"name": ")" + iface + R"(", "via": "LLDP",
        "chassis": [{"id": [{"type": "mac", "value": "02:00:5e:00:00:62"}], "name": [{"value": "cam"}]}],
        "port": [{"id": [{"type": "ifname", "value": "eth0"}], "ttl": [{"value": "120"}]}],
        "unknown-tlvs": [{"unknown-tlv": [)"
        + tlvs + R"(]}]}]}]})";
}

std::string tlv(const std::string& oui, const std::string& subtype, const std::string& value)
{
    return R"({"oui": ")" + oui + R"(", "subtype": ")" + subtype + R"(", "len": "1", "value": ")" + value + R"("})";
}

} // namespace

TEST(LldpJson, CapturedWatchDocument)
{
    auto events = parseLldpJson(readFile(sourceDir() / "tests/data/discovery/lldp-watch-updated.json"));
    ASSERT_EQ(events.size(), 1u);
    const auto& e = events[0];
    EXPECT_EQ(e.kind, Kind::Updated);
    EXPECT_EQ(e.neighbour.interface, "gp1");
    EXPECT_EQ(e.neighbour.chassisIdType, "mac");
    EXPECT_EQ(e.neighbour.chassisMac->toString(), "02:00:5e:00:00:61");
    EXPECT_EQ(e.neighbour.portMac->toString(), "02:00:5e:00:00:61");
    EXPECT_EQ(e.neighbour.mac()->toString(), "02:00:5e:00:00:61");
    EXPECT_EQ(e.neighbour.ttl, 4u);
    EXPECT_EQ(e.neighbour.mudUrl, "https://mud.example.com/lldp.json");
    EXPECT_TRUE(e.neighbour.mudUrlError.empty());
}

TEST(LldpJson, ShowFormKindsAndPortIds)
{
    auto url = std::string("https://mud.example.com/cam.json");
    for (auto [root, kind] : std::vector<std::pair<std::string, Kind>> { { "lldp", Kind::Present },
             { "lldp-added", Kind::Added }, { "lldp-updated", Kind::Updated }, { "lldp-deleted", Kind::Deleted } }) {
        auto events = parseLldpJson(neighbourDoc(root, "gp2", tlv("00,00,5E", "1", hexOf(url))));
        ASSERT_EQ(events.size(), 1u) << root;
        EXPECT_EQ(events[0].kind, kind);
        EXPECT_EQ(events[0].neighbour.portIdType, "ifname");
        EXPECT_EQ(events[0].neighbour.portId, "eth0");
        EXPECT_FALSE(events[0].neighbour.portMac);
        EXPECT_EQ(events[0].neighbour.mac()->toString(), "02:00:5e:00:00:62");
        EXPECT_EQ(events[0].neighbour.ttl, 120u);
        EXPECT_EQ(events[0].neighbour.mudUrl, url);
    }
    // No neighbours at all, and an unknown top-level key.
    EXPECT_TRUE(parseLldpJson(R"({"lldp": [{"interface": []}]})").empty());
    EXPECT_TRUE(parseLldpJson(R"({"lldp": [{}]})").empty());
    EXPECT_TRUE(parseLldpJson(R"({"lldp-something-new": [{"interface": [{"name": "x"}]}]})").empty());
}

TEST(LldpJson, PicksTheMudTlvAmongOthers)
{
    auto url = std::string("https://mud.example.com/x.json reserved");
    auto tlvs = tlv("00,12,0F", "1", "01,02") + "," + tlv("00,00,5e", "2", hexOf("https://wrong-subtype")) + ","
        + tlv("00,00,5E", "1", hexOf(url)) + "," + tlv("00,00,5E", "1", hexOf("https://second"));
    auto events = parseLldpJson(neighbourDoc("lldp", "gp1", tlvs));
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].neighbour.mudUrl, url); // raw, reserved text included
}

TEST(LldpJson, NoTlvOrBadHexLeavesNoUrl)
{
    auto none = parseLldpJson(neighbourDoc("lldp", "gp1", ""));
    ASSERT_EQ(none.size(), 1u);
    EXPECT_FALSE(none[0].neighbour.mudUrl);
    EXPECT_TRUE(none[0].neighbour.mudUrlError.empty());

    auto bad = parseLldpJson(neighbourDoc("lldp", "gp1", tlv("00,00,5E", "1", "68,ZZ")));
    ASSERT_EQ(bad.size(), 1u);
    EXPECT_FALSE(bad[0].neighbour.mudUrl);
    EXPECT_FALSE(bad[0].neighbour.mudUrlError.empty());
}

TEST(LldpJson, OddShapesDoNotThrowOrCrash)
{
    // Wrong types everywhere: fields stay empty.
    auto events = parseLldpJson(R"({"lldp": [{"interface": [{"name": 5, "chassis": "x", "port": [[]],
        "unknown-tlvs": {"unknown-tlv": {"oui": 1, "subtype": null, "value": []}}}, 7, "s"]}]})");
    ASSERT_EQ(events.size(), 1u);
    EXPECT_TRUE(events[0].neighbour.interface.empty());
    EXPECT_FALSE(events[0].neighbour.mac());
    EXPECT_FALSE(events[0].neighbour.mudUrl);
    // Plain objects instead of json0 arrays are read too.
    auto plain = parseLldpJson(R"({"lldp-added": {"interface": {"name": "gp3",
        "chassis": {"id": {"type": "mac", "value": "02:00:5e:00:00:63"}}}}})");
    ASSERT_EQ(plain.size(), 1u);
    EXPECT_EQ(plain[0].neighbour.interface, "gp3");
    EXPECT_EQ(plain[0].neighbour.chassisMac->toString(), "02:00:5e:00:00:63");
}

TEST(LldpJson, RejectsInvalidAndUnboundedDocuments)
{
    EXPECT_THROW(parseLldpJson(""), DiscoveryError);
    EXPECT_THROW(parseLldpJson("[1, 2]"), DiscoveryError);
    EXPECT_THROW(parseLldpJson(R"({"lldp": [)"), DiscoveryError);
    EXPECT_THROW(parseLldpJson(R"({"lldp": 1} trailing)"), DiscoveryError);
    EXPECT_THROW(parseLldpJson(R"({"lldp": 1, "lldp": 2})"), DiscoveryError);
    EXPECT_THROW(parseLldpJson("{\"lldp\": \"\xff\xfe\"}"), DiscoveryError);
    // A truncated 4-byte UTF-8 sequence at the very end (RapidJSON reads past the terminator).
    EXPECT_THROW(parseLldpJson("{ \"lldportp-u\xf0:"), DiscoveryError);
    EXPECT_THROW(parseLldpJson("{\"a\": \"\xf0"), DiscoveryError);
    EXPECT_THROW(parseLldpJson(std::string(400000, '[')), DiscoveryError);
    std::string deep = R"({"lldp": )" + std::string(40, '[') + std::string(40, ']') + "}";
    EXPECT_THROW(parseLldpJson(deep), DiscoveryError);
    std::string huge = R"({"lldp": ")" + std::string(2 << 20, 'a') + R"("})";
    EXPECT_THROW(parseLldpJson(huge), DiscoveryError);
}

TEST(LldpHex, DecodesLldpcliForms)
{
    EXPECT_EQ(decodeLldpHex("68,74,74,70"), "http");
    EXPECT_EQ(decodeLldpHex("68:74"), "ht");
    EXPECT_EQ(decodeLldpHex("6,a"), std::string("\x06\x0a"));
    EXPECT_EQ(decodeLldpHex(""), "");
    EXPECT_EQ(decodeLldpHex("00,41"), std::string("\0A", 2));
    EXPECT_FALSE(decodeLldpHex("68,"));
    EXPECT_FALSE(decodeLldpHex("687"));
    EXPECT_FALSE(decodeLldpHex("68;74"));
    EXPECT_FALSE(decodeLldpHex("g8"));
    std::string max = hexOf(std::string(kMaxLldpOuiInfo, 'a'));
    EXPECT_EQ(decodeLldpHex(max)->size(), kMaxLldpOuiInfo);
    EXPECT_FALSE(decodeLldpHex(max + ",61"));
}
