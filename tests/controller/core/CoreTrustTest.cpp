// URL changes and the same-signer rule: a new URL within one host and across hosts, the first
// signer of an authority accepted on first use, a renewed certificate of the same signer, another
// signer waiting for an admin, and the admin's decision either way.

#include <gtest/gtest.h>

#include "CoreFixture.h"

namespace mudguard::controller::test {
namespace {

using enforcer::Assignment;

const std::string kHost = "lighting.example.com";
const std::string kA = "https://lighting.example.com/bulb.json";
const std::string kA2 = "https://lighting.example.com/bulb-v2.json";
const std::string kA3 = "https://lighting.example.com/strip.json";
const std::string kB = "https://things.example.com/plug.json";

const mudparser::SignerIdentity kLighting = signerOf("CN=Lighting", "CN=Lighting CA", "aa01");
const mudparser::SignerIdentity kLightingRenewed = signerOf("CN=Lighting", "CN=Lighting CA", "aa02");
const mudparser::SignerIdentity kStranger = signerOf("CN=Stranger", "CN=Other CA", "bb01");
const mudparser::SignerIdentity kThings = signerOf("CN=Things", "CN=Things CA", "cc01");

struct CoreTrustTest : CoreTest {
    /// Device 1 enforced with kA, signed by kLighting (accepted on first use).
    void signedDevice()
    {
        start();
        ASSERT_TRUE(join(1, kA));
        ASSERT_TRUE(verdict(accepted(kA, std::nullopt, kLighting)));
        ASSERT_EQ(stateOf(1), DeviceState::Enforced);
    }
    /// Device 1 announces kA2, whose file is signed by a stranger.
    void changeSignedByAStranger()
    {
        signedDevice();
        ASSERT_TRUE(join(1, kA2));
        clearRecords();
        ASSERT_TRUE(verdict(accepted(kA2, std::nullopt, kStranger)));
    }
    std::set<std::string> acceptedSigners(const std::string& authority) const
    {
        std::set<std::string> out;
        for (const auto& [key, row] : store.contents().signers)
            if (key.first == authority)
                out.insert(row.signer);
        return out;
    }
};

TEST_F(CoreTrustTest, TheFirstSignerOfAnAuthorityIsAcceptedOnFirstUse)
{
    start();
    ASSERT_TRUE(join(1, kA));
    clearRecords();
    ASSERT_TRUE(verdict(accepted(kA, std::nullopt, kLighting)));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_TRUE(audited("SIGNER_ACCEPTED"));
    EXPECT_TRUE(logged("SIGNER_ACCEPTED"));
    EXPECT_TRUE(audited("SIGNATURE_VERIFIED"));
    EXPECT_TRUE(logged("SIGNATURE_VERIFIED"));
    ASSERT_EQ(store.contents().signers.size(), 1u);
    const auto& row = store.contents().signers.begin()->second;
    EXPECT_EQ(row.authority, kHost);
    EXPECT_EQ(row.signer, core::encodeSigner(kLighting));
    EXPECT_EQ(row.acceptedBy, "first-use");
    EXPECT_EQ(store.contents().documents.at(kA).signerIdentity, core::encodeSigner(kLighting));
    EXPECT_TRUE(agree());
}

TEST_F(CoreTrustTest, AUrlChangeWithinOneHostSignedByTheSameSignerIsAccepted)
{
    signedDevice();
    const std::string oldId = policyIdOf(kA);
    clearRecords();
    ASSERT_TRUE(join(1, kA2));
    EXPECT_TRUE(audited("URL_CHANGE_PENDING", 1));
    EXPECT_TRUE(logged("URL_CHANGE_PENDING", 1));
    EXPECT_EQ(device(1)->pendingUrl, kA2);
    EXPECT_EQ(store.contents().urlChanges.at(macOf(1).toString()).newUrl, kA2);
    EXPECT_TRUE(fetched(kA2));
    // The old policy stays meanwhile.
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(oldId));
    EXPECT_TRUE(agree());

    clearRecords();
    // A renewed certificate of the same signer: accepted, and remembered as the newest.
    ASSERT_TRUE(verdict(accepted(kA2, std::nullopt, kLightingRenewed)));
    EXPECT_EQ(device(1)->mudUrl, kA2);
    EXPECT_FALSE(device(1)->pendingUrl);
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kA2)));
    EXPECT_TRUE(audited("URL_CHANGE_ACCEPTED", 1));
    EXPECT_TRUE(logged("URL_CHANGE_ACCEPTED", 1));
    EXPECT_EQ(store.auditOf("BINDING_CREATED", macOf(1).toString()).back().reason, "bound after a URL change");
    EXPECT_TRUE(audited("POLICY_APPLIED", 1));
    EXPECT_TRUE(audited("POLICY_REMOVED")); // kA has no device left
    EXPECT_EQ(enforcer->policyIds(), std::vector<std::string> { policyIdOf(kA2) });
    EXPECT_EQ(acceptedSigners(kHost), std::set<std::string> { core::encodeSigner(kLightingRenewed) });
    EXPECT_EQ(store.contents().bindings.at(macOf(1).toString()).mudUrl, kA2);
    EXPECT_TRUE(agree());
}

