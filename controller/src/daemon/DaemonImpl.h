#pragma once
// The daemon's state, shared by the loop (Daemon.cpp) and the API backend (DaemonApi.cpp). Only
// the loop's thread touches Impl's members, except where a member says otherwise.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mudguard/controller/ApiBackend.h"
#include "mudguard/controller/ApiServer.h"
#include "mudguard/controller/EventLoop.h"
#include "mudguard/controller/HookServer.h"
#include "mudguard/controller/LldpWatcher.h"
#include "mudguard/controller/Log.h"
#include "mudguard/controller/Metrics.h"
#include "mudguard/controller/NeighbourWatcher.h"
#include "mudguard/controller/NflogReader.h"
#include "mudguard/controller/Store.h"
#include "mudguard/enforcer/Enforcer.h"
#include "mudguard/mudparser/AddressGuard.h"
#include "mudguard/mudparser/Fetcher.h"
#include "mudguard/mudparser/MudCache.h"
#include "mudguard/mudparser/Parser.h"
#include "mudguard/mudparser/TrustPipeline.h"

#include "daemon/Daemon.h"
#include "daemon/DnsNames.h"
#include "daemon/FetchPool.h"
#include "daemon/StoreSignerRegistry.h"
#include "daemon/Violations.h"

namespace mudguard::controller {

using Clock = std::chrono::system_clock;

class DaemonApi;

// Helpers shared by the daemon's translation units.
Timestamp nowMs();
std::string sha256Hex(std::string_view data);
enforcer::MacAddress toEnforcerMac(const std::string& mac);
std::optional<enforcer::IpAddress> toEnforcerIp(const std::string& ip);
/// A JSON object with string members, for the audit log's detail column.
std::string detailJson(std::initializer_list<std::pair<std::string_view, std::string_view>> members);
/// The first error of a report, as one sentence with its code.
std::string firstError(const mudparser::Report& r);

/// A policy as the API shows it, built by the loop when the policy changes.
struct PolicyView {
    api::Policy policy; ///< `devices` left empty: the database knows them
    std::optional<api::MudMetadata> mud;
    std::vector<std::string> summary;
    std::vector<api::PolicyRule> rules;
};

/// What API threads read without waiting for the loop. The loop publishes a new one whenever a
/// policy or the daemon's health changes (rare events: joins do not republish).
struct ApiSnapshot {
    std::map<std::string, PolicyView> policies; ///< by id
    api::Health health;
};

/// A MUD file in force (or being obtained), shared by every device bound to it.
struct PolicyRecord {
    std::string key; ///< the MUD URL, or "local:<sha256>" for an admin's local file
    std::string url; ///< the MUD URL (for a local file: the mud-url it declares)
    bool local = false;
    std::string id; ///< the enforcer's policy id
    std::shared_ptr<const mudparser::Profile> profile;
    std::string hash; ///< "sha256:<hex>" of the document
    std::string document;
    std::optional<mudparser::SignerIdentity> signer;
    std::vector<std::string> signerChain; ///< subjects from the signer up to the trust anchor
    std::optional<Clock::time_point> fetchedAt;
    unsigned cacheValidityHours = 48;
    bool unsupported = false;
    bool installed = false; ///< the enforcer has it
    std::set<std::string> devices; ///< MACs assigned to it
    std::vector<std::string> dnsNames;
};

/// What the daemon knows of one device.
struct DeviceRecord {
    std::string mac; ///< canonical
    DeviceState state = DeviceState::Pending;
    std::string reason;
    DeviceSource source = DeviceSource::Dhcp;
    std::string mudUrl; ///< the URL bound to the device
    std::string policyKey; ///< the policy in force ("" when none)
    std::optional<std::string> pendingUrl; ///< a URL change waiting for its file
    std::optional<std::string> localDocument; ///< an admin's local MUD file
    bool adminBound = false; ///< registered by an admin (configuration or API): announcements are ignored
    std::set<std::string> addresses;
};

struct Daemon::Impl {
    DaemonConfig cfg;
    DaemonOptions opts;
    EventLoop loop;
    std::unique_ptr<Store> store;
    std::shared_ptr<StoreSignerRegistry> signers;
    std::shared_ptr<mudparser::AddressGuard> guard;
    std::shared_ptr<mudparser::Fetcher> fetcher;
    std::shared_ptr<mudparser::MudCache> cache;
    std::shared_ptr<mudparser::TrustPipeline> pipeline;
    std::unique_ptr<mudparser::Parser> parser; ///< the loop thread's own
    std::unique_ptr<enforcer::Enforcer> enforcer;
    std::unique_ptr<FetchPool> pool;
    std::unique_ptr<HookServer> hook;
    std::unique_ptr<NeighbourWatcher> neighbours;
    std::unique_ptr<LldpWatcher> lldp;
    std::unique_ptr<NflogReader> nflogDrops, nflogDns;
    std::unique_ptr<DnsNames> names;
    Violations violations;
    std::vector<EventLoop::Handle> handles;
    EventLoop::Handle lldpRestart;
    int exitCode = 0;
    bool started = false; ///< the enforcer has taken over the kernel state

