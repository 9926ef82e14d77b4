// Joins, verdicts, refreshes, addresses and leaves: what the core decides, the event IDs it
// records, and that the kernel, the store and memory agree after each step.

#include <gtest/gtest.h>

#include "CoreFixture.h"

namespace mudguard::controller::test {
namespace {

using namespace std::chrono_literals;
using enforcer::Assignment;

const std::string kBulb = "https://lighting.example.com/bulb.json";
const std::string kPlug = "https://things.example.com/plug.json";

TEST_F(CoreTest, AgreeNoticesWhenTheStoreOrTheKernelDiffers)
{
    start();
    enforce(1, kBulb);
    ASSERT_TRUE(agree());
    // The kernel moves the device to pending behind the core's back.
    enforcer->commit(enforcer::Transaction().setDevice(core::toEnforcer(macOf(1)), Assignment::pending()));
    EXPECT_FALSE(agree());
    enforcer->commit(
        enforcer::Transaction().setDevice(core::toEnforcer(macOf(1)), Assignment::policy(policyIdOf(kBulb))));
    ASSERT_TRUE(agree());
    // The store says something else of it.
    DeviceRow row = *store.device(macOf(1).toString());
    row.state = DeviceState::Failed;
    store.commit(StoreBatch().add(StoreBatch::PutDevice { row }));
    EXPECT_FALSE(agree());
}

TEST_F(CoreTest, JoinThatNeedsAFetch)
{
    start();
    ASSERT_TRUE(join(1, kBulb));
    EXPECT_EQ(stateOf(1), DeviceState::Fetching);
    EXPECT_EQ(kernelAssignment(1), Assignment::pending());
    EXPECT_TRUE(fetched(kBulb));
    EXPECT_TRUE(audited("DEVICE_JOINED", 1));
    EXPECT_TRUE(logged("DEVICE_JOINED", 1));
    EXPECT_TRUE(audited("BINDING_CREATED", 1));
    EXPECT_TRUE(logged("BINDING_CREATED", 1));
    EXPECT_TRUE(logged("DEVICE_STATE_CHANGED", 1));
    EXPECT_EQ(store.contents().bindings.at(macOf(1).toString()).mudUrl, kBulb);
    EXPECT_TRUE(agree());

    clearRecords();
    ASSERT_TRUE(verdict(accepted(kBulb)));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kBulb)));
    EXPECT_TRUE(audited("MUD_FETCHED"));
    EXPECT_TRUE(logged("MUD_FETCHED"));
    EXPECT_TRUE(audited("POLICY_APPLIED", 1));
    EXPECT_TRUE(logged("POLICY_APPLIED", 1));
    EXPECT_TRUE(logged("DEVICE_STATE_CHANGED", 1));
    ASSERT_EQ(store.contents().documents.count(kBulb), 1u);
    EXPECT_EQ(*store.contents().documents.at(kBulb).document, mudDocument(kBulb));
    // The policy's names are to be resolved, the addresses given go to its set.
    EXPECT_EQ(core->policyNames(), std::set<std::string> { "cloud.example.com" });
    auto address = *enforcer::IpAddress::parse("198.51.100.7");
    ASSERT_TRUE(apply(core->dnsUpdates({ { "cloud.example.com", { { address, 300s } } } }, now)));
    EXPECT_EQ(enforcer->dnsAddresses("cloud.example.com"), std::vector<enforcer::IpAddress> { address });
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, JoinWithThePolicyAlreadyInstalled)
{
    start();
    enforce(1, kBulb);
    clearRecords();
    ASSERT_TRUE(join(2, kBulb));
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_EQ(kernelAssignment(2), Assignment::policy(policyIdOf(kBulb)));
    EXPECT_TRUE(fetches().empty());
    EXPECT_TRUE(audited("POLICY_APPLIED", 2));
    EXPECT_TRUE(logged("POLICY_APPLIED", 2));
    EXPECT_EQ(core->state().policyUse.at(kBulb), 2u);
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, ARenewalOfAnEnforcedDeviceChangesNothing)
{
    start();
    enforce(1, kBulb);
    clearRecords();
    advance(10min);
    ASSERT_TRUE(join(1, kBulb));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_FALSE(logged("POLICY_APPLIED"));
    EXPECT_FALSE(logged("DEVICE_STATE_CHANGED"));
    EXPECT_TRUE(fetches().empty());
    EXPECT_EQ(store.device(macOf(1).toString())->announcedAt, now);
    EXPECT_TRUE(agree());
}

