// The hook's spool: every lease event is written before it is sent, read back oldest first, and
// anything that is not an intact entry of an allowed owner is removed with the reason.

#include "mudguard/controller/HookSpool.h"

#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "TestSupport.h"

namespace mudguard::test {
namespace {

using controller::HookSpool;
using controller::IpAddress;
using controller::LeaseAction;
using controller::LeaseEvent;
using controller::MacAddress;

LeaseEvent event(const char* mac, const char* url)
{
    LeaseEvent e;
    e.action = LeaseAction::Add;
    e.mac = MacAddress::parse(mac);
    e.address = *IpAddress::parse("192.0.2.20");
    e.mudUrl = url;
    return e;
}

TEST(HookSpool, EventsAreSpooledDatedAndReadBackOldestFirst)
{
    TempDir dir("mudguard-spool");
    auto spool = dir.path() / "spool";
    auto first = event("02:00:00:00:00:01", "https://mud.example.com/a.json");
    auto second = event("02:00:00:00:00:02", "https://mud.example.com/b.json");
    ASSERT_FALSE(controller::spoolHookEvent(spool, first));
    ASSERT_FALSE(controller::spoolHookEvent(spool, second));
    ASSERT_TRUE(first.spoolId && second.spoolId && first.sentAtMs);
    EXPECT_LT(*first.spoolId, *second.spoolId);

    HookSpool s(spool);
    auto listing = s.list();
    EXPECT_TRUE(listing.rejected.empty());
    ASSERT_EQ(listing.entries.size(), 2u);
    EXPECT_EQ(listing.entries[0].id, *first.spoolId);
    EXPECT_EQ(listing.entries[0].event.mudUrl, first.mudUrl);
    EXPECT_EQ(listing.entries[0].event.spoolId, first.spoolId);
    EXPECT_EQ(listing.entries[1].event.mac, second.mac);

    s.remove(*first.spoolId);
    s.remove("../escape"); // not an entry's name: ignored
    listing = s.list();
    ASSERT_EQ(listing.entries.size(), 1u);
    EXPECT_EQ(listing.entries[0].id, *second.spoolId);
}

TEST(HookSpool, DamagedAndForeignEntriesAreRemovedWithTheReason)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "giving a file to another user needs root";
    TempDir dir("mudguard-spool");
    auto spool = dir.path() / "spool";
    auto good = event("02:00:00:00:00:03", "https://mud.example.com/c.json");
    ASSERT_FALSE(controller::spoolHookEvent(spool, good));
    writeFile(spool / "01800000000000000000-1.ev", "garbage");
    writeFile(spool / "not-a-spool-name.ev", "x");
    auto foreign = spool / "01800000000000000001-2.ev";
    writeFile(foreign, "whatever");
    ASSERT_EQ(::chown(foreign.c_str(), 4242, 4242), 0);

    HookSpool s(spool);
    auto listing = s.list();
    ASSERT_EQ(listing.entries.size(), 1u);
    EXPECT_EQ(listing.entries[0].id, *good.spoolId);
    ASSERT_EQ(listing.rejected.size(), 3u);
    std::string all;
    for (const auto& r : listing.rejected)
        all += r + "\n";
    EXPECT_NE(all.find("uid 4242"), std::string::npos) << all;
    EXPECT_NE(all.find("bad magic"), std::string::npos) << all;
    EXPECT_NE(all.find("not a spool entry"), std::string::npos) << all;
    EXPECT_FALSE(std::filesystem::exists(foreign));
}

TEST(HookSpool, BeyondItsLimitTheOldestEntriesAreDropped)
{
    TempDir dir("mudguard-spool");
    auto spool = dir.path() / "spool";
    for (int i = 0; i < 5; ++i) {
        auto e = event("02:00:00:00:00:04", "https://mud.example.com/d.json");
        ASSERT_FALSE(controller::spoolHookEvent(spool, e));
    }
    HookSpool s(spool);
    auto listing = s.list(3);
    EXPECT_EQ(listing.entries.size(), 3u);
    EXPECT_EQ(listing.rejected.size(), 2u);
    EXPECT_EQ(s.list().entries.size(), 3u);
}

} // namespace
} // namespace mudguard::test
