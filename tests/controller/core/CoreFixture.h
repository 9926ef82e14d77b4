#pragma once
// The daemon's core as the daemon runs it, without I/O: a Core, a real Enforcer over the fake
// kernel, the in-memory store, and the Executor that applies plans in their order (kernel, store,
// memory, effects). Time is a value the tests move. agree() checks that memory, the store and
// the kernel say the same of every device.

#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mudguard/enforcer/Enforcer.h"
#include "mudguard/mudparser/Parser.h"

#include "FakeApplier.h"
#include "MemoryStore.h"
#include "core/Core.h"
#include "core/Executor.h"

// Readable failures.
namespace mudguard::enforcer {
inline void PrintTo(const Assignment& a, std::ostream* os)
{
    *os << (a.kind == Assignment::Kind::Pending      ? "pending"
            : a.kind == Assignment::Kind::Quarantine ? "quarantine"
                                                     : "policy " + a.policyId);
}
} // namespace mudguard::enforcer

namespace mudguard::controller {
inline void PrintTo(DeviceState s, std::ostream* os) { *os << toString(s); }
inline void PrintTo(FailureStage s, std::ostream* os) { *os << toString(s); }
} // namespace mudguard::controller

namespace mudguard::controller::core {
inline void PrintTo(Executor::Outcome o, std::ostream* os)
{
    *os << (o == Executor::Outcome::Applied         ? "applied"
            : o == Executor::Outcome::KernelRefused ? "kernel refused"
                                                    : "store refused");
}
} // namespace mudguard::controller::core

namespace mudguard::controller::test {

using core::Announcement;
using core::DeviceRecord;
using core::Executor;
using core::FetchVerdict;
using core::Plan;

/// 02:00:00:00:00:<i>
MacAddress macOf(unsigned i);
/// 192.168.1.<i>
IpAddress ipOf(unsigned i);
/// A small valid MUD file for `url`: TCP to `host`:`port` and back.
std::string mudDocument(const std::string& url, unsigned port = 443, const std::string& host = "cloud.example.com");
/// A small valid MUD file whose rules use the local networks (TCP 80) and the controller class
/// "urn:example:bridge" (TCP 8883), so that those class sets are in the kernel.
std::string classDocument(const std::string& url);
/// The project's parser (built once).
const mudparser::Parser& parser();
/// A parsed file; throws when `document` is not valid.
std::shared_ptr<const mudparser::Profile> parseMud(const std::string& document);
/// An admin's local MUD file as the daemon reads it.
core::LocalDocument localDocument(const std::string& document);
mudparser::SignerIdentity signerOf(
    const std::string& subject, const std::string& issuer, const std::string& fingerprint);

/// Records what the executor hands to the daemon once a plan took effect.
class RecordingEffects final : public core::PlanEffects {
public:
    void took(const Plan& plan) override { plans.push_back(plan); }
    std::vector<Plan> plans;
};

class CoreTest : public ::testing::Test {
protected:
    CoreTest();
    ~CoreTest() override;

    // --- set-up --------------------------------------------------------------------------------------
    /// Builds the core with `settings` and starts: the enforcer starts with the restore plan.
    void start(const core::Restore& r = {});
    /// A cold start from what the store holds: a new core and a new (empty) kernel, the documents
    /// in use parsed as the daemon does. `spooled` are announcements the hook spooled.
    void restart(std::vector<Announcement> spooled = {});
    void advance(std::chrono::milliseconds d) { now += d; }
    /// Forgets what was recorded so far (plans taken, log lines).
    void clearRecords();

    // --- events ---------------------------------------------------------------------------------------
    Executor::Result apply(Plan plan) { return executor->apply(std::move(plan)); }
    Announcement urlAnnouncement(unsigned device, const std::string& url, std::optional<unsigned> ip = {}) const;
    Executor::Result announce(const std::vector<Announcement>& batch);
    /// A device announces `url` from address ipOf(device).
    Executor::Result join(unsigned device, const std::string& url);
    /// Leaves: the lease ended.
    Executor::Result gone(unsigned device);
    Executor::Result verdict(const FetchVerdict& v) { return apply(core->verdict(v, now)); }
    Executor::Result tick() { return apply(core->tick(now)); }
    Executor::Result heal() { return apply(core->heal(now)); }
    /// An accepted verdict for `url` (fetched now) with `document` (default: mudDocument(url)).
    FetchVerdict accepted(const std::string& url, std::optional<std::string> document = {},
        std::optional<mudparser::SignerIdentity> signer = {},
        mudparser::VerdictSource source = mudparser::VerdictSource::Network) const;
    FetchVerdict refused(const std::string& url, FailureStage stage, const std::string& code,
        const std::string& message = "refused") const;
    /// join + accepted verdict: the device ends enforced.
    void enforce(unsigned device, const std::string& url);

    // --- what happened ------------------------------------------------------------------------------------
    const DeviceRecord* device(unsigned i) const;
    DeviceState stateOf(unsigned i) const;
    /// The kernel's assignment of the device (enforcer's desired state; agree() checks the tables).
    std::optional<enforcer::Assignment> kernelAssignment(unsigned i) const;
    /// The enforcer's policy id for a MUD URL's policy in memory ("" when none).
    std::string policyIdOf(const std::string& key) const;
    /// A plan that took effect carried a log record with this event ID (and MAC when given).
    bool logged(const std::string& event, std::optional<unsigned> device = {}) const;
    /// A line with this event ID was written to the log (the executor's own lines included).
    bool logLine(const std::string& event) const;
    /// The store has an audit entry with this event ID (for this device when given).
    bool audited(const std::string& event, std::optional<unsigned> device = {}) const;
    /// Fetches requested by the plans that took effect.
    std::vector<core::FetchRequest> fetches() const;
    bool fetched(const std::string& url) const;

    /// Memory, the store and the kernel agree on every device (see CoreFixture.cpp).
    ::testing::AssertionResult agree() const;

    core::Settings settings;
    Timestamp now;
    MemoryStore store;
    std::unique_ptr<core::Core> core;
    mudguard::test::FakeApplier* fake = nullptr;
    std::unique_ptr<enforcer::Enforcer> enforcer;
    RecordingEffects effects;
    std::unique_ptr<Executor> executor;
    std::vector<std::string> logLines;
    std::chrono::steady_clock::time_point steadyNow;
    bool refuseStart = false; ///< the fake kernel refuses the enforcer's start batch
    api::Actor admin { "ops" };
};

} // namespace mudguard::controller::test
