// The real kernel refuses a batch in the middle of a join: someone deleted a set the batch adds
// to (after flushing the rules that used it, as a hand-written script would). The core and its
// executor run as in the daemon, with the real enforcer in a namespace and the real SQLite store;
// real packets show what is enforced.
//
// What must hold: nothing enforced before is lost, the joining device is held (infrastructure
// only) with the reason, memory, store and kernel agree, and the next event enforces it.

#include <chrono>
#include <filesystem>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mudguard/controller/Store.h"
#include "mudguard/enforcer/Enforcer.h"
#include "mudguard/enforcer/Layout.h"
#include "mudguard/enforcer/NetlinkApplier.h"
#include "mudguard/mudparser/Parser.h"

#include "CaseSupport.h"
#include "Lab.h"
#include "TestSupport.h"
#include "Translate.h"
#include "core/Core.h"
#include "core/Executor.h"

namespace mudguard::test {
namespace {

using namespace std::chrono_literals;
using controller::DeviceState;
using controller::FailureStage;
using controller::Timestamp;
namespace core = controller::core;

const std::string kUrl = "https://maker.example.com/sensor.json";

/// A MUD file that lets the device open TCP connections to port 443 of one server.
std::string mudFile(const std::string& server)
{
    return fmt::format(R"json({{
  "ietf-mud:mud": {{
    "mud-version": 1, "mud-url": "{0}", "last-update": "2026-11-01T10:00:00+00:00",
    "cache-validity": 48, "is-supported": true, "systeminfo": "a sensor",
    "from-device-policy": {{"access-lists": {{"access-list": [{{"name": "from-dev"}}]}}}},
    "to-device-policy": {{"access-lists": {{"access-list": [{{"name": "to-dev"}}]}}}}
  }},
  "ietf-access-control-list:acls": {{"acl": [
    {{"name": "from-dev", "type": "ipv4-acl-type", "aces": {{"ace": [
      {{"name": "web", "matches": {{"ipv4": {{"protocol": 6, "destination-ipv4-network": "{1}/32"}},
        "tcp": {{"destination-port": {{"operator": "eq", "port": 443}}}}}}, "actions": {{"forwarding": "accept"}}}}]}}}},
    {{"name": "to-dev", "type": "ipv4-acl-type", "aces": {{"ace": [
      {{"name": "web", "matches": {{"ipv4": {{"protocol": 6, "source-ipv4-network": "{1}/32"}},
        "tcp": {{"source-port": {{"operator": "eq", "port": 443}}}}}}, "actions": {{"forwarding": "accept"}}}}]}}}}
  ]}}
}}
)json",
        kUrl, server);
}

controller::MacAddress macOf(const enforcer::MacAddress& m) { return controller::MacAddress { m.bytes }; }
controller::IpAddress ipOf(const enforcer::IpAddress& a) { return core::fromEnforcer(a); }

Timestamp at(int seconds) { return Timestamp(std::chrono::milliseconds(1'800'000'000'000LL + seconds * 1000LL)); }

class Effects final : public core::PlanEffects {
public:
    void took(const core::Plan& p) override
    {
        for (const auto& f : p.fetches)
            fetches.push_back(f.url);
    }
    std::vector<std::string> fetches;
};

class KernelRefusal : public ::testing::Test {
protected:
    static inline Lab* lab = nullptr;
    static inline Servers* server = nullptr;

    static void SetUpTestSuite()
    {
        requireNetns();
        lab = new Lab();
        server = new Servers(lab->serverNs(), { 443 }, {});
    }
    static void TearDownTestSuite()
    {
        delete server;
        delete lab;
        server = nullptr;
        lab = nullptr;
    }

    void SetUp() override
    {
        dir = std::make_unique<TempDir>("mudguard-kernel-refusal");
        store = std::make_unique<controller::Store>(dir->path() / "mudguard.db");
        std::unique_ptr<enforcer::Applier> applier;
        {
            EnterNetns in(lab->gateway());
            applier = enforcer::makeNetlinkApplier();
        }
        core::Settings s;
        s.lanPrefixes = lab->lanPrefixes();
        s.routerAddresses = { enforcer::Prefix::host(lab->routerLan()) };
        s.enforcer.denyAction = enforcer::DenyAction::Reject; // blocked flows answer at once
        enforcer = std::make_unique<enforcer::Enforcer>(std::move(applier), s.enforcer);
        core = std::make_unique<core::Core>(s);
        executor = std::make_unique<core::Executor>(*core, *enforcer, *store, effects, [] { return at(0); });
        executor->start(core->restore(core::Restore { store->load(), {}, {}, {} }, at(0)));
    }

    void TearDown() override
    {
        if (HasFailure())
            std::cout << lab->gateway().run({ "nft", "list", "ruleset" }).out;
        executor.reset();
        core.reset();
        enforcer.reset();
        store.reset();
        lab->gateway().run({ "nft", "delete", "table", "inet", "mudguard" });
        lab->gateway().run({ "nft", "delete", "table", "bridge", "mudguard" });
        dir.reset();
    }

    core::Announcement join(int dev) const
    {
        core::Announcement a;
        a.kind = core::Announcement::Kind::Url;
        a.mac = macOf(lab->device(dev).mac);
        a.url = kUrl;
        a.address = ipOf(lab->device(dev).v4);
        return a;
    }

