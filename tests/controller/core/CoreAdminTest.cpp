// Admin actions: registration by URL and with a local MUD file, the addresses registration
// refuses, removal, refresh, quarantine and release.

#include <gtest/gtest.h>

#include "CoreFixture.h"

namespace mudguard::controller::test {
namespace {

using enforcer::Assignment;
using Kind = api::ActionOutcome::Kind;

const std::string kA = "https://lighting.example.com/bulb.json";
const std::string kB = "https://things.example.com/plug.json";
const std::string kLocalUrl = "https://lighting.example.com/local.json";

struct CoreAdminTest : CoreTest {
    Executor::Result act(core::Core::Action action) { return executor->applyOrNothing(std::move(action.plan)); }
    std::string localKey(const core::LocalDocument& doc) const { return "local:" + doc.digest; }
};

TEST_F(CoreAdminTest, RegisterWithAUrlFetchesItsFile)
{
    start();
    clearRecords();
    auto action = core->registerDevice(macOf(1), kA, std::nullopt, admin, now);
    EXPECT_EQ(action.outcome.kind, Kind::Accepted);
    EXPECT_TRUE(action.outcome.created);
    ASSERT_TRUE(act(std::move(action)));
    EXPECT_EQ(stateOf(1), DeviceState::Fetching);
    EXPECT_EQ(device(1)->source, DeviceSource::Admin);
    EXPECT_TRUE(device(1)->adminBound);
    EXPECT_TRUE(fetched(kA));
    EXPECT_TRUE(logged("DEVICE_JOINED", 1));
    EXPECT_TRUE(logged("BINDING_CREATED", 1));
    EXPECT_TRUE(audited("BINDING_CREATED", 1));
    auto admins = store.auditOf("ADMIN_ACTION", macOf(1).toString());
    ASSERT_EQ(admins.size(), 1u);
    EXPECT_EQ(admins[0].reason, "admin token \"ops\" registered the device by MUD URL");
    EXPECT_EQ(store.contents().bindings.at(macOf(1).toString()).source, DeviceSource::Admin);
    EXPECT_EQ(kernelAssignment(1), Assignment::pending());
    EXPECT_TRUE(agree());

    ASSERT_TRUE(verdict(accepted(kA)));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_TRUE(agree());
    // What the device announces does not move an admin's binding.
    ASSERT_TRUE(join(1, kB));
    EXPECT_EQ(device(1)->mudUrl, kA);
    EXPECT_FALSE(device(1)->pendingUrl);
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_TRUE(agree());
}

TEST_F(CoreAdminTest, RegisterWithAnInstalledPolicyEnforcesAtOnce)
{
    start();
    enforce(1, kA);
    auto action = core->registerDevice(macOf(2), kA, std::nullopt, admin, now);
    EXPECT_EQ(action.outcome.kind, Kind::Done);
    EXPECT_TRUE(action.outcome.created);
    ASSERT_TRUE(act(std::move(action)));
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_EQ(kernelAssignment(2), Assignment::policy(policyIdOf(kA)));
    EXPECT_TRUE(audited("POLICY_APPLIED", 2));
    // Registering a known device again is not a creation.
    EXPECT_FALSE(core->registerDevice(macOf(1), kA, std::nullopt, admin, now).outcome.created);
    EXPECT_TRUE(agree());
}

TEST_F(CoreAdminTest, RegisterWithALocalFileEnforcesIt)
{
    start();
    auto doc = localDocument(mudDocument(kLocalUrl, 8080));
    auto action = core->registerDevice(macOf(1), std::nullopt, doc, admin, now);
    EXPECT_EQ(action.outcome.kind, Kind::Done);
    ASSERT_TRUE(act(std::move(action)));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_EQ(device(1)->policyKey, localKey(doc));
    EXPECT_EQ(device(1)->mudUrl, kLocalUrl);
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(localKey(doc))));
    EXPECT_TRUE(fetches().empty());
    EXPECT_EQ(store.device(macOf(1).toString())->localOverride, *doc.document);
    EXPECT_NE(store.auditOf("ADMIN_ACTION").back().reason.find("with a local MUD file"), std::string::npos);
    EXPECT_TRUE(agree());

    // A second device with the same file shares the policy.
    ASSERT_TRUE(act(core->registerDevice(macOf(2), std::nullopt, doc, admin, now)));
    EXPECT_EQ(core->state().policyUse.at(localKey(doc)), 2u);
    EXPECT_EQ(enforcer->policyIds().size(), 1u);
    // A local file is not fetched again.
    EXPECT_THROW(core->refreshDevice(macOf(1), admin, now), api::Conflict);
    EXPECT_TRUE(agree());
}

