// End to end with real programs: dnsmasq on a gateway namespace runs `mudguard-dnsmasq-hook` as
// its --dhcp-script; udhcpc and dhcpcd on device namespaces send MUD URLs (DHCPv4 option 161,
// DHCPv6 option 112); the events must arrive on the HookServer socket intact.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "mudguard/controller/HookServer.h"

#include "Lan.h"
#include "Netns.h"
#include "TestSupport.h"

using namespace mudguard::controller;
using namespace mudguard::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kUrlA = "https://mud.example.com/udhcpc-a.json";
constexpr const char* kUrlB = "https://mud.example.com/udhcpc-b.json";
constexpr const char* kUrlDhcpcd = "https://mud.example.com/dhcpcd.json";
constexpr const char* kUrlV6 = "https://mud.example.com/dhcpcd-v6.json";

class DnsmasqHook : public ::testing::Test {
protected:
    static void SetUpTestSuite() { requireNetns(); }

    void SetUp() override
    {
        m_server = std::make_unique<HookServer>(HookServerOptions { .path = m_dir.path() / "hook.sock" });
    }

    void startDnsmasq()
    {
        std::vector<std::string> argv { "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
            std::string("--interface=") + Lan::kBridge, "--bind-interfaces",
            "--dhcp-range=192.0.2.100,192.0.2.199,255.255.255.0,1h",
            "--dhcp-range=2001:db8:1::100,2001:db8:1::1ff,64,1h", "--enable-ra",
            "--dhcp-leasefile=" + (m_dir.path() / "leases").string(),
            "--pid-file=" + (m_dir.path() / "dnsmasq.pid").string(),
            "--dhcp-script=" + (binaryDir() / "mudguard-dnsmasq-hook").string(), "--script-on-renewal",
            "--dhcp-match=set:mud,161", "--dhcp-match=set:mud6,option6:112",
            // Tests only: no ping check before an offer (it delays offers by up to 3 s).
            "--no-ping", "--log-facility=" + (m_dir.path() / "dnsmasq.log").string() };
        m_dnsmasq = std::make_unique<BackgroundProcess>(argv, m_dir.path() / "dnsmasq.out", &m_lan.gateway(),
            std::vector<std::string> { std::string(kHookSocketEnv) + "=" + m_server->path().string() });
        ASSERT_TRUE(waitFor([&] { return std::filesystem::exists(m_dir.path() / "dnsmasq.pid"); }, 10s))
            << m_dnsmasq->log();
    }

    void stopDnsmasq()
    {
        m_dnsmasq->stop();
        std::filesystem::remove(m_dir.path() / "dnsmasq.pid");
    }

    CommandResult udhcpc(const LanDevice& dev, const std::string& url, bool release = false)
    {
        std::vector<std::string> argv { "udhcpc", "-i", dev.ifname, "-f", "-q", "-n", "-t", "5", "-T", "1", "-s",
            "/bin/true" };
        if (!url.empty())
            argv.insert(argv.end(), { "-x", "0xa1:\"" + url + "\"" }); // quoted: sent as a string
        if (release)
            argv.push_back("-R");
        return dev.ns->run(argv);
    }

    CommandResult dhcpcd(const LanDevice& dev, const std::string& url, bool v6)
    {
        auto conf = m_dir.path() / ("dhcpcd-" + dev.ifname + (v6 ? "-6" : "-4") + ".conf");
        writeFile(conf,
            "mudurl " + url + "\n" + (v6 ? "ipv6only\n" : "ipv4only\n")
                + "nohook resolv.conf, hostname, ntp.conf, timesyncd.conf, chrony.conf\n");
        // dhcpcd keeps leases in /var/lib/dhcpcd: an empty private one for each run (ip netns exec
        // gives the command its own mount namespace), so the host's is neither read nor written.
        return dev.ns->run({ "sh", "-c", "mount -t tmpfs test /var/lib/dhcpcd && exec \"$@\"", "dhcpcd", "dhcpcd", "-f",
            conf.string(), "-c", "/bin/true", "-1", v6 ? "-6" : "-4", "-B", "-t", "20", dev.ifname });
    }

    /// Polls the server until an event matching `pred` arrives; returns it.
    std::optional<HookMessage> waitEvent(const std::function<bool(const HookMessage&)>& pred)
    {
        std::optional<HookMessage> found;
        waitFor(
            [&] {
                for (auto& m : m_server->handleReadable())
                    m_events.push_back(std::move(m));
                for (auto& m : m_events)
                    if (pred(m)) {
                        found = m;
                        return true;
                    }
                return false;
            },
            20s);
        return found;
    }