struct RefusalCase {
    FailureStage stage;
    const char* code;
    const char* event;
};

TEST_F(CoreTest, ARefusedVerdictFailsTheDeviceWithItsStageAndReason)
{
    start();
    const RefusalCase cases[] = {
        { FailureStage::Fetch, "fetch-http-status", "MUD_FETCH_FAILED" },
        { FailureStage::Validation, "mud-url-mismatch", "MUD_INVALID" },
        { FailureStage::Signature, "signature-untrusted", "SIGNATURE_FAILED" },
        { FailureStage::Limit, "fetch-queue-full", "MUD_FETCH_FAILED" },
    };
    unsigned i = 1;
    for (const auto& c : cases) {
        SCOPED_TRACE(c.code);
        const std::string url = "https://maker" + std::to_string(i) + ".example.com/device.json";
        ASSERT_TRUE(join(i, url));
        clearRecords();
        ASSERT_TRUE(verdict(refused(url, c.stage, c.code, "the server said no")));
        const auto* d = device(i);
        EXPECT_EQ(d->state, DeviceState::Failed);
        EXPECT_EQ(d->stage, c.stage);
        EXPECT_EQ(d->reason, std::string("the server said no [") + c.code + "]");
        EXPECT_EQ(kernelAssignment(i), Assignment::pending());
        auto entries = store.auditOf(c.event);
        ASSERT_FALSE(entries.empty());
        EXPECT_EQ(entries.back().mudUrl, url);
        EXPECT_NE(entries.back().detail.find(c.code), std::string::npos);
        EXPECT_TRUE(logged(c.event));
        EXPECT_TRUE(logged("DEVICE_STATE_CHANGED", i));
        EXPECT_EQ(store.contents().documents.at(url).lastError, "the server said no");
        EXPECT_EQ(store.device(macOf(i).toString())->failureStage, c.stage);
        EXPECT_TRUE(agree());
        ++i;
    }
    // The next announcement of a failed device fetches its file again; a good file enforces it.
    clearRecords();
    advance(1min);
    ASSERT_TRUE(join(1, "https://maker1.example.com/device.json"));
    EXPECT_EQ(stateOf(1), DeviceState::Fetching);
    EXPECT_TRUE(fetched("https://maker1.example.com/device.json"));
    ASSERT_TRUE(verdict(accepted("https://maker1.example.com/device.json")));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, AFileThisRouterCannotEnforceIsMudUnsupported)
{
    start();
    ASSERT_TRUE(join(1, kBulb));
    auto v = accepted(kBulb);
    auto profile = std::make_shared<mudparser::Profile>(*v.profile);
    profile->acls.at(0).aces.at(0).matches.unsupported.push_back("/ipv4/identification");
    v.profile = profile;
    clearRecords();
    ASSERT_TRUE(verdict(v));
    EXPECT_EQ(stateOf(1), DeviceState::Failed);
    EXPECT_EQ(device(1)->stage, FailureStage::Translation);
    EXPECT_NE(device(1)->reason.find("[enforce-unsupported]"), std::string::npos);
    EXPECT_EQ(kernelAssignment(1), Assignment::pending());
    EXPECT_TRUE(enforcer->policyIds().empty());
    EXPECT_TRUE(audited("MUD_UNSUPPORTED"));
    EXPECT_TRUE(logged("MUD_UNSUPPORTED"));
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, AFileMarkedUnsupportedByItsMakerIsEnforcedAndNeverRefreshed)
{
    start();
    ASSERT_TRUE(join(1, kBulb));
    auto v = accepted(kBulb);
    v.unsupported = true;
    ASSERT_TRUE(verdict(v));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    auto entries = store.auditOf("MUD_UNSUPPORTED");
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_NE(entries[0].reason.find("is-supported: false"), std::string::npos);
    EXPECT_FALSE(store.contents().documents.at(kBulb).supported);
    clearRecords();
    advance(100h);
    ASSERT_TRUE(tick());
    EXPECT_FALSE(fetched(kBulb));
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, ARefreshFindsTheFileUnchanged)
{
    start();
    enforce(1, kBulb);
    clearRecords();
    advance(47h);
    ASSERT_TRUE(tick());
    EXPECT_FALSE(fetched(kBulb));
    advance(2h);
    ASSERT_TRUE(tick());
    EXPECT_TRUE(fetched(kBulb));
    clearRecords();
    ASSERT_TRUE(verdict(accepted(kBulb, std::nullopt, std::nullopt, mudparser::VerdictSource::NotModified)));
    EXPECT_TRUE(logged("MUD_NOT_MODIFIED"));
    EXPECT_TRUE(logLine("MUD_NOT_MODIFIED"));
    EXPECT_EQ(store.auditOf("MUD_FETCHED").size(), 1u); // only the first fetch
    EXPECT_EQ(store.auditOf("POLICY_APPLIED", macOf(1).toString()).size(), 1u);
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_EQ(store.contents().documents.at(kBulb).fetchedAt, now);
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, ARefreshedFileReplacesThePolicyOfEveryDeviceHoldingIt)
{
    start();
    enforce(1, kBulb);
    enforce(2, kBulb);
    const std::string id = policyIdOf(kBulb);
    advance(49h);
    ASSERT_TRUE(tick());
    clearRecords();
    ASSERT_TRUE(verdict(accepted(kBulb, mudDocument(kBulb, 8443))));
    EXPECT_EQ(policyIdOf(kBulb), id);
    const auto* policy = enforcer->policy(id);
    ASSERT_TRUE(policy);
    ASSERT_FALSE(policy->fromDevice.empty());
    EXPECT_EQ(policy->fromDevice.front().dstPort, enforcer::PortSpec::eq(8443));
    for (unsigned i : { 1u, 2u }) {
        auto entries = store.auditOf("POLICY_APPLIED", macOf(i).toString());
        ASSERT_EQ(entries.size(), 2u);
        EXPECT_EQ(entries.back().reason, "the refreshed MUD file is in force");
        EXPECT_EQ(kernelAssignment(i), Assignment::policy(id));
    }
    EXPECT_EQ(store.contents().documents.at(kBulb).document, mudDocument(kBulb, 8443));
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, AFailedRefreshKeepsTheLastKnownGoodPolicy)
{
    start();
    enforce(1, kBulb);
    const Timestamp fetchedAt = now;
    advance(49h);
    ASSERT_TRUE(tick());
    clearRecords();
    auto v = accepted(kBulb, std::nullopt, std::nullopt, mudparser::VerdictSource::LastKnownGood);
    v.outcome = FetchVerdict::Outcome::KeptLastKnownGood;
    v.fetchedAt = fetchedAt; // the cached copy's
    v.failure = Failure { FailureStage::Fetch, "fetch-timeout", "the server did not answer" };
    ASSERT_TRUE(verdict(v));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kBulb)));
    EXPECT_TRUE(audited("POLICY_KEPT", 1));
    EXPECT_TRUE(logged("POLICY_KEPT", 1)); // docs/events.md: a warning line as well
    auto failed = store.auditOf("MUD_FETCH_FAILED");
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ(failed[0].reason, "refresh refused: the server did not answer");
    EXPECT_TRUE(logged("MUD_FETCH_FAILED"));
    EXPECT_EQ(store.contents().documents.at(kBulb).lastError, "the server did not answer");
    // Not hammered: the next attempt waits ten minutes.
    clearRecords();
    advance(5min);
    ASSERT_TRUE(tick());
    EXPECT_FALSE(fetched(kBulb));
    advance(6min);
    ASSERT_TRUE(tick());
    EXPECT_TRUE(fetched(kBulb));
    // A refusal of the refresh keeps the policy as well.
    clearRecords();
    ASSERT_TRUE(verdict(refused(kBulb, FailureStage::Signature, "signature-expired", "expired")));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_EQ(store.auditOf("POLICY_KEPT", macOf(1).toString()).size(), 2u);
    EXPECT_TRUE(logged("POLICY_KEPT", 1));
    EXPECT_TRUE(audited("SIGNATURE_FAILED"));
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, LeavingEndsTheBindingAfterTheGraceTime)
{
    start();
    enforce(1, kBulb);
    enforce(2, kPlug);
    clearRecords();
    ASSERT_TRUE(gone(1));
    EXPECT_TRUE(audited("DEVICE_LEFT", 1));
    EXPECT_TRUE(logged("DEVICE_LEFT", 1));
    EXPECT_EQ(device(1)->leaveAt, now + 1h);
    EXPECT_EQ(store.device(macOf(1).toString())->leaveAt, now + 1h);
    EXPECT_TRUE(device(1)->addresses.empty()); // the lease's address went with it
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_TRUE(agree());

    advance(59min);
    ASSERT_TRUE(tick());
    ASSERT_TRUE(device(1));
    EXPECT_TRUE(agree());

    clearRecords();
    advance(1min);
    ASSERT_TRUE(tick());
    EXPECT_FALSE(device(1));
    EXPECT_FALSE(enforcer->device(core::toEnforcer(macOf(1))));
    EXPECT_FALSE(store.device(macOf(1).toString()));
    EXPECT_FALSE(store.contents().bindings.count(macOf(1).toString()));
    EXPECT_TRUE(audited("BINDING_REMOVED", 1));
    EXPECT_TRUE(logged("BINDING_REMOVED", 1));
    EXPECT_TRUE(audited("DEVICE_REMOVED", 1));
    EXPECT_TRUE(logged("DEVICE_REMOVED", 1));
    // Its policy had no other user: it leaves the kernel; the other device's stays.
    EXPECT_TRUE(audited("POLICY_REMOVED"));
    EXPECT_TRUE(logged("POLICY_REMOVED"));
    EXPECT_EQ(enforcer->policyIds(), std::vector<std::string> { policyIdOf(kPlug) });
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, ADeviceBackWithinItsGraceTimeStays)
{
    start();
    enforce(1, kBulb);
    ASSERT_TRUE(gone(1));
    advance(30min);
    ASSERT_TRUE(join(1, kBulb));
    EXPECT_FALSE(device(1)->leaveAt);
    EXPECT_FALSE(store.device(macOf(1).toString())->leaveAt);
    advance(2h);
    ASSERT_TRUE(tick());
    ASSERT_TRUE(device(1));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_TRUE(agree());
}