    core::FetchVerdict verdict() const
    {
        mudparser::Parser parser;
        auto text = mudFile(lab->server(0).toString());
        auto r = parser.parse(text);
        EXPECT_TRUE(r.profile) << (r.report.diagnostics.empty() ? "" : r.report.diagnostics.front().message);
        core::FetchVerdict v;
        v.url = kUrl;
        v.outcome = core::FetchVerdict::Outcome::Accepted;
        v.source = mudparser::VerdictSource::Network;
        v.profile = std::make_shared<const mudparser::Profile>(std::move(*r.profile));
        v.document = std::make_shared<const std::string>(text);
        v.fetchedAt = at(1);
        return v;
    }

    Outcome web(int dev, int srv) const { return Lab::tcp(lab->device(dev).ns, lab->server(srv), 443); }

    const core::DeviceRecord* record(int dev) const
    {
        auto it = core->state().devices.find(macOf(lab->device(dev).mac));
        return it == core->state().devices.end() ? nullptr : &it->second;
    }

    /// Memory, store and kernel say the same of the device.
    void expectAgree(int dev) const
    {
        const auto* r = record(dev);
        ASSERT_TRUE(r);
        auto row = store->device(r->mac.toString());
        ASSERT_TRUE(row) << "the store does not know " << r->mac.toString();
        EXPECT_EQ(row->state, r->state);
        EXPECT_EQ(row->reason, r->reason);
        auto k = enforcer->device(lab->device(dev).mac);
        ASSERT_TRUE(k) << "the kernel does not hold " << r->mac.toString();
        if (r->state == DeviceState::Enforced)
            EXPECT_EQ(k->assignment, enforcer::Assignment::policy(controller::policyIdFor(kUrl)));
        else
            EXPECT_EQ(k->assignment.kind, enforcer::Assignment::Kind::Pending);
    }

    std::unique_ptr<TempDir> dir;
    std::unique_ptr<controller::Store> store;
    std::unique_ptr<enforcer::Enforcer> enforcer;
    std::unique_ptr<core::Core> core;
    Effects effects;
    std::unique_ptr<core::Executor> executor;
};

TEST_F(KernelRefusal, AJoinTheKernelRefusesHoldsTheDeviceKeepsTheOthersAndRecoversOnTheNextEvent)
{
    // Device 0 joins and is enforced: its server is reached, another is not.
    ASSERT_TRUE(executor->apply(core->announce({ join(0) }, at(1))));
    ASSERT_EQ(effects.fetches, std::vector<std::string> { kUrl });
    ASSERT_TRUE(executor->apply(core->verdict(verdict(), at(2))));
    ASSERT_EQ(record(0)->state, DeviceState::Enforced);
    EXPECT_EQ(web(0, 0), Outcome::Connected);
    EXPECT_NE(web(0, 1), Outcome::Connected);
    // Unmanaged hosts stay free (the control for the held device below).
    EXPECT_EQ(web(2, 1), Outcome::Connected);

    // Device 1 joins with the same URL; its batch adds to the policy's membership set. The plan is
    // decided first; then someone removes that set out from under it.
    auto plan = core->announce({ join(1) }, at(3));
    const std::string id = controller::policyIdFor(kUrl);
    const std::string set = enforcer::names::memberSet(id, enforcer::ir::KeyType::EtherAddr);
    lab->gateway().must({ "nft", "flush", "chain", "inet", "mudguard", "from_dev" });
    lab->gateway().must({ "nft", "delete", "set", "inet", "mudguard", set });

    auto result = executor->apply(std::move(plan));
    EXPECT_EQ(result.outcome, core::Executor::Outcome::KernelRefused) << result.reason;

    // Nothing enforced before is lost: the repair put the set and the rules back.
    EXPECT_NE(lab->gateway().listTable("inet").find(set), std::string::npos);
    EXPECT_EQ(web(0, 0), Outcome::Connected);
    EXPECT_NE(web(0, 1), Outcome::Connected);
    // The joining device is held, infrastructure only, and says why.
    ASSERT_TRUE(record(1));
    EXPECT_EQ(record(1)->state, DeviceState::Failed);
    EXPECT_EQ(record(1)->stage, FailureStage::Kernel);
    EXPECT_NE(record(1)->reason.find("kernel"), std::string::npos) << record(1)->reason;
    EXPECT_NE(web(1, 0), Outcome::Connected);
    EXPECT_NE(web(1, 1), Outcome::Connected);
    expectAgree(0);
    expectAgree(1);
    auto page = store->audit({});
    bool refusal = false;
    for (const auto& e : page.entries)
        refusal = refusal || e.event == "ENFORCE_FAILED";
    EXPECT_TRUE(refusal) << "no ENFORCE_FAILED entry in the audit log";

    // The next event (the daemon's timer) enforces it.
    ASSERT_TRUE(executor->apply(core->tick(at(10))));
    EXPECT_EQ(record(1)->state, DeviceState::Enforced);
    expectAgree(1);
    EXPECT_EQ(web(1, 0), Outcome::Connected);
    EXPECT_NE(web(1, 1), Outcome::Connected);
    EXPECT_EQ(web(0, 0), Outcome::Connected);
}

} // namespace
} // namespace mudguard::test
