// The kernel refuses a batch: nothing of it is in force, nothing enforced before is lost, new
// devices are held (failed at stage kernel) and recorded with the reason, and a later tick tries
// them again. One test per kind of plan; joins and verdicts are refused at every operation of
// their batch.

#include <cerrno>

#include <gtest/gtest.h>

#include "CoreFixture.h"

namespace mudguard::controller::test {
namespace {

using namespace std::chrono_literals;
using enforcer::Assignment;
using Outcome = Executor::Outcome;

const std::string kA = "https://lighting.example.com/bulb.json";
const std::string kA2 = "https://lighting.example.com/bulb-v2.json";
const std::string kB = "https://things.example.com/plug.json";

struct CoreKernelRefusalTest : CoreTest {
    void refuseNextBatch(std::size_t at = 0) { fake->failAt(at, ENOMEM); }
    /// Disarms a refusal that no batch consumed.
    void kernelAccepts() { fake->failAt(std::size_t(-1), 0); }
    /// Device 1 enforced with kA: what must not be lost.
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
    void expectHeldAtStageKernel(unsigned i)
    {
        ASSERT_TRUE(device(i));
        EXPECT_EQ(stateOf(i), DeviceState::Failed);
        EXPECT_EQ(device(i)->stage, FailureStage::Kernel);
        EXPECT_NE(device(i)->reason.find("[kernel-refused]"), std::string::npos) << device(i)->reason;
        EXPECT_EQ(kernelAssignment(i), Assignment::pending());
        auto row = store.device(macOf(i).toString());
        ASSERT_TRUE(row);
        EXPECT_EQ(row->failureStage, FailureStage::Kernel);
    }
};

TEST_F(CoreKernelRefusalTest, ARefusedJoinHoldsTheNewDeviceUntilATickRetriesIt)
{
    enforcedBefore();
    clearRecords();
    refuseNextBatch();
    auto result = join(2, kA);
    EXPECT_EQ(result.outcome, Outcome::KernelRefused);
    EXPECT_NE(result.reason.find("fake kernel refused"), std::string::npos);
    EXPECT_TRUE(logLine("ENFORCE_FAILED"));
    auto entries = store.auditOf("ENFORCE_FAILED");
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].mac, macOf(2).toString());
    expectHeldAtStageKernel(2);
    EXPECT_EQ(device(2)->addresses, std::vector<IpAddress> { ipOf(2) });
    EXPECT_EQ(store.contents().bindings.at(macOf(2).toString()).mudUrl, kA);
    expectStillEnforced(1, kA);
    EXPECT_TRUE(agree());

    clearRecords();
    advance(1min);
    ASSERT_TRUE(tick());
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_EQ(kernelAssignment(2), Assignment::policy(policyIdOf(kA)));
    EXPECT_TRUE(audited("POLICY_APPLIED", 2));
    EXPECT_TRUE(agree());
}

TEST_F(CoreKernelRefusalTest, AJoinRefusedAtAnyOperationOfItsBatch)
{
    enforcedBefore();
    unsigned refusals = 0;
    for (std::size_t at = 0; at < 64; ++at) {
        SCOPED_TRACE(at);
        const unsigned dev = 10 + static_cast<unsigned>(at);
        refuseNextBatch(at);
        auto result = join(dev, kA);
        if (result) {
            kernelAccepts();
            EXPECT_EQ(stateOf(dev), DeviceState::Enforced);
            break;
        }
        ++refusals;
        ASSERT_EQ(result.outcome, Outcome::KernelRefused);
        expectHeldAtStageKernel(dev);
        expectStillEnforced(1, kA);
        ASSERT_TRUE(agree());
        ASSERT_TRUE(tick());
        EXPECT_EQ(stateOf(dev), DeviceState::Enforced);
        ASSERT_TRUE(agree());
    }
    EXPECT_GT(refusals, 0u);
}

