// An admin's decisions stick: a device in quarantine stays there, and a binding an admin set (by
// the API or the configuration) is not replaced by what the device announced before, whatever
// arrives afterwards (announcements, verdicts, a signer's acceptance, the heal of the store).

#include <gtest/gtest.h>

#include "CoreFixture.h"

namespace mudguard::controller::test {
namespace {

using enforcer::Assignment;
using Outcome = Executor::Outcome;

const std::string kA = "https://lighting.example.com/bulb.json";
const std::string kA2 = "https://lighting.example.com/bulb-v2.json";
const std::string kB = "https://things.example.com/plug.json";

struct CoreAdminDecisionTest : CoreTest {
    Executor::Result act(core::Core::Action action) { return executor->applyOrNothing(std::move(action.plan)); }
    void expectQuarantined(unsigned i)
    {
        EXPECT_EQ(stateOf(i), DeviceState::Quarantined);
        EXPECT_EQ(kernelAssignment(i), Assignment::quarantine());
    }
};

TEST_F(CoreAdminDecisionTest, AQuarantinedDevicesUrlChangeDoesNotReleaseIt)
{
    start();
    enforce(1, kA);
    ASSERT_TRUE(act(core->quarantine(macOf(1), {}, admin, now)));
    ASSERT_TRUE(join(1, kA2));
    EXPECT_TRUE(agree());
    ASSERT_TRUE(verdict(accepted(kA2)));
    expectQuarantined(1);
    EXPECT_TRUE(agree());
}

TEST_F(CoreAdminDecisionTest, AQuarantinedDeviceWithoutAPolicyAnnouncingANewUrlStaysQuarantined)
{
    start();
    ASSERT_TRUE(join(1, kA)); // fetching: no policy yet
    ASSERT_TRUE(act(core->quarantine(macOf(1), {}, admin, now)));
    ASSERT_TRUE(join(1, kB));
    expectQuarantined(1);
    EXPECT_TRUE(agree());
    ASSERT_TRUE(verdict(accepted(kB)));
    expectQuarantined(1);
    EXPECT_TRUE(agree());
}

TEST_F(CoreAdminDecisionTest, AQuarantinedDeviceChangingItsUrlTooOftenStaysQuarantined)
{
    settings.maxUrlChanges = 1;
    start();
    enforce(1, kA);
    ASSERT_TRUE(act(core->quarantine(macOf(1), {}, admin, now)));
    ASSERT_TRUE(join(1, kA2));
    ASSERT_TRUE(join(1, kB));
    expectQuarantined(1);
    EXPECT_TRUE(agree());
}

TEST_F(CoreAdminDecisionTest, AHeldDeviceQuarantinedBeforeTheHealStaysQuarantined)
{
    start();
    enforce(1, kA);
    store.failAt(1);
    ASSERT_EQ(join(2, kA).outcome, Outcome::StoreRefused);
    ASSERT_TRUE(act(core->quarantine(macOf(2), "unknown device", admin, now)));
    expectQuarantined(2);
    EXPECT_TRUE(agree());
    ASSERT_TRUE(heal());
    expectQuarantined(2);
    EXPECT_TRUE(agree());
}

TEST_F(CoreAdminDecisionTest, RegisteringADeviceDropsTheUrlChangeItAnnounced)
{
    start();
    enforce(1, kA);
    ASSERT_TRUE(join(1, kA2)); // waits for its file
    ASSERT_TRUE(act(core->registerDevice(macOf(1), kB, std::nullopt, admin, now)));
    EXPECT_FALSE(device(1)->pendingUrl);
    // The store must not keep the change either: a restart would bring it back.
    EXPECT_TRUE(agree());
    ASSERT_TRUE(verdict(accepted(kB)));
    clearRecords();
    restart();
    EXPECT_EQ(device(1)->mudUrl, kB);
    EXPECT_FALSE(device(1)->pendingUrl);
    EXPECT_FALSE(fetched(kA2));
    EXPECT_TRUE(agree());
}

TEST_F(CoreAdminDecisionTest, AConfiguredBindingIsNotReplacedByTheUrlChangeTheDeviceAnnounced)
{
    start();
    enforce(1, kA);
    ASSERT_TRUE(join(1, kA2)); // waits for its file
    core::Settings next = settings;
    next.devices = { { macOf(1), kB, std::nullopt } };
    ASSERT_TRUE(executor->applyOrNothing(core->reload(next, now)));
    EXPECT_EQ(device(1)->mudUrl, kB);
    // The announced change's file arrives: the configured binding stays.
    ASSERT_TRUE(verdict(accepted(kA2)));
    EXPECT_EQ(device(1)->mudUrl, kB);
    EXPECT_TRUE(agree());
    ASSERT_TRUE(verdict(accepted(kB)));
    EXPECT_EQ(device(1)->mudUrl, kB);
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kB)));
    EXPECT_TRUE(agree());
}

} // namespace
} // namespace mudguard::controller::test