TEST_F(CoreTrustTest, AUrlChangeToAnotherHostAcceptsThatHostsFirstSigner)
{
    signedDevice();
    ASSERT_TRUE(join(1, kB));
    EXPECT_EQ(device(1)->pendingUrl, kB);
    clearRecords();
    ASSERT_TRUE(verdict(accepted(kB, std::nullopt, kThings)));
    EXPECT_EQ(device(1)->mudUrl, kB);
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_TRUE(audited("URL_CHANGE_ACCEPTED", 1));
    EXPECT_TRUE(audited("SIGNER_ACCEPTED"));
    EXPECT_EQ(acceptedSigners("things.example.com"), std::set<std::string> { core::encodeSigner(kThings) });
    EXPECT_EQ(acceptedSigners(kHost), std::set<std::string> { core::encodeSigner(kLighting) });
    // The device's classes follow its URL.
    EXPECT_EQ(enforcer->device(core::toEnforcer(macOf(1)))->manufacturer, "things.example.com");
    EXPECT_TRUE(agree());
}

TEST_F(CoreTrustTest, AnotherSignerWaitsForAnAdminWhoAcceptsIt)
{
    changeSignedByAStranger();
    // The device keeps its policy; the change waits for the admin's decision on the signer.
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kA)));
    EXPECT_EQ(device(1)->pendingUrl, kA2);
    EXPECT_TRUE(device(1)->pendingWaitsForSigner);
    EXPECT_TRUE(audited("SIGNER_CHANGE_PENDING"));
    EXPECT_TRUE(logged("SIGNER_CHANGE_PENDING"));
    EXPECT_TRUE(audited("URL_CHANGE_REFUSED", 1));
    EXPECT_TRUE(logged("URL_CHANGE_REFUSED", 1));
    EXPECT_EQ(
        store.contents().urlChanges.at(macOf(1).toString()).reason, "waiting for an admin to accept the new signer");
    ASSERT_EQ(store.contents().pendingSigners.size(), 1u);
    EXPECT_EQ(store.contents().pendingSigners.begin()->second.mudUrl, kA2);
    EXPECT_FALSE(store.contents().documents.count(kA2) && store.contents().documents.at(kA2).document);
    EXPECT_TRUE(agree());

    clearRecords();
    auto action = core->acceptSigner(kHost, kStranger.fingerprint, admin, now);
    EXPECT_EQ(action.outcome.kind, api::ActionOutcome::Kind::Accepted);
    ASSERT_TRUE(executor->applyOrNothing(std::move(action.plan)));
    EXPECT_TRUE(audited("SIGNER_ACCEPTED"));
    EXPECT_TRUE(logged("SIGNER_ACCEPTED"));
    auto admins = store.auditOf("ADMIN_ACTION");
    ASSERT_EQ(admins.size(), 1u);
    EXPECT_NE(admins[0].detail.find("accept-signer"), std::string::npos);
    EXPECT_EQ(acceptedSigners(kHost), std::set<std::string> { core::encodeSigner(kStranger) });
    EXPECT_EQ(store.contents().signers.begin()->second.acceptedBy, "ops");
    EXPECT_TRUE(store.contents().pendingSigners.empty());
    EXPECT_FALSE(device(1)->pendingWaitsForSigner);
    auto requests = fetches();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].url, kA2);
    EXPECT_TRUE(requests[0].force);
    EXPECT_TRUE(agree());

    clearRecords();
    ASSERT_TRUE(verdict(accepted(kA2, std::nullopt, kStranger)));
    EXPECT_EQ(device(1)->mudUrl, kA2);
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kA2)));
    EXPECT_TRUE(audited("URL_CHANGE_ACCEPTED", 1));
    EXPECT_TRUE(agree());
}

TEST_F(CoreTrustTest, AnAdminRefusingTheSignerRefusesTheChange)
{
    changeSignedByAStranger();
    clearRecords();
    auto action = core->refuseSigner(kHost, kStranger.subject, admin, now);
    ASSERT_TRUE(executor->applyOrNothing(std::move(action.plan)));
    EXPECT_TRUE(audited("SIGNER_REFUSED"));
    EXPECT_TRUE(logged("SIGNER_REFUSED"));
    EXPECT_NE(store.auditOf("ADMIN_ACTION").back().detail.find("refuse-signer"), std::string::npos);
    EXPECT_EQ(store.auditOf("URL_CHANGE_REFUSED", macOf(1).toString()).back().reason,
        "an admin refused the new file's signer");
    EXPECT_FALSE(device(1)->pendingUrl);
    EXPECT_FALSE(store.contents().urlChanges.count(macOf(1).toString()));
    EXPECT_TRUE(store.contents().pendingSigners.empty());
    EXPECT_EQ(acceptedSigners(kHost), std::set<std::string> { core::encodeSigner(kLighting) });
    EXPECT_EQ(device(1)->mudUrl, kA);
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kA)));
    EXPECT_TRUE(agree());
}