TEST_F(CoreKernelRefusalTest, AVerdictRefusedAtAnyOperationOfItsBatch)
{
    enforcedBefore();
    const std::string url = kB;
    const auto policies = enforcer->policyIds();
    unsigned refusals = 0;
    for (std::size_t at = 0; at < 256; ++at) {
        SCOPED_TRACE(at);
        ASSERT_TRUE(join(2, url));
        refuseNextBatch(at);
        auto result = verdict(accepted(url));
        if (result) {
            kernelAccepts();
            EXPECT_EQ(stateOf(2), DeviceState::Enforced);
            break;
        }
        ++refusals;
        ASSERT_EQ(result.outcome, Outcome::KernelRefused);
        expectHeldAtStageKernel(2);
        EXPECT_FALSE(core->state().policies.count(url));
        EXPECT_EQ(enforcer->policyIds(), policies);
        expectStillEnforced(1, kA);
        ASSERT_TRUE(agree());
        // The tick fetches the file again; its verdict enforces the device.
        clearRecords();
        ASSERT_TRUE(tick());
        EXPECT_EQ(stateOf(2), DeviceState::Fetching);
        EXPECT_TRUE(fetched(url));
        ASSERT_TRUE(verdict(accepted(url)));
        EXPECT_EQ(stateOf(2), DeviceState::Enforced);
        ASSERT_TRUE(agree());
        // Back to where the next round starts: the device and its policy gone.
        ASSERT_TRUE(executor->applyOrNothing(core->removeDevice(macOf(2), admin, now).plan));
        ASSERT_EQ(enforcer->policyIds(), policies);
    }
    // A policy install is a batch of many operations: each was refused once.
    EXPECT_GT(refusals, 5u);
    RecordProperty("refused_operations", static_cast<int>(refusals));
}

TEST_F(CoreKernelRefusalTest, ARefusedAdminActionChangesNothing)
{
    enforcedBefore();
    clearRecords();
    refuseNextBatch();
    auto result = executor->applyOrNothing(core->quarantine(macOf(1), {}, admin, now).plan);
    EXPECT_EQ(result.outcome, Outcome::KernelRefused);
    EXPECT_TRUE(logLine("ENFORCE_FAILED"));
    EXPECT_FALSE(audited("DEVICE_QUARANTINED"));
    EXPECT_FALSE(audited("ADMIN_ACTION"));
    expectStillEnforced(1, kA);
    EXPECT_TRUE(agree());

    refuseNextBatch();
    result = executor->applyOrNothing(core->registerDevice(macOf(2), kA, std::nullopt, admin, now).plan);
    EXPECT_EQ(result.outcome, Outcome::KernelRefused);
    EXPECT_FALSE(device(2));
    EXPECT_FALSE(enforcer->device(core::toEnforcer(macOf(2))));
    EXPECT_TRUE(agree());

    // Once the kernel accepts, the admin's retry works.
    ASSERT_TRUE(executor->applyOrNothing(core->quarantine(macOf(1), {}, admin, now).plan));
    EXPECT_EQ(kernelAssignment(1), Assignment::quarantine());
    ASSERT_TRUE(executor->applyOrNothing(core->registerDevice(macOf(2), kA, std::nullopt, admin, now).plan));
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_TRUE(agree());
}

TEST_F(CoreKernelRefusalTest, ARefusedUnbindIsRetriedByTheNextTick)
{
    enforcedBefore();
    ASSERT_TRUE(gone(1));
    advance(2h);
    refuseNextBatch();
    auto result = tick();
    EXPECT_EQ(result.outcome, Outcome::KernelRefused);
    EXPECT_TRUE(audited("ENFORCE_FAILED"));
    ASSERT_TRUE(device(1));
    EXPECT_TRUE(store.device(macOf(1).toString()));
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kA)));
    EXPECT_TRUE(agree());
    advance(1min);
    ASSERT_TRUE(tick());
    EXPECT_FALSE(device(1));
    EXPECT_TRUE(enforcer->policyIds().empty());
    EXPECT_TRUE(agree());
}

