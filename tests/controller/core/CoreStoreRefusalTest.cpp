// The store refuses a write ("database or disk is full") after the kernel took the batch: the
// kernel is returned to where memory is, nothing enforced before is lost, new devices are held
// unrecorded (failed at stage store), the daemon is degraded, and the heal once the store accepts
// writes again records them and puts their policies in force. One test per kind of plan.

#include <gtest/gtest.h>

#include "CoreFixture.h"

namespace mudguard::controller::test {
namespace {

using namespace std::chrono_literals;
using enforcer::Assignment;
using Outcome = Executor::Outcome;

const std::string kA = "https://lighting.example.com/bulb.json";
const std::string kB = "https://things.example.com/plug.json";

struct CoreStoreRefusalTest : CoreTest {
    void enforcedBefore()
    {
        start();
        enforce(1, kA);
    }
    void expectStillEnforced(unsigned i, const std::string& url)
    {
        EXPECT_EQ(stateOf(i), DeviceState::Enforced);
        EXPECT_EQ(kernelAssignment(i), Assignment::policy(policyIdOf(url)));
        EXPECT_EQ(store.device(macOf(i).toString())->state, DeviceState::Enforced);
    }
    void expectHeldUnrecorded(unsigned i)
    {
        ASSERT_TRUE(device(i));
        EXPECT_FALSE(device(i)->recorded);
        EXPECT_EQ(stateOf(i), DeviceState::Failed);
        EXPECT_EQ(device(i)->stage, FailureStage::Store);
        EXPECT_NE(device(i)->reason.find("database or disk is full"), std::string::npos) << device(i)->reason;
        EXPECT_EQ(kernelAssignment(i), Assignment::pending());
        EXPECT_FALSE(store.device(macOf(i).toString()));
    }
    void expectDegraded()
    {
        EXPECT_TRUE(core->needsHeal());
        EXPECT_EQ(core->state().storeFailure, "database or disk is full");
        EXPECT_FALSE(core->degraded().empty());
    }
};

TEST_F(CoreStoreRefusalTest, ARefusedJoinHoldsTheNewDeviceUntilTheStoreHeals)
{
    enforcedBefore();
    clearRecords();
    store.failAt(1);
    auto result = join(2, kA);
    EXPECT_EQ(result.outcome, Outcome::StoreRefused);
    EXPECT_EQ(result.reason, "database or disk is full");
    EXPECT_TRUE(logged("STORE_FAILED"));
    EXPECT_TRUE(logLine("STORE_FAILED"));
    expectHeldUnrecorded(2);
    EXPECT_EQ(device(2)->addresses, std::vector<IpAddress> { ipOf(2) });
    expectStillEnforced(1, kA);
    expectDegraded();
    EXPECT_TRUE(agree());

    // The heal is refused as long as the store refuses.
    store.failAt(1);
    EXPECT_EQ(heal().outcome, Outcome::StoreRefused);
    expectHeldUnrecorded(2);
    EXPECT_TRUE(agree());

    clearRecords();
    ASSERT_TRUE(heal());
    EXPECT_TRUE(audited("STORE_RECOVERED"));
    EXPECT_TRUE(logged("STORE_RECOVERED"));
    auto joined = store.auditOf("DEVICE_JOINED", macOf(2).toString());
    ASSERT_EQ(joined.size(), 1u);
    EXPECT_NE(joined[0].reason.find("recorded once the state database accepted writes again"), std::string::npos);
    EXPECT_TRUE(audited("BINDING_CREATED", 2));
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_TRUE(device(2)->recorded);
    EXPECT_EQ(store.addressesOf(macOf(2).toString()), std::vector<std::string> { ipOf(2).toString() });
    EXPECT_FALSE(core->needsHeal());
    EXPECT_TRUE(core->degraded().empty());
    EXPECT_TRUE(agree());
}

TEST_F(CoreStoreRefusalTest, AHeldDeviceWhoseFileIsNotKnownIsFetchedOnceRecorded)
{
    start();
    store.failAt(1);
    auto spooled = urlAnnouncement(1, kB);
    spooled.spoolId = "spool-1";
    ASSERT_EQ(announce({ spooled }).outcome, Outcome::StoreRefused);
    expectHeldUnrecorded(1);
    EXPECT_EQ(device(1)->unrecordedSpool, std::vector<std::string> { "spool-1" });
    EXPECT_TRUE(effects.plans.back().spoolDone.empty()); // stays spooled until recorded
    EXPECT_TRUE(agree());
    clearRecords();
    ASSERT_TRUE(heal());
    EXPECT_EQ(stateOf(1), DeviceState::Fetching);
    EXPECT_TRUE(fetched(kB));
    EXPECT_EQ(effects.plans.back().spoolDone, std::vector<std::string> { "spool-1" });
    ASSERT_TRUE(verdict(accepted(kB)));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_TRUE(agree());
}

TEST_F(CoreStoreRefusalTest, ARefusedVerdictIsUndoneAndFetchedAgainAfterTheHeal)
{
    enforcedBefore();
    ASSERT_TRUE(join(2, kB));
    store.failAt(1);
    auto result = verdict(accepted(kB));
    EXPECT_EQ(result.outcome, Outcome::StoreRefused);
    // The kernel was returned to memory: kB's policy is not installed, device 2 still waits.
    EXPECT_EQ(stateOf(2), DeviceState::Fetching);
    EXPECT_EQ(kernelAssignment(2), Assignment::pending());
    EXPECT_EQ(enforcer->policyIds(), std::vector<std::string> { policyIdOf(kA) });
    EXPECT_EQ(core->state().retryUrls, std::set<std::string> { kB });
    EXPECT_FALSE(store.contents().documents.count(kB));
    expectStillEnforced(1, kA);
    expectDegraded();
    EXPECT_TRUE(agree());

    clearRecords();
    ASSERT_TRUE(heal());
    EXPECT_TRUE(audited("STORE_RECOVERED"));
    EXPECT_TRUE(fetched(kB));
    ASSERT_TRUE(verdict(accepted(kB)));
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_TRUE(core->state().retryUrls.empty());
    EXPECT_FALSE(core->needsHeal());
    EXPECT_TRUE(agree());
}

TEST_F(CoreStoreRefusalTest, ARefusedSignedVerdictAcceptsNoSigner)
{
    start();
    const auto signer = signerOf("CN=Lighting", "CN=Lighting CA", "aa01");
    ASSERT_TRUE(join(1, kA));
    store.failAt(1);
    ASSERT_EQ(verdict(accepted(kA, std::nullopt, signer)).outcome, Outcome::StoreRefused);
    // The signer accepted on first use was not recorded: memory does not remember it either.
    EXPECT_TRUE(core->state().signers.empty());
    EXPECT_TRUE(store.contents().signers.empty());
    EXPECT_TRUE(agree());
    ASSERT_TRUE(heal());
    ASSERT_TRUE(verdict(accepted(kA, std::nullopt, signer)));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_EQ(store.contents().signers.size(), 1u);
    EXPECT_TRUE(agree());
}

TEST_F(CoreStoreRefusalTest, ARefusedAuditOnlyPlanDegradesUntilTheHeal)
{
    enforcedBefore();
    store.failAt(1);
    auto result = apply(core->violations({ { macOf(1), "from-device", "203.0.113.9:23", 3 } }, now));
    EXPECT_EQ(result.outcome, Outcome::StoreRefused);
    EXPECT_FALSE(audited("VIOLATION_SUMMARY"));
    expectStillEnforced(1, kA);
    expectDegraded();
    EXPECT_TRUE(agree());
    ASSERT_TRUE(heal());
    EXPECT_TRUE(audited("STORE_RECOVERED"));
    EXPECT_FALSE(core->needsHeal());
    EXPECT_TRUE(agree());
}

TEST_F(CoreStoreRefusalTest, ARefusedAdminActionChangesNothingAndHoldsNothing)
{
    enforcedBefore();
    store.failAt(1);
    auto result = executor->applyOrNothing(core->registerDevice(macOf(2), kA, std::nullopt, admin, now).plan);
    EXPECT_EQ(result.outcome, Outcome::StoreRefused);
    EXPECT_TRUE(logLine("STORE_FAILED"));
    EXPECT_FALSE(device(2));
    EXPECT_FALSE(enforcer->device(core::toEnforcer(macOf(2))));
    EXPECT_TRUE(agree());

    store.failAt(1);
    result = executor->applyOrNothing(core->quarantine(macOf(1), {}, admin, now).plan);
    EXPECT_EQ(result.outcome, Outcome::StoreRefused);
    expectStillEnforced(1, kA);
    EXPECT_FALSE(audited("DEVICE_QUARANTINED"));
    EXPECT_TRUE(agree());

    ASSERT_TRUE(executor->applyOrNothing(core->quarantine(macOf(1), {}, admin, now).plan));
    EXPECT_EQ(kernelAssignment(1), Assignment::quarantine());
    ASSERT_TRUE(executor->applyOrNothing(core->registerDevice(macOf(2), kA, std::nullopt, admin, now).plan));
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_TRUE(agree());
}

TEST_F(CoreStoreRefusalTest, ARefusedUnbindIsUndoneAndRetried)
{
    enforcedBefore();
    ASSERT_TRUE(gone(1));
    advance(2h);
    store.failAt(1);
    EXPECT_EQ(tick().outcome, Outcome::StoreRefused);
    // Back in force: the device and its policy.
    ASSERT_TRUE(device(1));
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kA)));
    expectDegraded();
    EXPECT_TRUE(agree());
    advance(1min);
    ASSERT_TRUE(tick());
    EXPECT_FALSE(device(1));
    EXPECT_TRUE(enforcer->policyIds().empty());
    ASSERT_TRUE(heal());
    EXPECT_FALSE(core->needsHeal());
    EXPECT_TRUE(agree());
}

