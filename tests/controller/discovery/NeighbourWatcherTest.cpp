// IP <-> MAC learning against the real kernel: devices in their own namespaces ping the gateway
// over IPv4 and IPv6 (with a second, privacy-style address); the watcher in the gateway namespace
// must report each mapping, and deletions, and ignore what is not a LAN unicast mapping.
#include "mudguard/controller/NeighbourWatcher.h"

#include <algorithm>

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "Lan.h"
#include "Netns.h"
#include "TestSupport.h"

using namespace mudguard::controller;
using namespace mudguard::test;
using namespace std::chrono_literals;
using Kind = NeighbourEvent::Kind;

namespace {

class NeighbourWatch : public ::testing::Test {
protected:
    static void SetUpTestSuite() { requireNetns(); }

    std::unique_ptr<NeighbourWatcher> watch(std::vector<std::string> interfaces = { Lan::kBridge })
    {
        ScopedNetns in(m_lan.gateway());
        return std::make_unique<NeighbourWatcher>(NeighbourWatcherOptions { .interfaces = std::move(interfaces) });
    }

    /// Collects events until one matches.
    bool waitEvent(NeighbourWatcher& w, Kind kind, const std::string& ip, const std::string& mac = {})
    {
        return waitFor(
            [&] {
                for (auto& e : w.handleReadable())
                    m_events.push_back(std::move(e));
                return std::any_of(m_events.begin(), m_events.end(), [&](const NeighbourEvent& e) {
                    return e.kind == kind && e.address.toString() == ip && (mac.empty() || e.mac.toString() == mac);
                });
            },
            10s);
    }

    std::string describe() const
    {
        std::string s = "events:";
        for (const auto& e : m_events)
            s += "\n  " + std::string(toString(e.kind)) + " " + e.address.toString() + " " + e.mac.toString() + " "
                + e.interface + " state=" + std::to_string(e.state);
        return s;
    }

    void ping(const LanDevice& dev, const std::string& from, const std::string& to)
    {
        auto r = dev.ns->run({ "ping", "-c", "1", "-W", "5", "-I", from, to });
        ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
    }

    Lan m_lan;
    std::vector<NeighbourEvent> m_events;
};

} // namespace

TEST_F(NeighbourWatch, LearnsIpv4AndIpv6AddressesIncludingPrivacyOnes)
{
    auto& dev = m_lan.addDevice("02:00:5e:00:00:31");
    dev.ns->addAddress(dev.ifname, "192.0.2.31/24");
    dev.ns->ip({ "-6", "addr", "add", "2001:db8:1::31/64", "dev", dev.ifname, "nodad" });
    // A second, temporary-style address (RFC 8981) of the same device.
    dev.ns->ip({ "-6", "addr", "add", "2001:db8:1:0:9c41:77ab:1e2f:5d03/64", "dev", dev.ifname, "nodad" });
    auto w = watch();
    EXPECT_TRUE(w->snapshot().empty());

    ping(dev, "192.0.2.31", Lan::kGatewayV4);
    ping(dev, "2001:db8:1::31", Lan::kGatewayV6);
    ping(dev, "2001:db8:1:0:9c41:77ab:1e2f:5d03", Lan::kGatewayV6);
    EXPECT_TRUE(waitEvent(*w, Kind::Add, "192.0.2.31", dev.mac)) << describe();
    EXPECT_TRUE(waitEvent(*w, Kind::Add, "2001:db8:1::31", dev.mac)) << describe();
    EXPECT_TRUE(waitEvent(*w, Kind::Add, "2001:db8:1:0:9c41:77ab:1e2f:5d03", dev.mac)) << describe();
    for (const auto& e : m_events) {
        EXPECT_EQ(e.interface, Lan::kBridge);
        EXPECT_GT(e.ifindex, 0);
        EXPECT_EQ(e.family(), e.address.toString().find(':') == std::string::npos ? AF_INET : AF_INET6);
    }

    // Each mapping is reported once, however often the device talks.
    ping(dev, "192.0.2.31", Lan::kGatewayV4);
    ping(dev, "2001:db8:1::31", Lan::kGatewayV6);
    w->handleReadable();
    auto adds = std::count_if(m_events.begin(), m_events.end(),
        [](const auto& e) { return e.kind == Kind::Add && e.address.toString() == "192.0.2.31"; });
    EXPECT_EQ(adds, 1) << describe();

    // Deletion by the administrator (or the kernel's garbage collection).
    m_lan.gateway().ip({ "neigh", "del", "192.0.2.31", "dev", Lan::kBridge });
    m_lan.gateway().ip({ "-6", "neigh", "del", "2001:db8:1:0:9c41:77ab:1e2f:5d03", "dev", Lan::kBridge });
    EXPECT_TRUE(waitEvent(*w, Kind::Delete, "192.0.2.31", dev.mac)) << describe();
    EXPECT_TRUE(waitEvent(*w, Kind::Delete, "2001:db8:1:0:9c41:77ab:1e2f:5d03", dev.mac)) << describe();

    // A watcher started now sees the remaining mapping in its initial dump.
    auto later = watch();
    auto snap = later->snapshot();
    EXPECT_TRUE(std::any_of(snap.begin(), snap.end(), [&](const auto& e) {
        return e.address.toString() == "2001:db8:1::31" && e.mac.toString() == dev.mac && e.kind == Kind::Add;
    })) << snap.size();
    EXPECT_FALSE(
        std::any_of(snap.begin(), snap.end(), [](const auto& e) { return e.address.toString() == "192.0.2.31"; }));
}

