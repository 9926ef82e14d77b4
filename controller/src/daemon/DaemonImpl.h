#pragma once
// The daemon's shell: it owns what touches the world (sockets, the kernel, the state database,
// fetch workers, the API) and hands every event to the core, whose plans it applies through the
// executor. It decides nothing itself. Only the loop's thread touches Impl's members, except
// where a member says otherwise.

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
#include "mudguard/controller/HookSpool.h"
#include "mudguard/controller/LldpWatcher.h"
#include "mudguard/controller/Log.h"
#include "mudguard/controller/Metrics.h"
#include "mudguard/controller/NeighbourWatcher.h"
#include "mudguard/controller/NflogReader.h"
#include "mudguard/controller/Store.h"
#include "mudguard/enforcer/Enforcer.h"
#include "mudguard/mudparser/AddressGuard.h"
#include "mudguard/mudparser/Fetcher.h"
#include "mudguard/mudparser/Parser.h"
#include "mudguard/mudparser/TrustPipeline.h"

#include "core/Core.h"
#include "core/Executor.h"
#include "daemon/CachedDocuments.h"
#include "daemon/Daemon.h"
#include "daemon/DnsNames.h"
#include "daemon/FetchScheduler.h"
#include "daemon/Violations.h"

namespace mudguard::controller {

using Clock = std::chrono::system_clock;

class DaemonApi;

Timestamp nowMs();

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
    /// Devices held while the state database refuses to record them (the database does not know
    /// them yet), by MAC.
    std::map<std::string, api::Device> unrecorded;
};

struct Daemon::Impl final : core::PlanEffects {
    DaemonConfig cfg;
    DaemonOptions opts;
    EventLoop loop;
    std::unique_ptr<Store> store; ///< the state database (the one writer)
    std::unique_ptr<StateReader> loopReader; ///< the loop's reads of what was recorded
    Metrics metricsRegistry;
    std::unique_ptr<MudguardMetrics> metrics;
    std::unique_ptr<mudparser::Parser> parser; ///< the loop thread's own
    std::shared_ptr<mudparser::AddressGuard> guard;
    std::shared_ptr<mudparser::Fetcher> fetcher;
    std::shared_ptr<CachedDocuments> documents; ///< shared with the fetch workers
    std::shared_ptr<mudparser::TrustPipeline> pipeline; ///< shared with the fetch workers
    std::unique_ptr<enforcer::Enforcer> enforcer;
    std::unique_ptr<core::Core> core;
    std::unique_ptr<core::Executor> executor;
    std::unique_ptr<FetchScheduler> fetches;
    std::unique_ptr<HookServer> hook;
    std::unique_ptr<HookSpool> spool;
    std::set<std::string> spoolSeen; ///< spool entries handed to the core in this run
    std::unique_ptr<NeighbourWatcher> neighbours;
    std::unique_ptr<LldpWatcher> lldp;
    std::unique_ptr<NflogReader> nflogDrops, nflogDns;
    std::unique_ptr<DnsNames> names;
    Violations violations; ///< thread-safe (API threads read it)
    std::vector<EventLoop::Handle> handles;
    EventLoop::Handle lldpRestart;
    int exitCode = 0;
    bool started = false; ///< the enforcer has taken over the kernel state

    std::map<MacAddress, std::chrono::steady_clock::time_point> joinStarted;
    std::optional<Timestamp> lastReconcile;
    std::size_t tableRestores = 0;
    mutable std::mutex publishedMutex; ///< guards `published` (API threads read it)
    std::shared_ptr<const ApiSnapshot> published;
    std::unique_ptr<DaemonApi> api; ///< after everything it reads, so it is destroyed first
    std::unique_ptr<ApiServer> apiServer;

    Impl(DaemonConfig c, DaemonOptions o);
    ~Impl() override;

    // --- set-up (Daemon.cpp) ------------------------------------------------------------------
    enforcer::Config enforcerConfig(const DaemonConfig& c) const;
    mudparser::TrustPolicy trustPolicy(const DaemonConfig& c) const;
    std::vector<std::string> lanPrefixes(const DaemonConfig& c) const; ///< configured, or the LAN interfaces'
    std::vector<std::string> routerAddresses(const DaemonConfig& c) const; ///< configured, or the LAN interfaces'
    mudparser::LocalNetworks localNetworks(const DaemonConfig& c) const;
    /// What the core decides with; reads and parses the configured devices' local files.
    core::Settings settingsFrom(const DaemonConfig& c);
    /// An admin's local MUD file, read (bounded) and parsed by the loop's parser.
    core::LocalDocument localDocument(const std::string& document, const std::string& origin);
    void setUpTrust();
    void setUpSources();
    void importLegacyCache();
    void restore();

    // --- events (DaemonEvents.cpp) ------------------------------------------------------------
    /// Applies a plan through the executor (what follows is in took()).
    void apply(core::Plan plan);
    void took(const core::Plan& plan) override;
    void requestFetch(const core::FetchRequest& f);
    void onHook();
    void onNeighbours(const std::vector<NeighbourEvent>& events);
    void onLldp();
    void onVerdict(const core::FetchVerdict& v);
    void onTick();
    void onHeal();
    void scanSpool();
    void onTableEvents();
    void onDnsCopies();
    void commitDns();
    void onDrops();
    void flushViolations();
    /// An audit entry and its log line, on their own.
    void auditOnly(log::Category c, log::Level l, log::Event e, const std::string& message, const std::string& reason);

    // --- the API and admin actions (DaemonAdmin.cpp) ----------------------------------------------
    void startApi();
    std::vector<ApiToken> apiTokens() const;
    void publish();
    std::shared_ptr<const ApiSnapshot> snapshot() const;
    void updateDeviceMetrics();
    /// The device as the API shows it, from memory and what the store recorded (loop thread).
    std::optional<api::Device> deviceView(const MacAddress& mac);
    /// Applies an admin action whole or not at all, and says what it did.
    api::ActionOutcome act(core::Core::Action action, const MacAddress* mac);
    api::ActionOutcome adminRegister(const api::RegisterDevice& r, const api::Actor& who);
    api::ActionOutcome adminRemove(const std::string& mac, const api::Actor& who);
    api::ActionOutcome adminRefresh(const std::string& mac, const api::Actor& who);
    api::ActionOutcome adminQuarantine(const std::string& mac, const std::string& reason, const api::Actor& who);
    api::ActionOutcome adminRelease(const std::string& mac, const api::Actor& who);
    api::ActionOutcome adminAcceptSigner(
        const std::string& authority, const std::optional<std::string>& which, const api::Actor& who);
    api::ActionOutcome adminRefuseSigner(
        const std::string& authority, const std::optional<std::string>& which, const api::Actor& who);
    api::ActionOutcome adminReload(const api::Actor& who);
    /// Throws api::InvalidConfig when the file is invalid (the running configuration stays).
    void reload();
};

} // namespace mudguard::controller
