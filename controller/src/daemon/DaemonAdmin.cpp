// The daemon's API side on the loop thread: starting the server, publishing what API threads
// read, and the admin actions (each runs on the loop, so it sees and changes the same state as
// device events, in order).

#include <fmt/format.h>

#include "mudguard/Config.h"
#include "mudguard/mudparser/Url.h"

#include "Translate.h"
#include "daemon/DaemonApi.h"

namespace mudguard::controller {

using log::Category;
using log::Event;
using log::Level;

namespace {

std::string actorText(const api::Actor& who) { return fmt::format("admin token \"{}\"", who.tokenName); }

} // namespace

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
    for (const auto& [key, p] : policies)
        if (p.profile && (p.installed || !p.devices.empty()))
            snap->policies.emplace(p.id, makePolicyView(p));
    snap->health.ok = started;
    if (!started)
        snap->health.reasons.push_back("enforcement is not in force yet (starting)");
    snap->health.lastReconcile = lastReconcile;
    snap->health.devices = devices.size();
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
    std::map<DeviceState, std::size_t> byState;
    for (const auto& [mac, d] : devices)
        ++byState[d.state];
    metrics->setDevices(byState);
}

api::Device Daemon::Impl::deviceView(const DeviceRecord& d) const
{
    DeviceRow row;
    if (auto saved = store->device(d.mac))
        row = std::move(*saved);
    row.mac = d.mac;
    row.state = d.state;
    row.reason = d.reason;
    row.source = d.source;
    row.mudUrl = d.mudUrl;
    if (auto it = policies.find(d.policyKey); it != policies.end())
        row.policyId = it->second.id;
    return deviceFromRow(row, { d.addresses.begin(), d.addresses.end() });
}

// =================================================================================================
// Admin actions

api::ActionOutcome Daemon::Impl::adminRegister(const api::RegisterDevice& r, const api::Actor& who)
{
    api::ActionOutcome out;
    const bool known = devices.count(r.mac) > 0;
    PolicyRecord* local = nullptr;
    if (r.mudDocument) {
        mudparser::Report report;
        local = localPolicy(*r.mudDocument, "local MUD file for " + r.mac, report);
        if (!local)
            throw api::InvalidMud("the MUD file is not valid: " + firstError(report), report.diagnostics);
    } else if (r.mudUrl) {
        auto url = mudparser::Url::parse(*r.mudUrl);
        if (!url)
            throw api::InvalidInput(fmt::format("the MUD URL is refused: {}", url.message), "mud-url");
    } else {
        throw api::InvalidInput("give either a MUD URL or a MUD file", "mud-url");
    }

    enforcer::Transaction t;
    Store::Transaction st(*store);
    DeviceRecord& d = ensureDevice(r.mac, DeviceSource::Admin, t);
    d.adminBound = true;
    d.source = DeviceSource::Admin;
    d.pendingUrl.reset();
    std::string oldKey = d.policyKey;
    if (local) {
        d.localDocument = local->document;
        d.mudUrl = local->url;
        store->putBinding(d.mac, d.mudUrl, DeviceSource::Admin);
        t.setClasses(toEnforcerMac(d.mac), urlAuthority(d.mudUrl), d.mudUrl);
        if (!local->installed && !installPolicy(*local, t))
            throw api::InvalidMud("the MUD file cannot be enforced on this router (see the events)", {});
        assign(d, *local, t);
        if (oldKey != local->key)
            releasePolicyIfUnused(oldKey, t);
        out.kind = api::ActionOutcome::Kind::Done;
        out.message = fmt::format("device {} enforced with the local MUD file (policy {})", d.mac, local->id);
    } else {
        d.localDocument.reset();
        d.mudUrl = *r.mudUrl;
        store->putBinding(d.mac, d.mudUrl, DeviceSource::Admin);
        t.setClasses(toEnforcerMac(d.mac), urlAuthority(d.mudUrl), d.mudUrl);
        if (auto* p = policyForUrl(d.mudUrl); p && p->installed) {
            assign(d, *p, t);
            if (oldKey != p->key)
                releasePolicyIfUnused(oldKey, t);
            out.kind = api::ActionOutcome::Kind::Done;
            out.message = fmt::format("device {} enforced with policy {}", d.mac, p->id);
        } else {
            if (oldKey.empty())
                setState(d, DeviceState::Fetching, {});
            requestFetch(d.mudUrl, false);
            out.kind = api::ActionOutcome::Kind::Accepted;
            out.message = fmt::format("device {} registered; its MUD file is being fetched", d.mac);
        }
    }
    if (!commit(t, "admin registration", d.mac))
        throw Error("the kernel refused the change; nothing was changed (see the logs)");
    persistDevice(d);
    audit(Event::AdminAction, d.mac, d.mudUrl,
        fmt::format(
            "{} registered the device {}", actorText(who), r.mudDocument ? "with a local MUD file" : "by MUD URL"));
    st.commit();
    trackNames(); // a local file may name hosts no other policy does
    publish();
    out.created = !known;
    out.device = deviceView(d);
    return out;
}

api::ActionOutcome Daemon::Impl::adminRemove(const std::string& mac, const api::Actor& who)
{
    if (!devices.count(mac))
        throw api::NotFound(fmt::format("no device {} is known", mac));
    unbind(mac, fmt::format("removed by {}", actorText(who)));
    if (devices.count(mac))
        throw Error("the kernel refused the change; the device stays (see the logs)");
    publish();
    api::ActionOutcome out;
    out.message = fmt::format("device {} removed; its rules are gone", mac);
    return out;
}

