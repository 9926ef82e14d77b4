#pragma once
// The daemon's decisions, without I/O. Each event (devices announced, a fetch verdict, a timer,
// an admin action, a reload, a refusal) goes in; a Plan comes out: the enforcer transaction, the
// store writes with their audit entries, what memory becomes, the log lines and the fetches to
// start. The core's state changes only in adopt(), which the executor calls once the kernel and
// the store have accepted the plan. docs/life-of-a-device-join.md follows one join through it.
//
// Not thread-safe: the daemon's loop owns it.

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mudguard/controller/ApiBackend.h"
#include "mudguard/controller/StateStore.h"
#include "mudguard/enforcer/Enforcer.h"
#include "mudguard/mudparser/TrustPipeline.h"

#include "core/Announcement.h"
#include "core/Draft.h"
#include "core/Plan.h"
#include "core/State.h"

namespace mudguard::controller::core {

/// A fetch's outcome as the core sees it.
struct FetchVerdict {
    enum class Outcome {
        Accepted, ///< the file (new, confirmed or cached) may be enforced
        Refused, ///< no file may be enforced (`failure` says why)
        KeptLastKnownGood, ///< a refresh was refused or failed; the cached copy (given) stays in force
    };
    std::string url;
    Outcome outcome = Outcome::Refused;
    mudparser::VerdictSource source = mudparser::VerdictSource::Network;
    std::optional<Failure> failure;
    std::shared_ptr<const mudparser::Profile> profile;
    std::shared_ptr<const std::string> document;
    std::string signature, signatureUrl;
    std::optional<mudparser::SignerIdentity> signer;
    std::vector<std::string> chain;
    std::optional<Timestamp> fetchedAt, verifiedAt;
    std::string etag, lastModified;
    bool unsupported = false;
    std::string summary; ///< the pipeline's one-line summary
};

/// A pipeline verdict in the core's terms: the failure stage comes from where the pipeline
/// refused, its first error (or the refresh's first warning) gives the code and sentence.
FetchVerdict fromPipeline(mudparser::Verdict&& v);

/// A last known good file read back at a cold start, parsed by the daemon.
struct RestoredDocument {
    MudCacheRow row;
    std::shared_ptr<const mudparser::Profile> profile; ///< null when it no longer parses
    std::optional<Failure> failure;
};

/// What a cold start has: the saved state, its documents parsed, the local MUD files of devices
/// parsed (by digest), and announcements that were spooled but not recorded before the stop.
struct Restore {
    SavedState saved;
    std::map<std::string, RestoredDocument> documents; ///< by URL
    std::map<std::string, LocalDocument> localDocuments; ///< by digest of the document
    std::vector<Announcement> spooled;
};

class Core {
public:
    explicit Core(Settings settings);

    const State& state() const { return m_state; }
    const Settings& settings() const { return *m_settings; }

    // --- events -------------------------------------------------------------------------------------
    /// The first plan: enforcement restored from the saved state (its kernel part is the enforcer's
    /// start), the configured devices, and the spooled announcements.
    Plan restore(const Restore& r, Timestamp now);
    /// Devices announced by the discovery sources (one plan for a burst).
    Plan announce(const std::vector<Announcement>& batch, Timestamp now, std::string what = "device events");
    Plan verdict(const FetchVerdict& v, Timestamp now);
    /// Devices whose grace time ended are unbound; files due for a refresh are fetched; refusals
    /// of the kernel are retried.
    Plan tick(Timestamp now);
    /// What the store refused is recorded again (held devices, verdicts to fetch again).
    Plan heal(Timestamp now);
    /// Addresses of DNS names (policies' and classes'), from lookups and from answers devices got.
    Plan dnsUpdates(
        const std::vector<std::pair<std::string, std::vector<enforcer::DnsAddress>>>& updates, Timestamp now);
    /// Someone else changed mudguard's tables and the enforcer put them back.
    Plan tablesRestored(Timestamp now);
    /// Blocked traffic, summarised per device since the last summary.
    struct ViolationSummary {
        MacAddress mac;
        std::string direction, peers;
        std::uint64_t packets = 0;
    };
    Plan violations(const std::vector<ViolationSummary>& summaries, Timestamp now);