    std::string describeEvents() const
    {
        std::string s = "events so far:";
        for (const auto& m : m_events)
            s += "\n  " + std::string(toString(m.event.action)) + " " + m.event.address.toString()
                + " mac=" + (m.event.mac ? m.event.mac->toString() : "-") + " url=" + m.event.mudUrl.value_or("-")
                + " missing=" + std::to_string(m.event.dataMissing);
        return s + "\nrejected: " + std::to_string(m_server->stats().rejected) + " " + m_server->stats().lastRejection
            + "\ndnsmasq log:\n" + (m_dnsmasq ? m_dnsmasq->log() : "");
    }

    TempDir m_dir { "mudguard-dnsmasq" };
    Lan m_lan;
    std::unique_ptr<HookServer> m_server;
    std::unique_ptr<BackgroundProcess> m_dnsmasq;
    std::vector<HookMessage> m_events;
};

auto isEvent(LeaseAction action, const std::string& mac, int family)
{
    return [=](const HookMessage& m) {
        return m.event.action == action && m.event.mac && m.event.mac->toString() == mac
            && m.event.address.family == family;
    };
}

} // namespace

TEST_F(DnsmasqHook, UdhcpcLeaseCarriesMudUrlAndRenewalRevealsChange)
{
    auto& dev = m_lan.addDevice("02:00:5e:00:00:11");
    startDnsmasq();

    auto r = udhcpc(dev, kUrlA);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    auto add = waitEvent(isEvent(LeaseAction::Add, dev.mac, AF_INET));
    ASSERT_TRUE(add) << describeEvents();
    EXPECT_EQ(add->event.mudUrl, kUrlA);
    EXPECT_EQ(add->event.interface, Lan::kBridge);
    EXPECT_NE(add->event.tags.find("mud"), std::string::npos) << add->event.tags;
    EXPECT_FALSE(add->event.dataMissing);
    EXPECT_TRUE(add->event.leaseExpires);
    EXPECT_EQ(add->senderUid, 0u);
    auto ip = add->event.address;
    EXPECT_EQ(ip.toString().rfind("192.0.2.", 0), 0u) << ip.toString();

    // The device now announces another URL: with --script-on-renewal the renewal is an "old" event
    // carrying the new string.
    m_events.clear();
    r = udhcpc(dev, kUrlB);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    auto renewed = waitEvent([&](const HookMessage& m) {
        return m.event.action == LeaseAction::Old && m.event.mudUrl == std::optional<std::string>(kUrlB);
    });
    ASSERT_TRUE(renewed) << describeEvents();
    EXPECT_EQ(renewed->event.address, ip);
    EXPECT_EQ(renewed->event.mac->toString(), dev.mac);
    EXPECT_FALSE(renewed->event.dataMissing);

    // A client that stops sending option 161: an "old" event without a URL (and without the tag).
    m_events.clear();
    r = udhcpc(dev, "");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    auto silent = waitEvent(isEvent(LeaseAction::Old, dev.mac, AF_INET));
    ASSERT_TRUE(silent) << describeEvents();
    EXPECT_FALSE(silent->event.mudUrl);
    EXPECT_FALSE(silent->event.dataMissing);
    EXPECT_EQ(silent->event.tags.find("mud"), std::string::npos) << silent->event.tags;
}

TEST_F(DnsmasqHook, ReleaseGivesDelEvent)
{
    auto& dev = m_lan.addDevice("02:00:5e:00:00:12");
    startDnsmasq();
    // udhcpc stays in the foreground and releases its lease (-R) when terminated.
    BackgroundProcess client({ "udhcpc", "-i", dev.ifname, "-f", "-R", "-t", "5", "-T", "1", "-s", "/bin/true", "-x",
                                 std::string("0xa1:\"") + kUrlA + "\"" },
        m_dir.path() / "udhcpc.log", dev.ns.get());
    auto add = waitEvent(isEvent(LeaseAction::Add, dev.mac, AF_INET));
    ASSERT_TRUE(add) << describeEvents() << client.log();
    // dnsmasq runs the script when it acknowledges; the client may not have read the ACK yet.
    ASSERT_TRUE(waitFor([&] { return client.log().find("obtained") != std::string::npos; }, 10s)) << client.log();
    // The release is unicast from the leased address, which the (no-op) client script did not set.
    dev.ns->addAddress(dev.ifname, add->event.address.toString() + "/24");
    client.stop();
    auto del = waitEvent(isEvent(LeaseAction::Del, dev.mac, AF_INET));
    ASSERT_TRUE(del) << describeEvents() << client.log();
    EXPECT_EQ(del->event.address, add->event.address);
}