TEST_F(CoreStoreRefusalTest, ARefusedReloadKeepsTheRunningConfiguration)
{
    start();
    ASSERT_TRUE(join(1, kA));
    ASSERT_TRUE(verdict(accepted(kA, classDocument(kA))));
    ASSERT_NE(enforcer->render().find("192.168.1.0/24"), std::string::npos);
    core::Settings next = settings;
    next.lanPrefixes = { *enforcer::Prefix::parse("10.20.0.0/16") };
    next.devices = { { macOf(2), kA, std::nullopt } };
    store.failAt(1);
    EXPECT_EQ(executor->applyOrNothing(core->reload(next, now)).outcome, Outcome::StoreRefused);
    EXPECT_EQ(core->settings().lanPrefixes, settings.lanPrefixes);
    EXPECT_FALSE(device(2));
    EXPECT_NE(enforcer->render().find("192.168.1.0/24"), std::string::npos);
    EXPECT_EQ(enforcer->render().find("10.20.0.0/16"), std::string::npos);
    expectStillEnforced(1, kA);
    EXPECT_TRUE(agree());
    ASSERT_TRUE(executor->applyOrNothing(core->reload(next, now)));
    EXPECT_NE(enforcer->render().find("10.20.0.0/16"), std::string::npos);
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_TRUE(agree());
}

