// The daemon's API side on the loop thread: starting the server, publishing what API threads
// read, the admin actions (the core decides each; it is applied whole or not at all) and
// configuration reloads.

#include <fmt/format.h>

#include "mudguard/Config.h"

#include "Translate.h"
#include "daemon/DaemonApi.h"

namespace mudguard::controller {

using log::Category;
using log::Event;
using log::Level;

std::vector<ApiToken> Daemon::Impl::apiTokens() const
{
    std::vector<ApiToken> out;
    for (const auto& t : cfg.api.tokens) {
        ApiToken tok;
        tok.name = t.name;
        if (auto hash = parseSha256Hex(t.sha256))
            tok.sha256 = *hash;
        else
            continue; // the configuration check refuses it first
        tok.role = parseApiRole(t.role).value_or(ApiRole::Auditor);
        out.push_back(std::move(tok));
    }
    return out;
}

void Daemon::Impl::startApi()
{
    if (!cfg.api.enabled)
        return;
    ApiServerOptions o;
    o.listenAddress = cfg.api.listenAddress;
    o.port = cfg.api.port;
    if (cfg.api.tlsCertificate && cfg.api.tlsKey)
        o.tls = ApiTlsFiles { *cfg.api.tlsCertificate, *cfg.api.tlsKey };
    o.tokens = apiTokens();
    o.maxBodyBytes = cfg.api.maxRequestBytes;
    o.maxConnections = cfg.api.maxConnections;
    o.threads = std::min<unsigned>(4, cfg.api.maxConnections);
    o.timeout = std::chrono::seconds(cfg.api.timeoutSeconds);
    api = std::make_unique<DaemonApi>(*this);
    apiServer = std::make_unique<ApiServer>(*api, *metrics, o);
    apiServer->start();
}

void Daemon::Impl::publish()
{
    auto snap = std::make_shared<ApiSnapshot>();
    for (const auto& [key, p] : core->state().policies)
        if (p.profile && (p.installed || core->state().policyUse.count(key)))
            snap->policies.emplace(p.id, makePolicyView(p));
    auto degraded = core->degraded();
    snap->health.ok = started && degraded.empty();
    if (!started)
        snap->health.reasons.push_back("enforcement is not in force yet (starting)");
    snap->health.reasons.insert(snap->health.reasons.end(), degraded.begin(), degraded.end());
    snap->health.lastReconcile = lastReconcile;
    snap->health.devices = core->state().devices.size();
    if (!degraded.empty())
        for (const auto& [mac, d] : core->state().devices)
            if (!d.recorded)
                if (auto view = deviceView(mac))
                    snap->unrecorded.emplace(view->mac, std::move(*view));
    metrics->degraded().set(degraded.empty() ? 0 : 1);
    std::lock_guard lock(publishedMutex);
    published = std::move(snap);
}

std::shared_ptr<const ApiSnapshot> Daemon::Impl::snapshot() const
{
    std::lock_guard lock(publishedMutex);
    if (!published)
        return std::make_shared<const ApiSnapshot>();
    return published;
}

void Daemon::Impl::updateDeviceMetrics()
{
    metrics->setDevices(core->countByState());
    auto stats = fetches->stats();
    metrics->setFetchQueue(stats.queued, stats.running);
}

std::optional<api::Device> Daemon::Impl::deviceView(const MacAddress& mac)
{
    const auto& devices = core->state().devices;
    auto it = devices.find(mac);
    if (it == devices.end())
        return std::nullopt;
    const core::DeviceRecord& d = it->second;
    DeviceRow row;
    if (auto saved = loopReader->device(mac.toString()))
        row = std::move(*saved);
    row.mac = mac.toString();
    row.state = d.state;
    row.reason = d.reason;
    row.failureStage = d.state == DeviceState::Failed ? d.stage : std::nullopt;
    row.source = d.source;
    row.mudUrl = d.mudUrl;
    row.policyId.clear();
    if (auto p = core->state().policies.find(d.policyKey); p != core->state().policies.end())
        row.policyId = p->second.id;
    std::vector<std::string> ips;
    for (const auto& ip : d.addresses)
        ips.push_back(ip.toString());
    return deviceFromRow(row, std::move(ips));
}

// =================================================================================================
// Admin actions

api::ActionOutcome Daemon::Impl::act(core::Core::Action action, const MacAddress* mac)
{
    if (!action.plan.empty()) {
        auto result = executor->applyOrNothing(std::move(action.plan));
        if (result.outcome == core::Executor::Outcome::KernelRefused)
            throw Error("the kernel refused the change; nothing was changed: " + result.reason);
        if (result.outcome == core::Executor::Outcome::StoreRefused)
            throw api::Unavailable(
                "the state database refused to record the change, so nothing was changed; try again once it "
                "accepts writes (see /healthz)");
    }
    if (mac)
        action.outcome.device = deviceView(*mac);
    return std::move(action.outcome);
}

namespace {

MacAddress macOf(const std::string& text)
{
    // The API server hands canonical MACs only.
    auto mac = MacAddress::parse(text);
    if (!mac)
        throw api::InvalidInput(fmt::format("\"{}\" is not a MAC address", text), "mac");
    return *mac;
}

} // namespace

api::ActionOutcome Daemon::Impl::adminRegister(const api::RegisterDevice& r, const api::Actor& who)
{
    auto mac = macOf(r.mac);
    std::optional<core::LocalDocument> local;
    if (r.mudDocument)
        local = localDocument(*r.mudDocument, "local MUD file for " + r.mac);
    auto out = act(core->registerDevice(mac, r.mudUrl, local, who, nowMs()), &mac);
    return out;
}

api::ActionOutcome Daemon::Impl::adminRemove(const std::string& mac, const api::Actor& who)
{
    return act(core->removeDevice(macOf(mac), who, nowMs()), nullptr);
}

api::ActionOutcome Daemon::Impl::adminRefresh(const std::string& mac, const api::Actor& who)
{
    auto m = macOf(mac);
    return act(core->refreshDevice(m, who, nowMs()), &m);
}

api::ActionOutcome Daemon::Impl::adminQuarantine(
    const std::string& mac, const std::string& reason, const api::Actor& who)
{
    auto m = macOf(mac);
    return act(core->quarantine(m, reason, who, nowMs()), &m);
}

api::ActionOutcome Daemon::Impl::adminRelease(const std::string& mac, const api::Actor& who)
{
    auto m = macOf(mac);
    return act(core->release(m, who, nowMs()), &m);
}

api::ActionOutcome Daemon::Impl::adminAcceptSigner(
    const std::string& authority, const std::optional<std::string>& which, const api::Actor& who)
{
    return act(core->acceptSigner(authority, which, who, nowMs()), nullptr);
}

api::ActionOutcome Daemon::Impl::adminRefuseSigner(
    const std::string& authority, const std::optional<std::string>& which, const api::Actor& who)
{
    return act(core->refuseSigner(authority, which, who, nowMs()), nullptr);
}

api::ActionOutcome Daemon::Impl::adminReload(const api::Actor& who)
{
    reload();
    auditOnly(Category::Api, Level::Debug, Event::AdminAction, {},
        fmt::format("admin token \"{}\" reloaded the configuration", who.tokenName));
    api::ActionOutcome out;
    out.message = "configuration reloaded";
    return out;
}

// =================================================================================================
// Configuration

void Daemon::Impl::reload()
{
    auto loaded = loadDaemonConfig(opts.configFile, opts.schemaDir);
    if (!loaded.config) {
        std::string why
            = loaded.report.diagnostics.empty() ? "invalid" : mudparser::formatText(loaded.report.diagnostics.front());
        auditOnly(Category::Controller, Level::Error, Event::ConfigRejected,
            "the new configuration is invalid; the running one stays in force", why);
        throw api::InvalidConfig(
            "the new configuration is invalid; the running one stays in force: " + why, loaded.report.diagnostics);
    }
    DaemonConfig next = std::move(*loaded.config);
    const DaemonConfig& prev = cfg;
    // What is read at start only (everything of `api` but its tokens, which apply at once): a
    // change is reported, and applied by a restart...
    auto apiAtStart = [](DaemonConfig::Api a) {
        a.tokens.clear();
        return a;
    };
    std::string atStart;
    auto changed = [&](bool differs, const char* name) {
        if (differs)
            atStart += (atStart.empty() ? "" : ", ") + std::string(name);
    };
    changed(apiAtStart(prev.api) != apiAtStart(next.api), "api");
    changed(prev.fetch != next.fetch, "fetch");
    changed(prev.dns != next.dns, "dns");
    changed(prev.discovery != next.discovery, "discovery");
    changed(prev.nflog != next.nflog, "nflog");
    changed(prev.stateDirectory != next.stateDirectory, "state-directory");
    changed(prev.hookSocket != next.hookSocket, "hook-socket");
    if (!atStart.empty())
        log::write(Category::Controller, Level::Warning, Event::ConfigLoaded,
            "some changed settings are read at start only; restart mudguard to apply them",
            { { "settings", atStart } });
    // ... and stays as it is until then, so that what runs is what the configuration in force says.
    auto tokens = std::move(next.api.tokens);
    next.api = prev.api;
    next.api.tokens = std::move(tokens);
    next.fetch = prev.fetch;
    next.dns = prev.dns;
    next.discovery = prev.discovery;
    next.nflog = prev.nflog;
    next.stateDirectory = prev.stateDirectory;
    next.hookSocket = prev.hookSocket;

    // The trust settings first: they can be refused (an unreadable anchor) before anything changes.
    auto oldPolicy = pipeline->policy();
    try {
        pipeline->setPolicy(trustPolicy(next));
        guard->setLocalNetworks(localNetworks(next));
    } catch (const std::exception& e) {
        pipeline->setPolicy(oldPolicy);
        guard->setLocalNetworks(localNetworks(prev));
        auditOnly(Category::Controller, Level::Error, Event::ConfigRejected,
            "the new trust settings cannot be used; the running configuration stays in force", e.what());
        throw api::InvalidConfig(
            fmt::format(
                "the new trust settings cannot be used; the running configuration stays in force: {}", e.what()),
            {});
    }
    auto plan = core->reload(settingsFrom(next), nowMs());
    plan.logs.push_back(core::LogRecord { Category::Controller, Level::Info, Event::ConfigLoaded,
        "configuration reloaded", { core::textField("path", opts.configFile.string()) } });
    AuditEntry a;
    a.at = nowMs();
    a.event = log::toString(Event::ConfigLoaded);
    a.reason = "configuration reloaded";
    plan.store.add(StoreBatch::AppendAudit { std::move(a) });
    auto result = executor->applyOrNothing(std::move(plan));
    if (!result) {
        pipeline->setPolicy(oldPolicy);
        guard->setLocalNetworks(localNetworks(prev));
        throw Error("the new configuration's rules could not be applied; the running configuration stays in force: "
            + result.reason);
    }
    cfg = std::move(next);
    if (apiServer)
        apiServer->setTokens(apiTokens());
    names->track(core->wantedNames()); // names in the classes, and in the admins' local files, may have changed
    publish();
}

} // namespace mudguard::controller
