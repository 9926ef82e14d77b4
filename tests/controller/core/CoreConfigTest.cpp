// Configuration and cold starts: reloads (class sets, the enforcer's settings, configured
// devices) and the restore of enforcement from the saved state.

#include <gtest/gtest.h>

#include "CoreFixture.h"

namespace mudguard::controller::test {
namespace {

using namespace std::chrono_literals;
using enforcer::Assignment;

const std::string kA = "https://lighting.example.com/bulb.json";
const std::string kA2 = "https://lighting.example.com/bulb-v2.json";
const std::string kB = "https://things.example.com/plug.json";
const std::string kC = "https://broken.example.com/cam.json";
const std::string kLocalUrl = "https://lighting.example.com/local.json";

const mudparser::SignerIdentity kLighting = signerOf("CN=Lighting", "CN=Lighting CA", "aa01");
const mudparser::SignerIdentity kStranger = signerOf("CN=Stranger", "CN=Other CA", "bb01");

struct CoreConfigTest : CoreTest {
    Executor::Result reload(core::Settings next)
    {
        return executor->applyOrNothing(core->reload(std::move(next), now));
    }
};

TEST_F(CoreConfigTest, AReloadReplacesTheClassSets)
{
    start();
    ASSERT_TRUE(join(1, kA));
    ASSERT_TRUE(verdict(accepted(kA, classDocument(kA))));
    ASSERT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_NE(enforcer->render().find("192.168.1.0/24"), std::string::npos);
    core::Settings next = settings;
    next.lanPrefixes = { *enforcer::Prefix::parse("10.20.0.0/16") };
    next.controllers = { { "urn:example:bridge", AddressList { { "192.0.2.10" }, { "ctl.example.com" } } } };
    clearRecords();
    ASSERT_TRUE(reload(next));
    EXPECT_EQ(core->settings().controllers.size(), 1u);
    const std::string rules = enforcer->render();
    EXPECT_NE(rules.find("10.20.0.0/16"), std::string::npos);
    EXPECT_EQ(rules.find("192.168.1.0/24"), std::string::npos);
    EXPECT_NE(rules.find("192.0.2.10"), std::string::npos);
    EXPECT_EQ(core->classNames(), std::set<std::string> { "ctl.example.com" });
    EXPECT_TRUE(effects.plans.back().namesChanged);
    // The names of a class are resolved into it.
    ASSERT_TRUE(apply(
        core->dnsUpdates({ { "ctl.example.com", { { *enforcer::IpAddress::parse("198.51.100.20"), 60s } } } }, now)));
    EXPECT_NE(enforcer->render().find("198.51.100.20"), std::string::npos);
    EXPECT_EQ(core->state().classNameAddresses.at("ctl.example.com"), std::vector<std::string> { "198.51.100.20" });
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_TRUE(agree());
}

TEST_F(CoreConfigTest, AReloadAppliesTheEnforcersSettings)
{
    start();
    enforce(1, kA);
    core::Settings next = settings;
    next.enforcer.denyAction = enforcer::DenyAction::Reject;
    ASSERT_TRUE(reload(next));
    EXPECT_EQ(enforcer->config().denyAction, enforcer::DenyAction::Reject);
    EXPECT_EQ(core->settings().enforcer.denyAction, enforcer::DenyAction::Reject);
    EXPECT_TRUE(agree());
}

TEST_F(CoreConfigTest, AReloadRegistersTheConfiguredDevicesByUrl)
{
    start();
    enforce(1, kA);
    core::Settings next = settings;
    next.devices = { { macOf(2), kA, std::nullopt }, { macOf(3), kB, std::nullopt } };
    clearRecords();
    ASSERT_TRUE(reload(next));
    EXPECT_EQ(stateOf(2), DeviceState::Enforced); // kA's policy is installed
    EXPECT_EQ(stateOf(3), DeviceState::Fetching);
    EXPECT_TRUE(fetched(kB));
    EXPECT_FALSE(fetched(kA));
    for (unsigned i : { 2u, 3u }) {
        EXPECT_EQ(device(i)->source, DeviceSource::Admin);
        EXPECT_TRUE(device(i)->adminBound);
        EXPECT_TRUE(logged("DEVICE_JOINED", i));
    }
    EXPECT_TRUE(audited("POLICY_APPLIED", 2));
    EXPECT_TRUE(agree());
    ASSERT_TRUE(verdict(accepted(kB)));
    EXPECT_EQ(stateOf(3), DeviceState::Enforced);
    // The same configuration again changes nothing.
    clearRecords();
    ASSERT_TRUE(reload(next));
    EXPECT_FALSE(logged("POLICY_APPLIED"));
    EXPECT_TRUE(agree());
}

TEST_F(CoreConfigTest, AReloadRegistersAConfiguredDeviceWithALocalFile)
{
    start();
    core::Settings next = settings;
    auto doc = localDocument(mudDocument(kLocalUrl, 8080));
    next.devices = { { macOf(4), std::nullopt, doc } };
    ASSERT_TRUE(reload(next));
    EXPECT_EQ(stateOf(4), DeviceState::Enforced);
    EXPECT_EQ(device(4)->policyKey, "local:" + doc.digest);
    EXPECT_EQ(device(4)->mudUrl, kLocalUrl);
    // Its classes (manufacturer, model) follow the file's URL, as for a registration by the API.
    auto kd = enforcer->device(core::toEnforcer(macOf(4)));
    ASSERT_TRUE(kd);
    EXPECT_EQ(kd->model, kLocalUrl);
    EXPECT_TRUE(agree());
}

TEST_F(CoreConfigTest, ADeviceTakenOutOfTheConfigurationIsNoLongerBoundByIt)
{
    start();
    core::Settings next = settings;
    next.devices = { { macOf(2), kA, std::nullopt } };
    ASSERT_TRUE(reload(next));
    ASSERT_TRUE(verdict(accepted(kA)));
    ASSERT_EQ(stateOf(2), DeviceState::Enforced);
    // The entry is removed. mudguard(8): a reload applies the differences of `device`.
    ASSERT_TRUE(reload(settings));
    ASSERT_TRUE(join(2, kB));
    EXPECT_TRUE(device(2)->mudUrl == kB || device(2)->pendingUrl == kB)
        << "the device's own announcement is still ignored: " << device(2)->mudUrl;
    EXPECT_TRUE(agree());
}

TEST_F(CoreConfigTest, AConfiguredFileThatIsNotValidFailsTheDevice)
{
    start();
    core::Settings next = settings;
    next.devices = { { macOf(5), std::nullopt, localDocument("{}") } };
    ASSERT_TRUE(reload(next));
    EXPECT_EQ(stateOf(5), DeviceState::Failed);
    EXPECT_EQ(device(5)->stage, FailureStage::Validation);
    EXPECT_EQ(kernelAssignment(5), Assignment::pending());
    EXPECT_TRUE(agree());
}

// A saved state with a little of everything: enforced devices sharing a policy, a quarantined
// one, a failed one, a pending URL change, a signed file, an admin's local file.
struct CoreRestoreTest : CoreConfigTest {
    core::LocalDocument local = localDocument(mudDocument(kLocalUrl, 8080));

