// Each discovery source says what it saw as one announcement: a lease event from dnsmasq, an LLDP
// neighbour, an address from the neighbour table. The conversions decide nothing; these tests
// pin what each event becomes.

#include "discovery/Announcements.h"

#include <gtest/gtest.h>

namespace mudguard::test {
namespace {

using controller::Assurance;
using controller::DeviceSource;
using controller::FailureStage;
using controller::IpAddress;
using controller::LeaseAction;
using controller::LeaseEvent;
using controller::LldpEvent;
using controller::MacAddress;
using controller::NeighbourEvent;
using controller::core::Announcement;
using namespace controller::discovery;

LeaseEvent lease(LeaseAction action, const char* ip = "192.0.2.10")
{
    LeaseEvent e;
    e.action = action;
    e.mac = MacAddress::parse("02:00:00:00:00:0a");
    e.address = *IpAddress::parse(ip);
    return e;
}

TEST(Announcements, ALeaseWithAMudUrlNamesTheNormalisedUrlWithItsFacts)
{
    auto e = lease(LeaseAction::Add);
    e.mudUrl = "https://MUD.Example.com/dev.json reserved";
    e.hostname = "sensor";
    e.vendorClass = "acme-1.0";
    e.requestedOptions = "1,3,6,15";
    e.sentAtMs = 1'800'000'000'000;
    e.spoolId = "01800000000000000000-42";
    auto a = fromLease(e);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->kind, Announcement::Kind::Url);
    EXPECT_EQ(a->url, "https://mud.example.com/dev.json");
    EXPECT_EQ(a->source, DeviceSource::Dhcp);
    EXPECT_EQ(a->assurance, Assurance::Asserted);
    EXPECT_EQ(a->address, IpAddress::parse("192.0.2.10"));
    EXPECT_EQ(a->hostname, "sensor");
    EXPECT_EQ(a->vendorClass, "acme-1.0");
    EXPECT_EQ(a->requestList, "1,3,6,15");
    ASSERT_TRUE(a->at);
    EXPECT_EQ(a->at->time_since_epoch().count(), 1'800'000'000'000);
    EXPECT_EQ(a->spoolId, e.spoolId);
}

TEST(Announcements, DhcpV6LeasesComeFromDhcpV6)
{
    auto e = lease(LeaseAction::Add, "2001:db8:1::10");
    e.mudUrl = "https://mud.example.com/dev.json";
    auto a = fromLease(e);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->source, DeviceSource::Dhcpv6);
}

TEST(Announcements, AnUnacceptableMudStringIsARefusalWithItsStageAndCode)
{
    auto e = lease(LeaseAction::Add);
    e.mudUrl = "http://mud.example.com/dev.json";
    auto a = fromLease(e);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->kind, Announcement::Kind::Refused);
    ASSERT_TRUE(a->refusal);
    EXPECT_EQ(a->refusal->stage, FailureStage::Url);
    EXPECT_FALSE(a->refusal->code.empty());

    auto longer = lease(LeaseAction::Add);
    longer.mudUrlTooLong = true;
    auto b = fromLease(longer);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->kind, Announcement::Kind::Refused);
    EXPECT_EQ(b->refusal->code, "mud-string-too-long");
}

TEST(Announcements, LeasesWithoutUrlsRenewalsReplaysAndReleases)
{
    auto none = fromLease(lease(LeaseAction::Add));
    ASSERT_TRUE(none);
    EXPECT_EQ(none->kind, Announcement::Kind::NoUrl);
    EXPECT_FALSE(none->renewal);
    auto renewal = fromLease(lease(LeaseAction::Old));
    ASSERT_TRUE(renewal);
    EXPECT_EQ(renewal->kind, Announcement::Kind::NoUrl);
    EXPECT_TRUE(renewal->renewal);
    auto replay = lease(LeaseAction::Old);
    replay.dataMissing = true;
    replay.mudUrl = "https://mud.example.com/ignored.json";
    auto r = fromLease(replay);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->kind, Announcement::Kind::Replay) << "a start-up replay carries no MUD URL";
    auto gone = fromLease(lease(LeaseAction::Del));
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->kind, Announcement::Kind::Gone);
    EXPECT_EQ(gone->address, IpAddress::parse("192.0.2.10"));
    auto arp = fromLease(lease(LeaseAction::ArpAdd));
    ASSERT_TRUE(arp);
    EXPECT_EQ(arp->kind, Announcement::Kind::Address);
    EXPECT_FALSE(fromLease(lease(LeaseAction::ArpDel)));
    auto noMac = lease(LeaseAction::Add);
    noMac.mac.reset();
    EXPECT_FALSE(fromLease(noMac)) << "a lease without a MAC names no device";
}

TEST(Announcements, LldpNeighbours)
{
    LldpEvent e;
    e.kind = LldpEvent::Kind::Added;
    e.neighbour.chassisMac = MacAddress::parse("02:00:00:00:00:0b");
    e.neighbour.mudUrl = "https://mud.example.com/lldp.json";
    auto a = fromLldp(e);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->kind, Announcement::Kind::Url);
    EXPECT_EQ(a->source, DeviceSource::Lldp);
    EXPECT_EQ(a->mac, *MacAddress::parse("02:00:00:00:00:0b"));

    e.neighbour.mudUrl.reset();
    e.neighbour.mudUrlError = "not hex";
    auto bad = fromLldp(e);
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->kind, Announcement::Kind::Refused);
    EXPECT_EQ(bad->refusal->code, "lldp-tlv-malformed");

    e.neighbour.mudUrlError.clear();
    EXPECT_FALSE(fromLldp(e)) << "a neighbour without a MUD TLV says nothing";
    e.kind = LldpEvent::Kind::Deleted;
    auto gone = fromLldp(e);
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->kind, Announcement::Kind::Gone);
    e.kind = LldpEvent::Kind::Stopped;
    EXPECT_FALSE(fromLldp(e));
}

TEST(Announcements, TheNeighbourTableGivesAddressesButNeverTakesThemAway)
{
    NeighbourEvent e;
    e.kind = NeighbourEvent::Kind::Add;
    e.mac = *MacAddress::parse("02:00:00:00:00:0c");
    e.address = *IpAddress::parse("2001:db8:1::c");
    auto a = fromNeighbour(e);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->kind, Announcement::Kind::Address);
    EXPECT_EQ(a->address, e.address);
    e.kind = NeighbourEvent::Kind::Delete;
    EXPECT_FALSE(fromNeighbour(e));
}

} // namespace
} // namespace mudguard::test