TEST_F(NeighbourWatch, ReportsMacChangesAndFiltersNonUnicastEntries)
{
    auto& dev = m_lan.addDevice("02:00:5e:00:00:32");
    (void)dev;
    auto w = watch();
    auto& gw = m_lan.gateway();
    gw.ip({ "neigh", "add", "192.0.2.40", "lladdr", "02:00:5e:00:00:40", "dev", Lan::kBridge, "nud", "reachable" });
    EXPECT_TRUE(waitEvent(*w, Kind::Add, "192.0.2.40", "02:00:5e:00:00:40")) << describe();
    gw.ip({ "neigh", "replace", "192.0.2.40", "lladdr", "02:00:5e:00:00:41", "dev", Lan::kBridge, "nud", "reachable" });
    EXPECT_TRUE(waitEvent(*w, Kind::Change, "192.0.2.40", "02:00:5e:00:00:41")) << describe();

    // Not mappings of a LAN device: NOARP, multicast link-layer address, zero address, proxy.
    gw.ip({ "neigh", "add", "192.0.2.41", "lladdr", "02:00:5e:00:00:42", "dev", Lan::kBridge, "nud", "noarp" });
    gw.ip({ "neigh", "add", "192.0.2.42", "lladdr", "01:00:5e:00:00:01", "dev", Lan::kBridge, "nud", "reachable" });
    gw.ip({ "neigh", "add", "192.0.2.43", "lladdr", "00:00:00:00:00:00", "dev", Lan::kBridge, "nud", "reachable" });
    gw.ip({ "neigh", "add", "proxy", "192.0.2.44", "dev", Lan::kBridge });
    // A permanent entry is an administrator's binding and counts.
    gw.ip({ "neigh", "add", "192.0.2.45", "lladdr", "02:00:5e:00:00:45", "dev", Lan::kBridge, "nud", "permanent" });
    EXPECT_TRUE(waitEvent(*w, Kind::Add, "192.0.2.45", "02:00:5e:00:00:45")) << describe();
    for (const auto& e : m_events)
        for (auto bad : { "192.0.2.41", "192.0.2.42", "192.0.2.43", "192.0.2.44" })
            EXPECT_NE(e.address.toString(), bad) << describe();

    // A mapping the kernel gives up on (FAILED) is a deletion.
    gw.ip({ "neigh", "replace", "192.0.2.40", "dev", Lan::kBridge, "nud", "failed" });
    EXPECT_TRUE(waitEvent(*w, Kind::Delete, "192.0.2.40", "02:00:5e:00:00:41")) << describe();
}

TEST_F(NeighbourWatch, IgnoresOtherInterfaces)
{
    auto& lan = m_lan.addDevice("02:00:5e:00:00:33");
    Netns wan("wan");
    addVeth(m_lan.gateway(), "wan0", wan, "up0");
    m_lan.gateway().addAddress("wan0", "198.51.100.1/24");
    wan.addAddress("up0", "198.51.100.2/24");
    lan.ns->addAddress(lan.ifname, "192.0.2.33/24");
    auto w = watch();
    auto all = watch({});

    ASSERT_EQ(wan.run({ "ping", "-c", "1", "-W", "5", "198.51.100.1" }).exitCode, 0);
    ping(lan, "192.0.2.33", Lan::kGatewayV4);
    EXPECT_TRUE(waitEvent(*w, Kind::Add, "192.0.2.33", lan.mac)) << describe();
    // The unfiltered watcher sees the WAN neighbour, so it is there to be filtered.
    m_events.clear();
    EXPECT_TRUE(waitEvent(*all, Kind::Add, "198.51.100.2")) << describe();
    m_events.clear();
    w->handleReadable();
    EXPECT_TRUE(std::none_of(
        m_events.begin(), m_events.end(), [](const auto& e) { return e.address.toString() == "198.51.100.2"; }));
    EXPECT_GT(w->stats().ignored, 0u);
}

TEST_F(NeighbourWatch, ResyncReportsOnlyTheDifference)
{
    m_lan.addDevice("02:00:5e:00:00:34");
    auto w = watch();
    auto& gw = m_lan.gateway();
    gw.ip({ "neigh", "add", "192.0.2.50", "lladdr", "02:00:5e:00:00:50", "dev", Lan::kBridge, "nud", "permanent" });
    gw.ip({ "neigh", "add", "2001:db8:1::50", "lladdr", "02:00:5e:00:00:50", "dev", Lan::kBridge, "nud", "permanent" });
    // Without reading the notifications: a full re-read finds both.
    auto diff = w->resync();
    ASSERT_EQ(diff.size(), 2u);
    EXPECT_EQ(diff[0].kind, Kind::Add);
    EXPECT_EQ(diff[1].kind, Kind::Add);
    EXPECT_TRUE(w->resync().empty());
    // The queued notifications then repeat what is already known: no duplicates.
    EXPECT_TRUE(waitFor([&] { return w->handleReadable().empty(); }, 2s));
    gw.ip({ "neigh", "del", "192.0.2.50", "dev", Lan::kBridge });
    diff = w->resync();
    ASSERT_EQ(diff.size(), 1u);
    EXPECT_EQ(diff[0].kind, Kind::Delete);
    EXPECT_EQ(diff[0].address.toString(), "192.0.2.50");
    EXPECT_EQ(w->stats().resyncs, 3u);
}