    std::map<std::string, DeviceRecord> devices;
    std::map<std::string, PolicyRecord> policies;
    std::map<std::string, std::string> addressOwner; ///< ip -> mac
    std::set<std::string> fetching; ///< URLs with a fetch in flight
    std::map<std::string, std::vector<std::string>> classNameAddresses; ///< class name -> addresses
    std::map<std::string, std::chrono::steady_clock::time_point> joinStarted; ///< mac -> event time

    Metrics metricsRegistry;
    std::unique_ptr<MudguardMetrics> metrics;
    std::optional<Timestamp> lastReconcile;
    std::size_t tableRestores = 0;
    mutable std::mutex publishedMutex; ///< guards `published` (API threads read it)
    std::shared_ptr<const ApiSnapshot> published;
    std::unique_ptr<DaemonApi> api; ///< after everything it reads, so it is destroyed first
    std::unique_ptr<ApiServer> apiServer;

    Impl(DaemonConfig c, DaemonOptions o);

    // --- set-up ---------------------------------------------------------------------------------
    enforcer::Config enforcerConfig() const;
    mudparser::TrustPolicy trustPolicy() const;
    std::vector<std::string> lanPrefixes() const; ///< configured, or those of the LAN interfaces
    std::vector<std::string> routerAddresses() const; ///< configured, or those of the LAN interfaces
    mudparser::LocalNetworks localNetworks() const;
    void setUpTrust();
    void setUpSources();
    void restore();
    enforcer::Transaction classTransaction();
    std::set<std::string> classNames() const; ///< names in the controller classes
    std::set<std::string> policyNames() const; ///< DNS names of the policies in force
    /// Keeps the names of the policies and the classes resolved.
    void trackNames();
    /// Adds the waiting DNS answers to `t` (name sets, and class sets whose names changed).
    bool takeDnsUpdates(enforcer::Transaction& t);

    // --- devices --------------------------------------------------------------------------------
    void onHook();
    void onLease(const LeaseEvent& e, enforcer::Transaction& t);
    void onNeighbours(const std::vector<NeighbourEvent>& events);
    void onLldp();
    void bind(const std::string& mac, const std::string& url, DeviceSource source, enforcer::Transaction& t);
    void refuseUrl(const std::string& mac, DeviceSource source, const std::string& code, const std::string& why,
        enforcer::Transaction& t);
    void addAddress(DeviceRecord& d, const std::string& ip, enforcer::Transaction& t);
    void removeAddress(DeviceRecord& d, const std::string& ip, enforcer::Transaction& t);
    void setState(DeviceRecord& d, DeviceState s, std::string reason);
    void persistDevice(const DeviceRecord& d);
    void scheduleLeave(DeviceRecord& d);
    void sweepLeavers();
    void unbind(const std::string& mac, const std::string& why);
    DeviceRecord& ensureDevice(const std::string& mac, DeviceSource source, enforcer::Transaction& t);

    // --- policies -------------------------------------------------------------------------------
    void requestFetch(const std::string& url, bool force);
    void onVerdict(mudparser::Verdict v);
    bool installPolicy(PolicyRecord& p, enforcer::Transaction& t);
    void assign(DeviceRecord& d, PolicyRecord& p, enforcer::Transaction& t);
    void releasePolicyIfUnused(const std::string& key, enforcer::Transaction& t);
    PolicyRecord* policyForUrl(const std::string& url);
    void refreshDue();
    /// The policy of an admin's MUD file: the one already known for the same document, or the
    /// file parsed now and added to `policies` (not installed). Null when the file is invalid
    /// (`report` says why).
    PolicyRecord* localPolicy(const std::string& document, const std::string& origin, mudparser::Report& report);

    // --- enforcement ------------------------------------------------------------------------------
    /// Commits `t`; on failure logs, audits and returns false (nothing changed in the kernel).
    bool commit(enforcer::Transaction& t, const std::string& what, const std::string& mac = {});
    void audit(log::Event e, const std::string& mac, const std::string& url, const std::string& reason,
        std::string detail = "{}");

    // --- names and violations -------------------------------------------------------------------
    void onDnsCopies();
    void commitDns();
    void onDrops();
    void flushViolations();

    // --- API ------------------------------------------------------------------------------------
    void startApi();
    std::vector<ApiToken> apiTokens() const;
    void publish();
    std::shared_ptr<const ApiSnapshot> snapshot() const;
    void updateDeviceMetrics();
    api::ActionOutcome adminRegister(const api::RegisterDevice& r, const api::Actor& who);
    api::ActionOutcome adminRemove(const std::string& mac, const api::Actor& who);
    api::ActionOutcome adminRefresh(const std::string& mac, const api::Actor& who);
    api::ActionOutcome adminQuarantine(const std::string& mac, const std::string& reason, const api::Actor& who);
    api::ActionOutcome adminRelease(const std::string& mac, const api::Actor& who);
    api::ActionOutcome adminAcceptSigner(
        const std::string& authority, const std::optional<std::string>& which, const api::Actor& who);
    api::ActionOutcome adminReload(const api::Actor& who);
    api::Device deviceView(const DeviceRecord& d) const;

    // --- configuration ----------------------------------------------------------------------------
    /// Throws api::InvalidConfig when the file is invalid (the running configuration stays).
    void reload();
    void applyAdminDevices(enforcer::Transaction& t);
};

} // namespace mudguard::controller