Announcement renewalWithoutUrl(unsigned device, Timestamp at)
{
    Announcement a;
    a.kind = Announcement::Kind::NoUrl;
    a.mac = macOf(device);
    a.address = ipOf(device);
    a.renewal = true;
    a.at = at;
    return a;
}

TEST_F(CoreTest, ARenewalWithoutItsUrlKeepsThePolicy)
{
    start();
    enforce(1, kBulb);
    clearRecords();
    ASSERT_TRUE(announce({ renewalWithoutUrl(1, now) }));
    EXPECT_TRUE(audited("URL_MISSING", 1));
    EXPECT_TRUE(logged("URL_MISSING", 1));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_FALSE(device(1)->leaveAt);
    EXPECT_FALSE(logged("DEVICE_LEFT"));
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, ARenewalWithoutItsUrlUnbindsWhenConfiguredSo)
{
    settings.unbindWhenUrlWithdrawn = true;
    start();
    enforce(1, kBulb);
    clearRecords();
    ASSERT_TRUE(announce({ renewalWithoutUrl(1, now) }));
    EXPECT_TRUE(audited("URL_MISSING", 1));
    EXPECT_TRUE(logged("DEVICE_LEFT", 1));
    EXPECT_EQ(device(1)->leaveAt, now + 1h);
    EXPECT_TRUE(agree());
    advance(2h);
    ASSERT_TRUE(tick());
    EXPECT_FALSE(device(1));
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, AnAddressFollowsTheDeviceThatUsesIt)
{
    start();
    enforce(1, kBulb);
    enforce(2, kBulb);
    // Device 2 takes device 1's address (a new lease, the neighbour table).
    Announcement a;
    a.kind = Announcement::Kind::Address;
    a.mac = macOf(2);
    a.address = ipOf(1);
    ASSERT_TRUE(announce({ a }));
    EXPECT_TRUE(device(1)->addresses.empty());
    EXPECT_EQ(device(2)->addresses, (std::vector<IpAddress> { ipOf(1), ipOf(2) }));
    EXPECT_TRUE(store.addressesOf(macOf(1).toString()).empty());
    EXPECT_EQ(core->state().owners.at(ipOf(1)), macOf(2));
    EXPECT_TRUE(agree());
    // An address announced for an unknown device is not recorded.
    a.mac = macOf(9);
    a.address = ipOf(9);
    ASSERT_TRUE(announce({ a }));
    EXPECT_FALSE(device(9));
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, AnOlderAnnouncementReplayedFromTheSpoolIsIgnored)
{
    start();
    enforce(1, kBulb);
    auto old = urlAnnouncement(1, kPlug);
    old.at = now - 1min;
    old.spoolId = "spool-1";
    clearRecords();
    ASSERT_TRUE(announce({ old }));
    EXPECT_EQ(device(1)->mudUrl, kBulb);
    EXPECT_FALSE(device(1)->pendingUrl);
    ASSERT_EQ(effects.plans.size(), 1u);
    EXPECT_EQ(effects.plans[0].spoolDone, std::vector<std::string> { "spool-1" });
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, ARefusedUrlFailsANewDeviceAtStageUrl)
{
    start();
    Announcement a;
    a.kind = Announcement::Kind::Refused;
    a.mac = macOf(1);
    a.refusal = Failure { FailureStage::Url, "mud-url-scheme", "a MUD URL must use https" };
    a.at = now;
    ASSERT_TRUE(announce({ a }));
    EXPECT_EQ(stateOf(1), DeviceState::Failed);
    EXPECT_EQ(device(1)->stage, FailureStage::Url);
    EXPECT_EQ(device(1)->reason, "a MUD URL must use https [mud-url-scheme]");
    EXPECT_EQ(kernelAssignment(1), Assignment::pending());
    EXPECT_TRUE(audited("MUD_INVALID", 1));
    EXPECT_TRUE(logged("MUD_INVALID", 1));
    EXPECT_TRUE(agree());
    // An enforced device that announces something unacceptable keeps its policy.
    enforce(2, kBulb);
    a.mac = macOf(2);
    ASSERT_TRUE(announce({ a }));
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_TRUE(audited("MUD_INVALID", 2));
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, ADeviceChangingItsUrlTooOftenIsHeldUntilTheWindowEnds)
{
    settings.maxUrlChanges = 2;
    settings.urlChangeWindow = 3600s;
    start();
    enforce(1, kBulb);
    ASSERT_TRUE(join(1, "https://lighting.example.com/b.json"));
    ASSERT_TRUE(join(1, "https://lighting.example.com/c.json"));
    EXPECT_EQ(device(1)->pendingUrl, "https://lighting.example.com/c.json");
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    clearRecords();
    ASSERT_TRUE(join(1, "https://lighting.example.com/d.json"));
    EXPECT_EQ(stateOf(1), DeviceState::Failed);
    EXPECT_EQ(device(1)->stage, FailureStage::Limit);
    EXPECT_NE(device(1)->reason.find("[url-changes]"), std::string::npos);
    EXPECT_FALSE(device(1)->pendingUrl);
    EXPECT_EQ(kernelAssignment(1), Assignment::pending());
    EXPECT_TRUE(audited("URL_CHANGE_REFUSED", 1));
    EXPECT_TRUE(logged("URL_CHANGE_REFUSED", 1));
    EXPECT_TRUE(audited("POLICY_REMOVED"));
    EXPECT_TRUE(enforcer->policyIds().empty());
    EXPECT_TRUE(agree());
    // Within the window even its old URL does not free it.
    advance(10min);
    ASSERT_TRUE(join(1, kBulb));
    EXPECT_EQ(stateOf(1), DeviceState::Failed);
    EXPECT_EQ(store.auditOf("URL_CHANGE_REFUSED", macOf(1).toString()).size(), 1u);
    EXPECT_TRUE(agree());
    // Once it is over, the next announcement is followed again.
    advance(1h);
    clearRecords();
    ASSERT_TRUE(join(1, kBulb));
    EXPECT_EQ(stateOf(1), DeviceState::Fetching);
    EXPECT_TRUE(fetched(kBulb));
    ASSERT_TRUE(verdict(accepted(kBulb)));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_TRUE(agree());
}