    void populate()
    {
        start();
        ASSERT_TRUE(join(1, kA));
        ASSERT_TRUE(verdict(accepted(kA, std::nullopt, kLighting)));
        enforce(2, kA);
        enforce(3, kB);
        ASSERT_TRUE(executor->applyOrNothing(core->quarantine(macOf(3), "set aside", admin, now).plan));
        ASSERT_TRUE(join(4, kC));
        ASSERT_TRUE(verdict(refused(kC, FailureStage::Fetch, "fetch-http-status", "HTTP 500")));
        ASSERT_TRUE(join(1, kA2)); // waits for its file
        ASSERT_TRUE(join(6, "https://lighting.example.com/strip.json"));
        ASSERT_TRUE(verdict(accepted("https://lighting.example.com/strip.json", std::nullopt, kStranger)));
        ASSERT_TRUE(executor->applyOrNothing(core->registerDevice(macOf(5), std::nullopt, local, admin, now).plan));
        ASSERT_TRUE(agree());
    }
};

TEST_F(CoreRestoreTest, EnforcementComesBackQuietlyFromTheSavedState)
{
    populate();
    const core::State before = core->state();
    advance(1h);
    clearRecords();
    restart();
    const core::State& after = core->state();
    ASSERT_EQ(after.devices.size(), before.devices.size());
    for (const auto& [mac, was] : before.devices) {
        SCOPED_TRACE(mac.toString());
        const auto& is = after.devices.at(mac);
        EXPECT_EQ(is.state, was.state);
        EXPECT_EQ(is.reason, was.reason);
        EXPECT_EQ(is.stage, was.stage);
        EXPECT_EQ(is.mudUrl, was.mudUrl);
        EXPECT_EQ(is.policyKey, was.policyKey);
        EXPECT_EQ(is.pendingUrl, was.pendingUrl);
        EXPECT_EQ(is.addresses, was.addresses);
        EXPECT_EQ(is.adminBound, was.adminBound);
    }
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kA)));
    EXPECT_EQ(kernelAssignment(3), Assignment::quarantine());
    EXPECT_EQ(kernelAssignment(4), Assignment::pending());
    EXPECT_EQ(kernelAssignment(5), Assignment::policy(policyIdOf("local:" + local.digest)));
    EXPECT_EQ(after.signers.at("lighting.example.com").front(), kLighting);
    ASSERT_EQ(after.pendingSigners.size(), 1u);
    EXPECT_EQ(after.pendingSigners.front().identity, kStranger);
    // Quiet: the devices whose policy came back are not announced again.
    EXPECT_FALSE(logged("POLICY_APPLIED"));
    EXPECT_FALSE(logged("DEVICE_STATE_CHANGED"));
    EXPECT_EQ(store.auditOf("POLICY_APPLIED", macOf(1).toString()).size(), 1u);
    EXPECT_TRUE(audited("STATE_RESTORED"));
    EXPECT_TRUE(logged("STATE_RESTORED"));
    // What waited is fetched again: the pending URL change, the failed device's file.
    EXPECT_TRUE(fetched(kA2));
    EXPECT_TRUE(fetched(kC));
    EXPECT_FALSE(fetched(kA));
    EXPECT_TRUE(agree());
    // And it goes on from there.
    ASSERT_TRUE(verdict(accepted(kA2, std::nullopt, kLighting)));
    EXPECT_EQ(device(1)->mudUrl, kA2);
    EXPECT_TRUE(agree());
}

