// LLDP end to end: a device-side lldpd announces a MUD URL in the custom TLV (OUI 00-00-5E,
// subtype 1); the router-side lldpd (receive only) hears it; the watcher's lldpcli children
// report it. Both daemons run in test namespaces with their own control sockets.
#include "mudguard/controller/LldpWatcher.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "Lan.h"
#include "Netns.h"
#include "TestSupport.h"

using namespace mudguard::controller;
using namespace mudguard::test;
using namespace std::chrono_literals;
using Kind = LldpEvent::Kind;

namespace {

constexpr const char* kUrl = "https://mud.example.com/lldp-device.json";

std::string hexList(const std::string& s)
{
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        if (!out.empty())
            out += ',';
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
    return out;
}

class Lldp : public ::testing::Test {
protected:
    static void SetUpTestSuite() { requireNetns(); }

    void SetUp() override { m_dev = &m_lan.addDevice("02:00:5e:00:00:71"); }

    std::string routerSocket() const { return (m_dir.path() / "router.sock").string(); }
    std::string deviceSocket() const { return (m_dir.path() / "device.sock").string(); }

    void startRouter()
    {
        std::filesystem::remove(routerSocket());
        // -r: receive only; -O /dev/null: no /etc/lldpd.d; -I: the bridge port only.
        m_router = std::make_unique<BackgroundProcess>(std::vector<std::string> { "lldpd", "-d", "-r", "-u",
                                                           routerSocket(), "-O", "/dev/null", "-I", m_dev->port },
            m_dir.path() / "router.log", &m_lan.gateway());
        ASSERT_TRUE(waitFor([&] { return std::filesystem::exists(routerSocket()); }, 10s)) << m_router->log();
    }

    void startDevice(const std::string& url)
    {
        // The lldpcli commands go in the file lldpd applies (through lldpcli) before it starts
        // sending: configured at run time instead, a new tx-interval only takes effect after the
        // current 30 s period, and a first LLDPDU that the router missed is not repeated in time.
        auto conf = m_dir.path() / "device.conf";
        writeFile(conf,
            "configure lldp tx-interval 1\n"
            "configure lldp custom-tlv oui 00,00,5e subtype 1 oui-info "
                + hexList(url) + "\n");
        m_device = std::make_unique<BackgroundProcess>(
            std::vector<std::string> { "lldpd", "-d", "-u", deviceSocket(), "-O", conf.string(), "-I", m_dev->ifname },
            m_dir.path() / "device.log", m_dev->ns.get());
        ASSERT_TRUE(waitFor([&] { return std::filesystem::exists(deviceSocket()); }, 10s)) << m_device->log();
        // The device's own view: the TLV is configured.
        ASSERT_TRUE(waitFor(
            [&] {
                auto r = m_dev->ns->run({ "lldpcli", "-u", deviceSocket(), "-f", "keyvalue", "show", "configuration" });
                return r.exitCode == 0 && r.out.find("tx-delay=1") != std::string::npos;
            },
            10s));
    }

    std::unique_ptr<LldpWatcher> watcher(std::vector<std::string> interfaces = {})
    {
        return std::make_unique<LldpWatcher>(LldpWatcherOptions { .socket = routerSocket(), .interfaces = interfaces });
    }

    std::optional<LldpEvent> waitEvent(
        LldpWatcher& w, const std::function<bool(const LldpEvent&)>& pred, std::chrono::milliseconds timeout = 20s)
    {
        std::optional<LldpEvent> found;
        waitFor(
            [&] {
                for (auto& e : w.handleReadable())
                    m_events.push_back(std::move(e));
                for (const auto& e : m_events)
                    if (pred(e)) {
                        found = e;
                        return true;
                    }
                return false;
            },
            timeout);
        return found;
    }

