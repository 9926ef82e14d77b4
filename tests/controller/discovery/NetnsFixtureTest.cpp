// The netns fixture itself: namespaces and their processes go away, whatever happens.
#include <csignal>

#include <gtest/gtest.h>

#include "Netns.h"
#include "TestSupport.h"

using namespace mudguard::test;
using namespace std::chrono_literals;

namespace {

bool namespaceExists(const std::string& name)
{
    auto r = runCommand({ "ip", "netns", "list" });
    return r.out.find(name + " ") != std::string::npos || r.out.find(name + "\n") != std::string::npos;
}

} // namespace

TEST(NetnsFixture, NamespaceAndItsProcessesAreRemoved)
{
    requireNetns();
    TempDir dir;
    std::string name;
    pid_t pid = 0;
    {
        Netns ns("fix");
        name = ns.name();
        EXPECT_TRUE(namespaceExists(name));
        EXPECT_EQ(ns.exec({ "ip", "-o", "link", "show", "lo" }).out.find("UP") != std::string::npos, true);
        // A process left running inside (not owned by any BackgroundProcess).
        // (Its output is redirected, or runCommand would wait for it to close the pipes.)
        auto r = runCommand(
            { "ip", "netns", "exec", name, "setsid", "-f", "sh", "-c", "exec sleep 1000 </dev/null >/dev/null 2>&1" });
        ASSERT_EQ(r.exitCode, 0) << r.err;
        ASSERT_TRUE(waitFor([&] { return !ns.run({ "pgrep", "-x", "sleep" }).out.empty(); }, 5s));
        pid = static_cast<pid_t>(std::stol(runCommand({ "ip", "netns", "pids", name }).out));
    }
    EXPECT_FALSE(namespaceExists(name));
    EXPECT_TRUE(waitFor([&] { return ::kill(pid, 0) != 0; }, 5s));
}

TEST(NetnsFixture, BackgroundProcessIsStoppedAndVethWorks)
{
    requireNetns();
    TempDir dir;
    Netns a("a"), b("b");
    addVeth(a, "va", b, "vb");
    a.addAddress("va", "192.0.2.1/24");
    b.addAddress("vb", "192.0.2.2/24");
    EXPECT_EQ(a.run({ "ping", "-c", "1", "-W", "5", "192.0.2.2" }).exitCode, 0);
    BackgroundProcess p({ "sleep", "1000" }, dir.path() / "sleep.log", &a);
    EXPECT_TRUE(p.running());
    EXPECT_EQ(p.stop(), 128 + SIGTERM);
    EXPECT_FALSE(p.running());
    ScopedNetns in(b);
    EXPECT_NE(runCommand({ "ip", "-o", "link", "show", "vb" }).out.find("vb@"), std::string::npos);
}

TEST(NetnsFixture, StaleNamespacesOfDeadTestsAreRemoved)
{
    requireNetns();
    // pid 2^22 + 1 is above the kernel's pid_max limit: that process cannot exist.
    std::string stale = "mgt4194305-left";
    runChecked({ "ip", "netns", "add", stale });
    Netns::removeStale();
    EXPECT_FALSE(namespaceExists(stale));
}