api::ActionOutcome Daemon::Impl::adminRefresh(const std::string& mac, const api::Actor& who)
{
    auto it = devices.find(mac);
    if (it == devices.end())
        throw api::NotFound(fmt::format("no device {} is known", mac));
    DeviceRecord& d = it->second;
    if (d.localDocument || d.mudUrl.empty())
        throw api::Conflict("the device has no MUD URL to fetch (it uses a local MUD file or announced none)");
    const std::string url = d.pendingUrl.value_or(d.mudUrl);
    fetching.erase(url);
    requestFetch(url, true);
    audit(Event::AdminAction, mac, url, fmt::format("{} asked for the MUD file to be fetched again", actorText(who)));
    api::ActionOutcome out;
    out.kind = api::ActionOutcome::Kind::Accepted;
    out.message = "the MUD file is being fetched again; watch the device's state or the events";
    out.device = deviceView(d);
    return out;
}

api::ActionOutcome Daemon::Impl::adminQuarantine(
    const std::string& mac, const std::string& reason, const api::Actor& who)
{
    auto it = devices.find(mac);
    if (it == devices.end())
        throw api::NotFound(fmt::format("no device {} is known", mac));
    DeviceRecord& d = it->second;
    api::ActionOutcome out;
    if (d.state == DeviceState::Quarantined) {
        out.kind = api::ActionOutcome::Kind::Unchanged;
        out.message = "the device is already in quarantine";
        out.device = deviceView(d);
        return out;
    }
    enforcer::Transaction t;
    t.setDevice(toEnforcerMac(mac), enforcer::Assignment::quarantine());
    if (!commit(t, "quarantine", mac))
        throw Error("the kernel refused the change; nothing was changed (see the logs)");
    Store::Transaction st(*store);
    setState(d, DeviceState::Quarantined, reason.empty() ? "quarantined by an admin" : reason);
    audit(Event::AdminAction, mac, d.mudUrl,
        fmt::format("{} put the device in quarantine{}", actorText(who), reason.empty() ? "" : ": " + reason));
    st.commit();
    out.message = "the device is in quarantine: infrastructure traffic only";
    out.device = deviceView(d);
    return out;
}

api::ActionOutcome Daemon::Impl::adminRelease(const std::string& mac, const api::Actor& who)
{
    auto it = devices.find(mac);
    if (it == devices.end())
        throw api::NotFound(fmt::format("no device {} is known", mac));
    DeviceRecord& d = it->second;
    api::ActionOutcome out;
    if (d.state != DeviceState::Quarantined) {
        out.kind = api::ActionOutcome::Kind::Unchanged;
        out.message = "the device is not in quarantine";
        out.device = deviceView(d);
        return out;
    }
    enforcer::Transaction t;
    Store::Transaction st(*store);
    auto p = policies.find(d.policyKey);
    if (p != policies.end() && p->second.installed) {
        assign(d, p->second, t);
        out.message = fmt::format("the device is out of quarantine; policy {} is in force", p->second.id);
    } else {
        t.setDevice(toEnforcerMac(mac), enforcer::Assignment::pending());
        d.state = DeviceState::Pending;
        if (!d.mudUrl.empty() && !d.localDocument)
            requestFetch(d.mudUrl, false);
        out.kind = api::ActionOutcome::Kind::Accepted;
        out.message = "the device is out of quarantine and held to infrastructure until its policy is in force";
    }
    if (!commit(t, "release", mac))
        throw Error("the kernel refused the change; nothing was changed (see the logs)");
    persistDevice(d);
    audit(Event::AdminAction, mac, d.mudUrl, fmt::format("{} released the device from quarantine", actorText(who)));
    st.commit();
    out.device = deviceView(d);
    return out;
}

api::ActionOutcome Daemon::Impl::adminAcceptSigner(
    const std::string& authority, const std::optional<std::string>& which, const api::Actor& who)
{
    std::optional<mudparser::SignerIdentity> accepted;
    try {
        accepted = signers->acceptPending(authority, which.value_or(""), who.tokenName);
    } catch (const std::invalid_argument& e) {
        throw api::Conflict(e.what());
    }
    if (!accepted)
        throw api::NotFound(fmt::format("no signer of {} waits for acceptance{}", authority,
            which ? fmt::format(" matching \"{}\"", *which) : std::string()));
    audit(Event::AdminAction, {}, {},
        fmt::format("{} accepted signer {} for {}", actorText(who), accepted->describe(), authority),
        detailJson({ { "authority", authority }, { "fingerprint", accepted->fingerprint } }));
    // The URL changes and the devices that waited for this signer try again.
    std::size_t retried = 0;
    for (const auto& change : store->pendingUrlChanges()) {
        if (urlAuthority(change.newUrl) != authority)
            continue;
        if (auto it = devices.find(change.mac); it != devices.end()) {
            it->second.pendingUrl = change.newUrl;
            fetching.erase(change.newUrl);
            requestFetch(change.newUrl, true);
            ++retried;
        }
    }
    for (auto& [mac, d] : devices)
        if (d.state == DeviceState::Failed && !d.mudUrl.empty() && urlAuthority(d.mudUrl) == authority) {
            fetching.erase(d.mudUrl);
            requestFetch(d.mudUrl, true);
            ++retried;
        }
    api::ActionOutcome out;
    out.kind = retried ? api::ActionOutcome::Kind::Accepted : api::ActionOutcome::Kind::Done;
    out.message = fmt::format(
        "signer {} accepted for {}; {} MUD files are fetched again", accepted->describe(), authority, retried);
    return out;
}

api::ActionOutcome Daemon::Impl::adminReload(const api::Actor& who)
{
    reload();
    audit(Event::AdminAction, {}, {}, fmt::format("{} reloaded the configuration", actorText(who)));
    api::ActionOutcome out;
    out.message = "configuration reloaded";
    return out;
}

} // namespace mudguard::controller