TEST_F(CoreTest, AFileNoDeviceWaitsForAnyMoreIsNotLeftInTheKernel)
{
    start();
    ASSERT_TRUE(join(1, kBulb));
    // Before its file arrives, the device is removed by an admin.
    ASSERT_TRUE(executor->applyOrNothing(core->removeDevice(macOf(1), admin, now).plan));
    ASSERT_TRUE(verdict(accepted(kBulb)));
    EXPECT_TRUE(agree());
    // Nothing uses the policy: it is not installed (a restart would drop it anyway).
    EXPECT_TRUE(enforcer->policyIds().empty());
    EXPECT_TRUE(core->policyNames().empty());
}

TEST_F(CoreTest, ViolationsAndRestoredTablesAreAudited)
{
    start();
    enforce(1, kBulb);
    clearRecords();
    ASSERT_TRUE(apply(core->violations({ { macOf(1), "from-device", "203.0.113.9:23", 12 } }, now)));
    auto v = store.auditOf("VIOLATION_SUMMARY", macOf(1).toString());
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].reason, "12 packets blocked");
    EXPECT_EQ(v[0].mudUrl, kBulb);
    EXPECT_TRUE(logged("VIOLATION_SUMMARY", 1));
    ASSERT_TRUE(apply(core->tablesRestored(now)));
    EXPECT_TRUE(audited("TABLE_RECREATED"));
    EXPECT_TRUE(logged("TABLE_RECREATED"));
    EXPECT_TRUE(agree());
}

} // namespace
} // namespace mudguard::controller::test