TEST_F(CoreAdminTest, RegistrationRefusesAddressesThatAreNotADevices)
{
    start();
    const unsigned before = store.committed();
    for (const char* text : { "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33:33:00:00:00:01", "00:00:00:00:00:00" }) {
        SCOPED_TRACE(text);
        try {
            core->registerDevice(*MacAddress::parse(text), kA, std::nullopt, admin, now);
            ADD_FAILURE() << "registered " << text;
        } catch (const api::InvalidInput& e) {
            EXPECT_EQ(e.field(), "mac");
            EXPECT_NE(std::string(e.what()).find(text), std::string::npos);
        }
    }
    try {
        core->registerDevice(macOf(1), std::string("http://lighting.example.com/bulb.json"), std::nullopt, admin, now);
        ADD_FAILURE() << "registered a plain http URL";
    } catch (const api::InvalidInput& e) {
        EXPECT_EQ(e.field(), "mud-url");
    }
    EXPECT_THROW(core->registerDevice(macOf(1), std::nullopt, std::nullopt, admin, now), api::InvalidInput);
    EXPECT_THROW(
        core->registerDevice(macOf(1), std::nullopt, localDocument("{\"not\": \"mud\"}"), admin, now), api::InvalidMud);
    // A valid file this router cannot enforce is refused as well.
    auto doc = localDocument(mudDocument(kLocalUrl));
    auto profile = std::make_shared<mudparser::Profile>(*doc.profile);
    profile->acls.at(0).aces.at(0).matches.unsupported.push_back("/ipv4/identification");
    doc.profile = profile;
    EXPECT_THROW(core->registerDevice(macOf(1), std::nullopt, doc, admin, now), api::InvalidMud);
    EXPECT_TRUE(core->state().devices.empty());
    EXPECT_EQ(store.committed(), before);
    EXPECT_TRUE(agree());
}

TEST_F(CoreAdminTest, RemovingADeviceRemovesItsRulesAndRecords)
{
    start();
    enforce(1, kA);
    clearRecords();
    ASSERT_TRUE(act(core->removeDevice(macOf(1), admin, now)));
    EXPECT_FALSE(device(1));
    EXPECT_FALSE(enforcer->device(core::toEnforcer(macOf(1))));
    EXPECT_FALSE(store.device(macOf(1).toString()));
    EXPECT_TRUE(store.addressesOf(macOf(1).toString()).empty());
    EXPECT_NE(store.auditOf("ADMIN_ACTION", macOf(1).toString()).back().detail.find("remove"), std::string::npos);
    EXPECT_EQ(store.auditOf("DEVICE_REMOVED", macOf(1).toString()).back().reason, "removed by admin token \"ops\"");
    EXPECT_TRUE(audited("BINDING_REMOVED", 1));
    EXPECT_TRUE(audited("POLICY_REMOVED"));
    EXPECT_TRUE(enforcer->policyIds().empty());
    EXPECT_TRUE(core->state().owners.empty());
    EXPECT_THROW(core->removeDevice(macOf(1), admin, now), api::NotFound);
    EXPECT_TRUE(agree());
}

TEST_F(CoreAdminTest, RefreshFetchesTheFileAgainByForce)
{
    start();
    enforce(1, kA);
    clearRecords();
    auto action = core->refreshDevice(macOf(1), admin, now);
    EXPECT_EQ(action.outcome.kind, Kind::Accepted);
    ASSERT_TRUE(act(std::move(action)));
    auto requests = fetches();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].url, kA);
    EXPECT_TRUE(requests[0].force);
    EXPECT_NE(store.auditOf("ADMIN_ACTION", macOf(1).toString()).back().detail.find("refresh"), std::string::npos);
    EXPECT_THROW(core->refreshDevice(macOf(7), admin, now), api::NotFound);
    // A pending URL change is what a refresh fetches.
    ASSERT_TRUE(join(1, kB));
    clearRecords();
    ASSERT_TRUE(act(core->refreshDevice(macOf(1), admin, now)));
    EXPECT_TRUE(fetched(kB));
    EXPECT_TRUE(agree());
}

