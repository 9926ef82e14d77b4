// The nflog reader against the real kernel: a test-owned nft table in a gateway namespace logs
// UDP packets from a device to nflog groups; the reader must see prefix, payload, addresses.
#include "mudguard/controller/NflogReader.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "Lan.h"
#include "Netns.h"
#include "TestSupport.h"

using namespace mudguard::controller;
using namespace mudguard::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t kGroup = 7;
constexpr std::uint16_t kOtherGroup = 8;

class Nflog : public ::testing::Test {
protected:
    static void SetUpTestSuite() { requireNetns(); }

    void SetUp() override
    {
        m_dev = &m_lan.addDevice("02:00:5e:00:00:51");
        m_dev->ns->addAddress(m_dev->ifname, "192.0.2.51/24");
        m_dev->ns->ip({ "-6", "addr", "add", "2001:db8:1::51/64", "dev", m_dev->ifname, "nodad" });
        // The test's own table, in the test's own namespace.
        auto rules = "table inet mgtest {\n"
                     "  chain input {\n"
                     "    type filter hook input priority 0;\n"
                     "    udp dport 9999 log group "
            + std::to_string(kGroup)
            + " prefix \"mg-violation: \"\n"
              "    udp dport 9998 log group "
            + std::to_string(kOtherGroup)
            + " prefix \"mg-dns: \"\n"
              "  }\n"
              "}\n";
        auto r = runCommand({ "ip", "netns", "exec", m_lan.gateway().name(), "nft", "-f", "-" }, rules);
        ASSERT_EQ(r.exitCode, 0) << r.err;
    }

    std::unique_ptr<NflogReader> reader(NflogReaderOptions options)
    {
        ScopedNetns in(m_lan.gateway());
        return std::make_unique<NflogReader>(options);
    }

    void sendUdp(const std::string& to, int port, const std::string& payload)
    {
        auto r = runCommand({ "ip", "netns", "exec", m_dev->ns->name(), "socat", "-u", "STDIN",
                                "UDP-SENDTO:" + to + ":" + std::to_string(port) },
            payload);
        ASSERT_EQ(r.exitCode, 0) << r.err;
    }

    std::vector<NflogPacket> collect(NflogReader& r, std::size_t want)
    {
        std::vector<NflogPacket> got;
        waitFor(
            [&] {
                for (auto& p : r.handleReadable())
                    got.push_back(std::move(p));
                return got.size() >= want;
            },
            10s);
        return got;
    }

    std::uint32_t ifindex(const std::string& name)
    {
        auto r = m_lan.gateway().exec({ "cat", "/sys/class/net/" + name + "/ifindex" });
        return static_cast<std::uint32_t>(std::stoul(r.out));
    }

    Lan m_lan;
    LanDevice* m_dev = nullptr;
};

bool endsWith(const std::vector<std::uint8_t>& v, const std::string& s)
{
    return v.size() >= s.size() && std::equal(s.begin(), s.end(), v.end() - static_cast<std::ptrdiff_t>(s.size()));
}

} // namespace

TEST_F(Nflog, ReadsPrefixPayloadAndAddressesOverIpv4AndIpv6)
{
    auto r = reader({ .group = kGroup });
    sendUdp(Lan::kGatewayV4, 9999, "hello-nflog-v4");
    sendUdp(std::string("[") + Lan::kGatewayV6 + "]", 9999, "hello-nflog-v6");
    auto got = collect(*r, 2);
    ASSERT_EQ(got.size(), 2u);

    const auto& v4 = got[0];
    EXPECT_EQ(v4.group, kGroup);
    EXPECT_EQ(v4.prefix, "mg-violation: ");
    EXPECT_EQ(v4.hwProtocol, 0x0800);
    ASSERT_TRUE(v4.hwaddr);
    EXPECT_EQ(v4.hwaddr->toString(), m_dev->mac);
    EXPECT_EQ(v4.inIfindex, ifindex(Lan::kBridge));
    EXPECT_EQ(v4.physInIfindex, ifindex(m_dev->port));
    EXPECT_EQ(v4.outIfindex, 0u);
    EXPECT_TRUE(v4.kernelTimestamp);
    EXPECT_LT(std::chrono::system_clock::now() - v4.timestamp, std::chrono::minutes(5));
    // IPv4 header (version 4, source 192.0.2.51), UDP header, then the data.
    ASSERT_GE(v4.payload.size(), 28u + 14u);
    EXPECT_EQ(v4.payload[0] >> 4, 4);
    EXPECT_EQ(std::vector<std::uint8_t>(v4.payload.begin() + 12, v4.payload.begin() + 16),
        (std::vector<std::uint8_t> { 192, 0, 2, 51 }));
    EXPECT_TRUE(endsWith(v4.payload, "hello-nflog-v4"));

    const auto& v6 = got[1];
    EXPECT_EQ(v6.prefix, "mg-violation: ");
    EXPECT_EQ(v6.hwProtocol, 0x86dd);
    EXPECT_EQ(v6.hwaddr->toString(), m_dev->mac);
    EXPECT_EQ(v6.payload[0] >> 4, 6);
    EXPECT_TRUE(endsWith(v6.payload, "hello-nflog-v6"));
    EXPECT_EQ(r->stats().packets, 2u);
    EXPECT_EQ(r->stats().malformed, 0u);
}

TEST_F(Nflog, CutsAtSnaplenAndKeepsGroupsApart)
{
    auto violations = reader({ .group = kGroup, .snaplen = 64 });
    auto dns = reader({ .group = kOtherGroup });
    sendUdp(Lan::kGatewayV4, 9999, std::string(300, 'x'));
    sendUdp(Lan::kGatewayV4, 9998, "answer");
    auto v = collect(*violations, 1);
    auto d = collect(*dns, 1);
    ASSERT_EQ(v.size(), 1u);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(v[0].payload.size(), 64u);
    EXPECT_EQ(d[0].prefix, "mg-dns: ");
    EXPECT_EQ(d[0].group, kOtherGroup);
    EXPECT_TRUE(endsWith(d[0].payload, "answer"));
    EXPECT_TRUE(violations->handleReadable().empty());
}

TEST_F(Nflog, AGroupHasOneReader)
{
    auto first = reader({ .group = kGroup });
    EXPECT_THROW(reader({ .group = kGroup }), DiscoveryError);
    EXPECT_THROW(reader({ .group = kGroup, .snaplen = 0 }), DiscoveryError);
}

TEST_F(Nflog, BurstIsDeliveredInBoundedBatches)
{
    auto r = reader({ .group = kGroup, .maxPerCall = 5 });
    for (int i = 0; i < 20; ++i)
        sendUdp(Lan::kGatewayV4, 9999, "burst-" + std::to_string(i));
    std::vector<NflogPacket> got;
    std::size_t largest = 0;
    waitFor(
        [&] {
            auto batch = r->handleReadable();
            largest = std::max(largest, batch.size());
            for (auto& p : batch)
                got.push_back(std::move(p));
            return got.size() >= 20;
        },
        10s);
    ASSERT_EQ(got.size(), 20u);
    for (int i = 0; i < 20; ++i)
        EXPECT_TRUE(endsWith(got[static_cast<std::size_t>(i)].payload, "burst-" + std::to_string(i))) << i;
    // With a queue threshold of 1 each netlink message holds one packet, so the bound is exact.
    EXPECT_LE(largest, 5u);
}