TEST_F(CoreRestoreTest, ADeviceWhoseSavedFileIsMissingIsFetchedAgain)
{
    core::Restore r;
    DeviceRow row;
    row.mac = macOf(1).toString();
    row.state = DeviceState::Enforced;
    row.mudUrl = kA;
    row.policyId = "0123456789abcdef";
    r.saved.devices.push_back(row);
    r.saved.addresses.push_back(AddressRow { row.mac, ipOf(1).toString(), 4, now, now });
    r.saved.bindings.push_back(BindingRow { row.mac, kA, DeviceSource::Dhcp, now, now, std::nullopt });
    store.commit(StoreBatch()
                     .add(StoreBatch::PutDevice { row })
                     .add(StoreBatch::PutBinding { row.mac, kA, DeviceSource::Dhcp })
                     .add(StoreBatch::TouchAddress { row.mac, ipOf(1).toString() }));
    start(r);
    EXPECT_EQ(stateOf(1), DeviceState::Fetching);
    EXPECT_EQ(device(1)->reason, "no saved copy of the MUD file; fetching it");
    EXPECT_EQ(kernelAssignment(1), Assignment::pending());
    EXPECT_TRUE(fetched(kA));
    EXPECT_TRUE(agree());
    ASSERT_TRUE(verdict(accepted(kA)));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_TRUE(agree());
}

TEST_F(CoreRestoreTest, ASavedFileThisRouterCanNoLongerEnforceHoldsItsDevices)
{
    populate();
    // The same saved state, with kA's file untranslatable (as after an upgrade that drops a feature).
    core::Restore r;
    r.saved = store.load();
    for (const auto& row : r.saved.documents) {
        core::RestoredDocument doc;
        doc.row = row;
        auto profile = std::make_shared<mudparser::Profile>(*parseMud(*row.document));
        if (row.url == kA)
            profile->acls.at(0).aces.at(0).matches.unsupported.push_back("/ipv4/identification");
        doc.profile = profile;
        r.documents.emplace(row.url, std::move(doc));
    }
    r.localDocuments.emplace(local.digest, local);
    clearRecords();
    start(r);
    for (unsigned i : { 1u, 2u }) {
        EXPECT_EQ(stateOf(i), DeviceState::Failed);
        EXPECT_EQ(device(i)->stage, FailureStage::Translation);
        EXPECT_EQ(kernelAssignment(i), Assignment::pending());
    }
    EXPECT_TRUE(logged("MUD_UNSUPPORTED"));
    EXPECT_TRUE(audited("POLICY_REMOVED"));
    EXPECT_EQ(kernelAssignment(5), Assignment::policy(policyIdOf("local:" + local.digest)));
    EXPECT_TRUE(agree());
}

TEST_F(CoreRestoreTest, SpooledAnnouncementsAndConfiguredDevicesJoinAtStart)
{
    populate();
    settings.devices = { { macOf(7), kB, std::nullopt } };
    auto spooled = urlAnnouncement(8, kA);
    spooled.spoolId = "spool-8";
    clearRecords();
    restart({ spooled });
    EXPECT_EQ(stateOf(8), DeviceState::Enforced);
    EXPECT_TRUE(audited("DEVICE_JOINED", 8));
    EXPECT_EQ(effects.plans.front().spoolDone, std::vector<std::string> { "spool-8" });
    EXPECT_EQ(stateOf(7), DeviceState::Enforced); // kB's saved policy is in force
    EXPECT_EQ(device(7)->source, DeviceSource::Admin);
    EXPECT_TRUE(agree());
}

} // namespace
} // namespace mudguard::controller::test