TEST_F(CoreAdminTest, QuarantineHoldsTheDeviceUntilReleased)
{
    start();
    enforce(1, kA);
    clearRecords();
    auto action = core->quarantine(macOf(1), "it scans the network", admin, now);
    EXPECT_EQ(action.outcome.kind, Kind::Done);
    ASSERT_TRUE(act(std::move(action)));
    EXPECT_EQ(stateOf(1), DeviceState::Quarantined);
    EXPECT_EQ(device(1)->reason, "it scans the network");
    EXPECT_EQ(kernelAssignment(1), Assignment::quarantine());
    EXPECT_TRUE(audited("DEVICE_QUARANTINED", 1));
    EXPECT_TRUE(logged("DEVICE_QUARANTINED", 1));
    EXPECT_TRUE(logged("DEVICE_STATE_CHANGED", 1));
    EXPECT_NE(store.auditOf("ADMIN_ACTION", macOf(1).toString()).back().detail.find("quarantine"), std::string::npos);
    EXPECT_EQ(store.device(macOf(1).toString())->reason, "it scans the network");
    EXPECT_TRUE(agree());

    EXPECT_EQ(core->quarantine(macOf(1), {}, admin, now).outcome.kind, Kind::Unchanged);
    // Its announcements and its file's refresh leave it in quarantine.
    ASSERT_TRUE(join(1, kA));
    ASSERT_TRUE(verdict(accepted(kA, mudDocument(kA, 8443))));
    EXPECT_EQ(stateOf(1), DeviceState::Quarantined);
    EXPECT_EQ(kernelAssignment(1), Assignment::quarantine());
    EXPECT_TRUE(agree());

    clearRecords();
    ASSERT_TRUE(act(core->release(macOf(1), admin, now)));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kA)));
    EXPECT_TRUE(audited("DEVICE_RELEASED", 1));
    EXPECT_TRUE(logged("DEVICE_RELEASED", 1));
    EXPECT_TRUE(logged("POLICY_APPLIED", 1));
    EXPECT_EQ(core->release(macOf(1), admin, now).outcome.kind, Kind::Unchanged);
    EXPECT_THROW(core->quarantine(macOf(7), {}, admin, now), api::NotFound);
    EXPECT_TRUE(agree());
}

TEST_F(CoreAdminTest, ARefreshWhileQuarantinedIsNotReportedAsApplied)
{
    start();
    enforce(1, kA);
    ASSERT_TRUE(act(core->quarantine(macOf(1), {}, admin, now)));
    ASSERT_TRUE(verdict(accepted(kA, mudDocument(kA, 8443))));
    EXPECT_EQ(kernelAssignment(1), Assignment::quarantine());
    // The refreshed file is not in force for a device in quarantine: no POLICY_APPLIED says so.
    EXPECT_EQ(store.auditOf("POLICY_APPLIED", macOf(1).toString()).size(), 1u);
    EXPECT_TRUE(agree());
}

TEST_F(CoreAdminTest, ReleasingADeviceWithoutAPolicyFetchesItsFile)
{
    start();
    ASSERT_TRUE(join(1, kA));
    ASSERT_TRUE(act(core->quarantine(macOf(1), {}, admin, now)));
    EXPECT_EQ(device(1)->reason, "quarantined by an admin");
    clearRecords();
    auto action = core->release(macOf(1), admin, now);
    EXPECT_EQ(action.outcome.kind, Kind::Accepted);
    ASSERT_TRUE(act(std::move(action)));
    EXPECT_EQ(stateOf(1), DeviceState::Fetching);
    EXPECT_EQ(kernelAssignment(1), Assignment::pending());
    EXPECT_TRUE(fetched(kA));
    EXPECT_TRUE(agree());
    ASSERT_TRUE(verdict(accepted(kA)));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_TRUE(agree());
}

TEST_F(CoreAdminTest, ReRegisteringWithAnotherUrlReleasesTheOldPolicy)
{
    start();
    auto doc = localDocument(mudDocument(kLocalUrl, 8080));
    ASSERT_TRUE(act(core->registerDevice(macOf(1), std::nullopt, doc, admin, now)));
    ASSERT_TRUE(act(core->registerDevice(macOf(1), kA, std::nullopt, admin, now)));
    // The local policy stays in force until kA's file is in force.
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(localKey(doc))));
    ASSERT_TRUE(verdict(accepted(kA)));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kA)));
    EXPECT_TRUE(agree());
    // Nothing uses the local file's policy any more: it is not left in the kernel.
    EXPECT_EQ(enforcer->policyIds(), std::vector<std::string> { policyIdOf(kA) });
    EXPECT_TRUE(audited("POLICY_REMOVED"));
}

TEST_F(CoreAdminTest, ReRegisteringWithAUrlWhoseFileIsRefusedLeavesAConsistentDevice)
{
    start();
    enforce(1, kA);
    ASSERT_TRUE(act(core->registerDevice(macOf(1), kB, std::nullopt, admin, now)));
    EXPECT_TRUE(agree());
    ASSERT_TRUE(verdict(refused(kB, FailureStage::Fetch, "fetch-http-status", "HTTP 404")));
    // Whatever the core decides (keep kA's policy, or hold the device), memory, the store and
    // the kernel must say the same.
    EXPECT_TRUE(agree());
}

} // namespace
} // namespace mudguard::controller::test