TEST_F(CoreKernelRefusalTest, ARefusedReloadKeepsTheRunningConfiguration)
{
    start();
    ASSERT_TRUE(join(1, kA));
    ASSERT_TRUE(verdict(accepted(kA, classDocument(kA))));
    ASSERT_NE(enforcer->render().find("192.168.1.0/24"), std::string::npos);
    core::Settings next = settings;
    next.lanPrefixes = { *enforcer::Prefix::parse("10.20.0.0/16") };
    next.devices = { { macOf(2), kA, std::nullopt } };
    refuseNextBatch();
    auto result = executor->applyOrNothing(core->reload(next, now));
    EXPECT_EQ(result.outcome, Outcome::KernelRefused);
    EXPECT_EQ(core->settings().lanPrefixes, settings.lanPrefixes);
    EXPECT_TRUE(core->settings().devices.empty());
    EXPECT_FALSE(device(2));
    EXPECT_NE(enforcer->render().find("192.168.1.0/24"), std::string::npos);
    EXPECT_EQ(enforcer->render().find("10.20.0.0/16"), std::string::npos);
    expectStillEnforced(1, kA);
    EXPECT_TRUE(agree());
    ASSERT_TRUE(executor->applyOrNothing(core->reload(next, now)));
    EXPECT_NE(enforcer->render().find("10.20.0.0/16"), std::string::npos);
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_EQ(core->settings().lanPrefixes, next.lanPrefixes);
    EXPECT_TRUE(agree());
}

TEST_F(CoreKernelRefusalTest, ARefusedHealIsTriedAgain)
{
    enforcedBefore();
    store.failAt(1);
    ASSERT_EQ(join(2, kA).outcome, Outcome::StoreRefused);
    ASSERT_FALSE(device(2)->recorded);
    store.recover();
    refuseNextBatch();
    auto result = heal();
    EXPECT_EQ(result.outcome, Outcome::KernelRefused);
    EXPECT_TRUE(core->needsHeal());
    EXPECT_EQ(kernelAssignment(2), Assignment::pending());
    expectStillEnforced(1, kA);
    EXPECT_TRUE(agree());
    ASSERT_TRUE(heal());
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_TRUE(device(2)->recorded);
    EXPECT_FALSE(core->needsHeal());
    EXPECT_TRUE(agree());
}

TEST_F(CoreKernelRefusalTest, ARefusedDnsUpdateKeepsTheEnforcement)
{
    enforcedBefore();
    const auto address = *enforcer::IpAddress::parse("198.51.100.7");
    refuseNextBatch();
    auto result = apply(core->dnsUpdates({ { "cloud.example.com", { { address, std::chrono::seconds(300) } } } }, now));
    EXPECT_EQ(result.outcome, Outcome::KernelRefused);
    EXPECT_TRUE(audited("ENFORCE_FAILED"));
    EXPECT_TRUE(enforcer->dnsAddresses("cloud.example.com").empty());
    expectStillEnforced(1, kA);
    EXPECT_TRUE(agree());
    ASSERT_TRUE(apply(core->dnsUpdates({ { "cloud.example.com", { { address, std::chrono::seconds(300) } } } }, now)));
    EXPECT_EQ(enforcer->dnsAddresses("cloud.example.com"), std::vector<enforcer::IpAddress> { address });
    EXPECT_TRUE(agree());
}

TEST_F(CoreKernelRefusalTest, WithoutItsFirstBatchTheDaemonCannotStart)
{
    refuseStart = true;
    EXPECT_ANY_THROW(start());
    EXPECT_EQ(store.committed(), 0u);
    EXPECT_TRUE(effects.plans.empty());
    refuseStart = false;
    start();
    EXPECT_TRUE(audited("STATE_RESTORED"));
    EXPECT_TRUE(agree());
}

TEST_F(CoreKernelRefusalTest, ARefusedUrlChangeIsTriedAgain)
{
    enforcedBefore();
    ASSERT_TRUE(join(1, kA2));
    refuseNextBatch();
    ASSERT_EQ(verdict(accepted(kA2)).outcome, Outcome::KernelRefused);
    // The old policy stays in force.
    expectStillEnforced(1, kA);
    EXPECT_TRUE(agree());
    // Once the kernel accepts again, the change must not be stuck: the timers, a heal or the
    // device's next announcement get its file fetched again.
    clearRecords();
    advance(1min);
    ASSERT_TRUE(tick());
    if (core->needsHeal()) {
        ASSERT_TRUE(heal());
    }
    ASSERT_TRUE(join(1, kA2));
    EXPECT_TRUE(fetched(kA2));
    EXPECT_TRUE(agree());
}

} // namespace
} // namespace mudguard::controller::test