    std::string describe(const LldpWatcher& w)
    {
        std::string s = "events:";
        for (const auto& e : m_events)
            s += "\n  " + std::string(toString(e.kind)) + " " + e.neighbour.interface + " "
                + (e.neighbour.mac() ? e.neighbour.mac()->toString() : "-") + " url=" + e.neighbour.mudUrl.value_or("-")
                + " " + e.detail;
        s += "\nrejected: " + std::to_string(w.stats().rejected) + " " + w.stats().lastRejection;
        if (m_router)
            s += "\nrouter log:\n" + m_router->log();
        if (m_device)
            s += "\ndevice log:\n" + m_device->log();
        if (m_router)
            s += "\nrouter neighbours:\n"
                + m_lan.gateway()
                      .run({ "lldpcli", "-u", routerSocket(), "-f", "keyvalue", "show", "neighbors", "details" })
                      .out;
        s += "\nwatcher running: " + std::to_string(w.running());
        return s;
    }

    static bool hasUrl(const LldpEvent& e) { return e.neighbour.mudUrl == std::optional<std::string>(kUrl); }

    TempDir m_dir { "mudguard-lldp" };
    Lan m_lan;
    LanDevice* m_dev = nullptr;
    std::unique_ptr<BackgroundProcess> m_router, m_device;
    std::vector<LldpEvent> m_events;
};

} // namespace

TEST_F(Lldp, UrlArrivesThroughWatchAndDeletionFollowsShutdown)
{
    startRouter();
    auto w = watcher();
    auto other = watcher({ "not-a-port" });
    startDevice(kUrl);

    auto e = waitEvent(
        *w, [&](const LldpEvent& ev) { return (ev.kind == Kind::Added || ev.kind == Kind::Updated) && hasUrl(ev); });
    ASSERT_TRUE(e) << describe(*w);
    EXPECT_EQ(e->neighbour.interface, m_dev->port);
    ASSERT_TRUE(e->neighbour.mac());
    EXPECT_EQ(e->neighbour.mac()->toString(), m_dev->mac);
    EXPECT_TRUE(w->running());

    // The device's lldpd says goodbye (a shutdown LLDPDU) when stopped.
    m_device->stop();
    auto gone = waitEvent(*w, [&](const LldpEvent& ev) { return ev.kind == Kind::Deleted; });
    ASSERT_TRUE(gone) << describe(*w);
    EXPECT_EQ(gone->neighbour.mac()->toString(), m_dev->mac);

    // The filtered watcher saw documents but reported nothing.
    other->handleReadable();
    EXPECT_TRUE(other->handleReadable().empty());
    EXPECT_GT(other->stats().documents, 0u);
}

TEST_F(Lldp, NeighboursKnownAtStartAreReported)
{
    startRouter();
    startDevice(kUrl);
    // Wait until the router knows the URL, then start the watcher.
    ASSERT_TRUE(waitFor(
        [&] {
            auto r = m_lan.gateway().run(
                { "lldpcli", "-u", routerSocket(), "-f", "json0", "show", "neighbors", "details" });
            return r.out.find("5E") != std::string::npos || r.out.find("5e") != std::string::npos;
        },
        20s));
    auto w = watcher();
    auto e = waitEvent(*w, [&](const LldpEvent& ev) { return ev.kind == Kind::Present && hasUrl(ev); });
    ASSERT_TRUE(e) << describe(*w);
    EXPECT_EQ(e->neighbour.mac()->toString(), m_dev->mac);
}

TEST_F(Lldp, ReportsStopAndRestarts)
{
    // No lldpd yet: lldpcli cannot connect and the watcher says so.
    auto w = watcher();
    auto stopped = waitEvent(*w, [](const LldpEvent& ev) { return ev.kind == Kind::Stopped; });
    ASSERT_TRUE(stopped) << describe(*w);
    EXPECT_FALSE(w->running());
    EXPECT_NE(stopped->detail.find("lldpcli watch ended"), std::string::npos) << stopped->detail;

    startRouter();
    startDevice(kUrl);
    m_events.clear();
    w->restart();
    EXPECT_TRUE(w->running());
    auto e = waitEvent(*w, [&](const LldpEvent& ev) { return hasUrl(ev); });
    ASSERT_TRUE(e) << describe(*w);

    // The router's lldpd goes away: the watch child ends and says so.
    m_events.clear();
    m_router->stop();
    ASSERT_TRUE(waitEvent(*w, [](const LldpEvent& ev) { return ev.kind == Kind::Stopped; })) << describe(*w);
    EXPECT_FALSE(w->running());
}