TEST_F(DnsmasqHook, DhcpcdV4SendsMudUrl)
{
    auto& dev = m_lan.addDevice("02:00:5e:00:00:13");
    startDnsmasq();
    auto r = dhcpcd(dev, kUrlDhcpcd, false);
    ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
    auto add = waitEvent(isEvent(LeaseAction::Add, dev.mac, AF_INET));
    ASSERT_TRUE(add) << describeEvents();
    EXPECT_EQ(add->event.mudUrl, kUrlDhcpcd);
    EXPECT_NE(add->event.tags.find("mud"), std::string::npos);
}

TEST_F(DnsmasqHook, DhcpcdV6SendsMudUrlInOption112)
{
    auto& dev = m_lan.addDevice("02:00:5e:00:00:14");
    startDnsmasq();
    auto r = dhcpcd(dev, kUrlV6, true);
    ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
    auto add = waitEvent(isEvent(LeaseAction::Add, dev.mac, AF_INET6));
    ASSERT_TRUE(add) << describeEvents();
    EXPECT_EQ(add->event.mudUrl, kUrlV6);
    EXPECT_TRUE(add->event.isV6());
    EXPECT_EQ(add->event.address.toString().rfind("2001:db8:1::", 0), 0u) << add->event.address.toString();
    EXPECT_TRUE(add->event.iaid);
    EXPECT_FALSE(add->event.clientId.empty()); // the client's DUID
    EXPECT_NE(add->event.tags.find("mud6"), std::string::npos) << add->event.tags;
    EXPECT_NE(add->event.tags.find("dhcpv6"), std::string::npos) << add->event.tags;
}

TEST_F(DnsmasqHook, RestartReplaysLeasesWithoutUrl)
{
    auto& dev4 = m_lan.addDevice("02:00:5e:00:00:15");
    auto& dev6 = m_lan.addDevice("02:00:5e:00:00:16");
    startDnsmasq();
    ASSERT_EQ(udhcpc(dev4, kUrlA).exitCode, 0);
    ASSERT_EQ(dhcpcd(dev6, kUrlV6, true).exitCode, 0);
    auto add4 = waitEvent(isEvent(LeaseAction::Add, dev4.mac, AF_INET));
    auto add6 = waitEvent(isEvent(LeaseAction::Add, dev6.mac, AF_INET6));
    ASSERT_TRUE(add4 && add6) << describeEvents();
    ASSERT_TRUE(add6->event.mudUrl);

    stopDnsmasq();
    m_events.clear();
    startDnsmasq();

    // The replay: "old", DNSMASQ_DATA_MISSING=1, no MUD URL, no hostname from the client. For
    // DHCPv4 the MAC is there; for DHCPv6 only the DUID (no DNSMASQ_MAC).
    auto old4 = waitEvent([&](const HookMessage& m) {
        return m.event.action == LeaseAction::Old && m.event.address == add4->event.address;
    });
    ASSERT_TRUE(old4) << describeEvents();
    EXPECT_TRUE(old4->event.dataMissing);
    EXPECT_FALSE(old4->event.mudUrl);
    EXPECT_FALSE(old4->event.mudUrlTooLong);
    ASSERT_TRUE(old4->event.mac);
    EXPECT_EQ(old4->event.mac->toString(), dev4.mac);
    EXPECT_TRUE(old4->event.leaseExpires);

    auto old6 = waitEvent([&](const HookMessage& m) {
        return m.event.action == LeaseAction::Old && m.event.address == add6->event.address;
    });
    ASSERT_TRUE(old6) << describeEvents();
    EXPECT_TRUE(old6->event.dataMissing);
    EXPECT_FALSE(old6->event.mudUrl);
    EXPECT_FALSE(old6->event.mac);
    EXPECT_EQ(old6->event.clientId, add6->event.clientId);
    EXPECT_EQ(old6->event.iaid, add6->event.iaid);
}