TEST_F(CoreStoreRefusalTest, AHeldDeviceRenewingItsLeaseBeforeTheHealIsNotARefusal)
{
    enforcedBefore();
    store.failAt(1);
    ASSERT_EQ(join(2, kA).outcome, Outcome::StoreRefused);
    // The store accepts writes again; the device renews its lease, from a new address, before the
    // daemon's next heal.
    advance(1s);
    auto renewal = urlAnnouncement(2, kA, 22);
    auto result = announce({ renewal });
    EXPECT_EQ(result.outcome, Outcome::Applied) << result.reason;
    EXPECT_TRUE(agree());
    ASSERT_TRUE(heal());
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_EQ(
        store.addressesOf(macOf(2).toString()), (std::vector<std::string> { ipOf(2).toString(), ipOf(22).toString() }));
    EXPECT_TRUE(agree());
}

TEST_F(CoreStoreRefusalTest, AnAdminRegisteringAHeldDeviceRecordsItWhole)
{
    enforcedBefore();
    store.failAt(1);
    ASSERT_EQ(join(2, kA).outcome, Outcome::StoreRefused);
    // The store accepts writes again; an admin registers the held device before the next heal.
    ASSERT_TRUE(executor->applyOrNothing(core->registerDevice(macOf(2), kA, std::nullopt, admin, now).plan));
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_TRUE(store.device(macOf(2).toString()));
    // Its address is recorded with it.
    EXPECT_TRUE(agree());
}

TEST_F(CoreStoreRefusalTest, AColdStartWhoseWriteIsRefusedIsRecordedByTheHeal)
{
    settings.devices = { { macOf(7), kA, std::nullopt } };
    store.failAt(1);
    start();
    ASSERT_TRUE(device(7));
    EXPECT_EQ(kernelAssignment(7), Assignment::pending());
    expectDegraded();
    ASSERT_TRUE(heal());
    EXPECT_FALSE(core->needsHeal());
    // The configured device is recorded now, and the store says what memory says.
    EXPECT_TRUE(store.device(macOf(7).toString()));
    EXPECT_TRUE(agree());
}

} // namespace
} // namespace mudguard::controller::test