TEST_F(CoreTrustTest, ANewDeviceWhoseFileHasAnotherSignerIsHeldUntilTheSignerIsAccepted)
{
    signedDevice();
    ASSERT_TRUE(join(2, kA3));
    ASSERT_TRUE(verdict(accepted(kA3, std::nullopt, kStranger)));
    EXPECT_EQ(stateOf(2), DeviceState::Failed);
    EXPECT_EQ(device(2)->stage, FailureStage::Signer);
    EXPECT_NE(device(2)->reason.find("[signer-changed]"), std::string::npos);
    EXPECT_EQ(kernelAssignment(2), Assignment::pending());
    EXPECT_EQ(store.device(macOf(2).toString())->failureStage, FailureStage::Signer);
    EXPECT_TRUE(agree());

    clearRecords();
    ASSERT_TRUE(executor->applyOrNothing(core->acceptSigner(kHost, std::nullopt, admin, now).plan));
    EXPECT_TRUE(fetched(kA3));
    ASSERT_TRUE(verdict(accepted(kA3, std::nullopt, kStranger)));
    EXPECT_EQ(stateOf(2), DeviceState::Enforced);
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_TRUE(agree());
}

TEST_F(CoreTrustTest, SignerDecisionsNeedOnePendingSigner)
{
    signedDevice();
    EXPECT_THROW(core->acceptSigner(kHost, std::nullopt, admin, now), api::NotFound);
    EXPECT_THROW(core->refuseSigner(kHost, std::nullopt, admin, now), api::NotFound);
    ASSERT_TRUE(join(2, kA2));
    ASSERT_TRUE(verdict(accepted(kA2, std::nullopt, kStranger)));
    ASSERT_TRUE(join(3, kA3));
    ASSERT_TRUE(verdict(accepted(kA3, std::nullopt, signerOf("CN=Third", "CN=Other CA", "dd01"))));
    EXPECT_EQ(store.contents().pendingSigners.size(), 2u);
    EXPECT_THROW(core->acceptSigner(kHost, std::nullopt, admin, now), api::Conflict);
    EXPECT_THROW(core->acceptSigner(kHost, std::string("ffff"), admin, now), api::NotFound);
    // Naming one decides for it alone.
    ASSERT_TRUE(executor->applyOrNothing(core->refuseSigner(kHost, std::string("dd01"), admin, now).plan));
    EXPECT_EQ(store.contents().pendingSigners.size(), 1u);
    EXPECT_EQ(stateOf(3), DeviceState::Failed);
    EXPECT_TRUE(agree());
}

TEST_F(CoreTrustTest, AUrlChangeWhoseFileIsRefusedKeepsThePolicy)
{
    signedDevice();
    ASSERT_TRUE(join(1, kA2));
    clearRecords();
    ASSERT_TRUE(verdict(refused(kA2, FailureStage::Validation, "mud-url-mismatch", "the file names another URL")));
    EXPECT_TRUE(audited("MUD_INVALID"));
    EXPECT_TRUE(audited("URL_CHANGE_REFUSED", 1));
    EXPECT_TRUE(logged("URL_CHANGE_REFUSED", 1));
    EXPECT_FALSE(device(1)->pendingUrl);
    EXPECT_FALSE(store.contents().urlChanges.count(macOf(1).toString()));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kA)));
    EXPECT_TRUE(agree());
}

TEST_F(CoreTrustTest, AUrlChangeWhoseFileCannotBeEnforcedKeepsThePolicy)
{
    signedDevice();
    ASSERT_TRUE(join(1, kA2));
    auto v = accepted(kA2, std::nullopt, kLighting);
    auto profile = std::make_shared<mudparser::Profile>(*v.profile);
    profile->acls.at(0).aces.at(0).matches.unsupported.push_back("/tcp/window-size");
    v.profile = profile;
    ASSERT_TRUE(verdict(v));
    EXPECT_TRUE(audited("MUD_UNSUPPORTED"));
    EXPECT_TRUE(audited("URL_CHANGE_REFUSED", 1));
    EXPECT_FALSE(device(1)->pendingUrl);
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kA)));
    EXPECT_TRUE(agree());
}

TEST_F(CoreTrustTest, ANewUrlWhileNothingIsInForceIsFollowedAtOnce)
{
    start();
    ASSERT_TRUE(join(1, kA));
    clearRecords();
    ASSERT_TRUE(join(1, kB));
    EXPECT_EQ(device(1)->mudUrl, kB);
    EXPECT_FALSE(device(1)->pendingUrl);
    EXPECT_FALSE(audited("URL_CHANGE_PENDING"));
    EXPECT_TRUE(logged("BINDING_CREATED", 1));
    EXPECT_TRUE(fetched(kB));
    EXPECT_TRUE(agree());
    ASSERT_TRUE(verdict(accepted(kB)));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_TRUE(agree());
}

} // namespace
} // namespace mudguard::controller::test