    // --- admin actions: each returns its plan and what to tell the admin, or throws an api:: error
    struct Action {
        Plan plan;
        api::ActionOutcome outcome;
    };
    /// Registration with a URL, or with a local MUD file (`local`, parsed by the daemon).
    Action registerDevice(const MacAddress& mac, const std::optional<std::string>& url,
        const std::optional<LocalDocument>& local, const api::Actor& who, Timestamp now);
    Action removeDevice(const MacAddress& mac, const api::Actor& who, Timestamp now);
    Action refreshDevice(const MacAddress& mac, const api::Actor& who, Timestamp now);
    Action quarantine(const MacAddress& mac, const std::string& reason, const api::Actor& who, Timestamp now);
    Action release(const MacAddress& mac, const api::Actor& who, Timestamp now);
    Action acceptSigner(
        const std::string& authority, const std::optional<std::string>& which, const api::Actor& who, Timestamp now);
    Action refuseSigner(
        const std::string& authority, const std::optional<std::string>& which, const api::Actor& who, Timestamp now);
    /// New settings: class sets, the posture, the configured devices. Adopting the plan makes them
    /// current.
    Plan reload(Settings next, Timestamp now);

    // --- refusals --------------------------------------------------------------------------------------
    /// The kernel refused `refused` (nothing of it is in force): devices it would have put under a
    /// policy are failed (stage kernel), new ones held. The plan returned has no further fallback.
    Plan kernelRefused(const Plan& refused, const std::string& why, Timestamp now);
    /// The store refused `refused` after the kernel took it; the executor returns the kernel to
    /// where memory is. New devices of `refused` are held (not recorded), the URLs it fetched are
    /// fetched again once the store heals. The plan returned has no store part.
    Plan storeRefused(const Plan& refused, const std::string& why, Timestamp now);

    /// Makes the plan's changes current (memory only). Called once the kernel and the store took it.
    void adopt(Plan& plan);

    // --- views ---------------------------------------------------------------------------------------
    /// DNS names to keep resolved: those of installed policies and of the configured classes.
    std::set<std::string> wantedNames() const;
    /// The names `plan` needs (its policies, once it took effect, and the classes).
    std::set<std::string> namesOf(const Plan& plan) const;
    /// Adds addresses resolved for the names of `plan` (before a cold start's first batch).
    void addResolved(
        Plan& plan, const std::vector<std::pair<std::string, std::vector<enforcer::DnsAddress>>>& updates) const;
    std::set<std::string> policyNames() const;
    std::set<std::string> classNames() const;
    /// True while something waits for the store to accept writes.
    bool needsHeal() const;
    /// Reasons the daemon is degraded (empty: healthy).
    std::vector<std::string> degraded() const;
    std::map<DeviceState, std::size_t> countByState() const;
    /// The class sets that settings and resolved names give (local networks, controllers, ...).
    static enforcer::Transaction classTransaction(
        const Settings& settings, const std::map<std::string, std::vector<std::string>>& resolved);

private:
    // Devices (Core.cpp).
    void announceOne(Draft& d, const Announcement& a);
    DeviceRecord& ensureDevice(Draft& d, const MacAddress& mac, DeviceSource source);
    void bind(Draft& d, const Announcement& a);
    void refuseUrl(Draft& d, const MacAddress& mac, DeviceSource source, const Failure& why);
    void addAddress(Draft& d, const MacAddress& mac, const IpAddress& ip);
    void removeAddress(Draft& d, const MacAddress& mac, const IpAddress& ip);
    void scheduleLeave(Draft& d, const MacAddress& mac);
    void unbind(Draft& d, const MacAddress& mac, const std::string& why);
    void setState(DeviceRecord& r, DeviceState s, std::string reason, std::optional<FailureStage> stage = {});
    void fail(Draft& d, DeviceRecord& r, const Failure& f);

    // Policies (CorePolicies.cpp).
    void assign(Draft& d, const MacAddress& mac, const std::string& key);
    void releasePolicyIfUnused(Draft& d, const std::string& key);
    /// The device leaves its policy (released when no other device uses it) and is held.
    void dropPolicy(Draft& d, const MacAddress& mac);
    bool installPolicy(Draft& d, const std::string& key, std::optional<Failure>& failure);
    /// The policy of an admin's local file: the one already known for the same document, or a new
    /// record in the draft (not installed).
    const PolicyRecord* localPolicy(Draft& d, const LocalDocument& doc);
    bool signerRule(Draft& d, const FetchVerdict& v, Failure& failure);
    void refused(Draft& d, const FetchVerdict& v, const Failure& why);

    // Configuration (CoreAdmin.cpp).
    void applyConfiguredDevices(Draft& d, const Settings& settings);

    State m_state;
    std::shared_ptr<const Settings> m_settings;
};

} // namespace mudguard::controller::core
