#include "daemon/DaemonApi.h"

#include <algorithm>
#include <future>
#include <type_traits>

#include <fmt/format.h>

#include "mudguard/enforcer/Layout.h"
#include "mudguard/enforcer/Render.h"
#include "mudguard/mudparser/TimeText.h"

#include "text/ProfileText.h"

namespace mudguard::controller {

namespace {

/// Runs `f` on the daemon's loop and waits for its result, at most `deadline`.
template <typename F> auto onLoop(EventLoop& loop, F f, std::chrono::milliseconds deadline) -> decltype(f())
{
    using R = decltype(f());
    auto promise = std::make_shared<std::promise<R>>();
    auto future = promise->get_future();
    loop.post([promise, f = std::move(f)]() mutable {
        try {
            if constexpr (std::is_void_v<R>) {
                f();
                promise->set_value();
            } else {
                promise->set_value(f());
            }
        } catch (...) {
            promise->set_exception(std::current_exception());
        }
    });
    if (future.wait_for(deadline) != std::future_status::ready)
        throw api::Unavailable("mudguard did not answer in time; the action may still take effect (watch the events)");
    return future.get();
}

std::optional<Timestamp> toTimestamp(const std::optional<Clock::time_point>& t)
{
    if (!t)
        return std::nullopt;
    return std::chrono::time_point_cast<std::chrono::milliseconds>(*t);
}

api::Signer signerView(const core::PolicyRecord& p)
{
    api::Signer s;
    if (!p.signer) {
        s.status = api::Signer::Status::Unsigned;
        s.message
            = p.local ? "a local MUD file supplied by an admin" : "accepted without a signature by the trust policy";
        return s;
    }
    s.status = api::Signer::Status::Verified;
    s.subject = p.signer->subject;
    s.issuer = p.signer->issuer;
    s.fingerprint = p.signer->fingerprint;
    s.notAfter = toTimestamp(mudparser::parseRfc3339(p.signer->notAfter));
    s.chain = p.signerChain;
    s.message = "signature verified: " + p.signer->describe();
    return s;
}

const char* directionName(enforcer::Direction d)
{
    return d == enforcer::Direction::FromDevice ? "from-device" : "to-device";
}

} // namespace

api::Device deviceFromRow(const DeviceRow& row, std::vector<std::string> addresses)
{
    api::Device d;
    d.mac = row.mac;
    d.state = row.state;
    d.reason = row.reason;
    d.failureStage = row.failureStage;
    d.source = row.source;
    d.mudUrl = row.mudUrl;
    d.addresses = std::move(addresses);
    d.policyId = row.policyId;
    d.createdAt = row.createdAt;
    d.stateSince = row.stateSince;
    d.updatedAt = row.updatedAt;
    return d;
}

PolicyView makePolicyView(const core::PolicyRecord& p)
{
    PolicyView v;
    v.policy.id = p.id;
    v.policy.mudUrl = p.url;
    v.policy.source = p.local ? api::PolicySource::Local : api::PolicySource::Fetched;
    v.policy.signer = signerView(p);
    v.policy.fetchedAt = p.fetchedAt;
    if (p.fetchedAt && !p.local)
        v.policy.validUntil = *p.fetchedAt + std::chrono::hours(p.cacheValidityHours);
    v.policy.isSupported = p.installed;
    v.policy.hash = p.hash;
    if (!p.profile)
        return v;
    const mudparser::Profile& m = *p.profile;
    api::MudMetadata md;
    md.mudUrl = m.mudUrl;
    md.mudVersion = m.mudVersion;
    md.lastUpdate = m.lastUpdate;
    md.cacheValidityHours = m.cacheValidity;
    md.isSupported = m.isSupported;
    md.systeminfo = m.systeminfo;
    md.mfgName = m.mfgName;
    md.modelName = m.modelName;
    md.firmwareRev = m.firmwareRev;
    md.softwareRev = m.softwareRev;
    md.documentation = m.documentation;
    md.mudSignature = m.mudSignature;
    md.extensions = m.extensions;
    md.transparency = m.transparency;
    v.mud = std::move(md);

    for (auto& line : text::lines(text::describeProfile(m)))
        if (!line.empty())
            v.summary.push_back(std::move(line));

    auto rules = [&](const std::vector<std::string>& acls, bool fromDevice) {
        for (const auto& name : acls)
            if (const auto* acl = m.findAcl(name))
                for (const auto& ace : acl->aces) {
                    api::PolicyRule r;
                    r.acl = acl->name;
                    r.ace = ace.name;
                    r.direction = fromDevice ? "from-device" : "to-device";
                    r.action = text::actionName(ace.action);
                    r.match = text::describeAce(ace, fromDevice);
                    v.rules.push_back(std::move(r));
                }
    };
    rules(m.fromDevicePolicy, true);
    rules(m.toDevicePolicy, false);
    return v;
}

// =================================================================================================

/// A reader connection borrowed from the pool for one request.
class DaemonApi::ReaderLease {
public:
    ReaderLease(DaemonApi& api, std::unique_ptr<StateReader> r)
        : m_api(api)
        , m_reader(std::move(r))
    {
    }
    ReaderLease(ReaderLease&&) = default;
    ~ReaderLease()
    {
        if (!m_reader)
            return;
        std::lock_guard lock(m_api.m_readersMutex);
        m_api.m_idleReaders.push_back(std::move(m_reader));
    }
    StateReader* operator->() { return m_reader.get(); }

private:
    DaemonApi& m_api;
    std::unique_ptr<StateReader> m_reader;
};

DaemonApi::DaemonApi(Daemon::Impl& daemon)
    : m_daemon(daemon)
{
}

DaemonApi::~DaemonApi() = default;

DaemonApi::ReaderLease DaemonApi::reader()
{
    {
        std::lock_guard lock(m_readersMutex);
        if (!m_idleReaders.empty()) {
            auto r = std::move(m_idleReaders.back());
            m_idleReaders.pop_back();
            return ReaderLease(*this, std::move(r));
        }
    }
    return ReaderLease(*this, m_daemon.store->reader());
}

std::vector<api::Device> DaemonApi::devices()
{
    auto r = reader();
    auto all = r->devicesWithAddresses();
    auto snap = m_daemon.snapshot();
    std::vector<api::Device> out;
    out.reserve(all.size() + snap->unrecorded.size());
    for (auto& [row, addresses] : all)
        if (!snap->unrecorded.count(row.mac))
            out.push_back(deviceFromRow(row, std::move(addresses)));
    // Devices held while the database refuses to record them: memory knows them, the database not yet.
    for (const auto& [mac, d] : snap->unrecorded)
        out.push_back(d);
    std::sort(out.begin(), out.end(), [](const api::Device& a, const api::Device& b) { return a.mac < b.mac; });
    return out;
}

api::DeviceDetail DaemonApi::device(const std::string& mac)
{
    auto r = reader();
    auto row = r->device(mac);
    if (!row) {
        auto snap = m_daemon.snapshot();
        auto held = snap->unrecorded.find(mac);
        if (held == snap->unrecorded.end())
            throw api::NotFound(fmt::format("no device {} is known", mac));
        api::DeviceDetail d;
        d.device = held->second;
        return d;
    }
    api::DeviceDetail d;
    d.addresses = r->addresses(mac);
    std::vector<std::string> ips;
    for (const auto& a : d.addresses)
        ips.push_back(a.ip);
    d.device = deviceFromRow(*row, std::move(ips));
    d.history = r->history(mac);
    d.pendingUrlChange = r->pendingUrlChange(mac);

    auto snap = m_daemon.snapshot();
    if (auto it = snap->policies.find(row->policyId); it != snap->policies.end()) {
        const PolicyView& v = it->second;
        d.mud = v.mud;
        d.signer = v.policy.signer;
        d.fetchedAt = v.policy.fetchedAt;
        d.validUntil = v.policy.validUntil;
        d.policySummary = v.summary;
    }

    struct KernelView {
        std::string rules;
        enforcer::DeviceCounters device;
        std::vector<enforcer::AceCounter> aces;
    };
    const std::string policyId = row->policyId;
    try {
        auto view = onLoop(
            m_daemon.loop,
            [this, mac, policyId] {
                KernelView k;
                auto m = enforcer::MacAddress::parse(mac);
                if (!m || !m_daemon.started)
                    return k;
                k.rules = m_daemon.enforcer->renderDevice(*m);
                k.device = m_daemon.enforcer->deviceCounters(*m);
                if (!policyId.empty())
                    k.aces = m_daemon.enforcer->policyCounters(policyId);
                return k;
            },
            kKernelViewDeadline);
        d.nftRules = std::move(view.rules);
        d.counters.dropPackets = view.device.deniedFrom.packets + view.device.deniedTo.packets;
        d.counters.dropBytes = view.device.deniedFrom.bytes + view.device.deniedTo.bytes;
        for (const auto& a : view.aces) {
            api::AceCounter c;
            auto slash = a.ace.find('/');
            c.acl = slash == std::string::npos ? std::string() : a.ace.substr(0, slash);
            c.ace = slash == std::string::npos ? a.ace : a.ace.substr(slash + 1);
            c.direction = directionName(a.direction);
            c.packets = a.counter.packets;
            c.bytes = a.counter.bytes;
            d.counters.aces.push_back(std::move(c));
        }
        d.counters.readAt = std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now());
    } catch (const api::Unavailable&) {
        // The kernel view is left out (readAt stays empty); everything else is answered.
    }
    for (const auto& e : m_daemon.violations.recent(mac)) {
        api::Violation v;
        v.at = std::chrono::time_point_cast<std::chrono::milliseconds>(e.last);
        v.direction = e.direction;
        v.peer = e.peer;
        v.protocol = e.protocol;
        v.port = e.port;
        v.count = e.count;
        d.violations.push_back(std::move(v));
    }
    return d;
}

std::vector<api::Policy> DaemonApi::policies()
{
    auto snap = m_daemon.snapshot();
    auto r = reader();
    std::vector<api::Policy> out;
    for (const auto& [id, v] : snap->policies) {
        api::Policy p = v.policy;
        for (const auto& row : r->devicesUsing(p.mudUrl))
            if (row.policyId == id)
                p.devices.push_back(row.mac);
        out.push_back(std::move(p));
    }
    return out;
}

api::PolicyDetail DaemonApi::policy(const std::string& id)
{
    auto snap = m_daemon.snapshot();
    auto it = snap->policies.find(id);
    if (it == snap->policies.end())
        throw api::NotFound(fmt::format("no policy {} is in force", id));
    api::PolicyDetail d;
    d.policy = it->second.policy;
    {
        auto r = reader();
        for (const auto& row : r->devicesUsing(d.policy.mudUrl))
            if (row.policyId == id)
                d.policy.devices.push_back(row.mac);
    }
    d.mud = it->second.mud;
    d.summary = it->second.summary;
    d.rules = it->second.rules;
    try {
        d.nftRules = onLoop(
            m_daemon.loop,
            [this, id] {
                std::string out;
                const enforcer::Layout& layout = m_daemon.enforcer->layout();
                const std::string prefix = "p_" + id + "_";
                for (const auto* table : { &layout.inet, &layout.bridge }) {
                    std::string chains;
                    for (const auto& c : table->chains)
                        if (c.name.rfind(prefix, 0) == 0)
                            chains += enforcer::renderChain(c);
                    if (!chains.empty())
                        out += fmt::format("table {} mudguard {{\n{}}}\n",
                            table->family == enforcer::ir::TableFamily::Inet ? "inet" : "bridge", chains);
                }
                return out;
            },
            kKernelViewDeadline);
    } catch (const api::Unavailable&) {
    }
    return d;
}

AuditPage DaemonApi::events(const AuditQuery& query) { return reader()->audit(query); }

api::Health DaemonApi::health() { return m_daemon.snapshot()->health; }

api::ActionOutcome DaemonApi::registerDevice(const api::RegisterDevice& request, const api::Actor& who)
{
    return onLoop(
        m_daemon.loop, [this, request, who] { return m_daemon.adminRegister(request, who); }, kActionDeadline);
}

api::ActionOutcome DaemonApi::removeDevice(const std::string& mac, const api::Actor& who)
{
    return onLoop(
        m_daemon.loop, [this, mac, who] { return m_daemon.adminRemove(mac, who); }, kActionDeadline);
}

api::ActionOutcome DaemonApi::refreshDevice(const std::string& mac, const api::Actor& who)
{
    return onLoop(
        m_daemon.loop, [this, mac, who] { return m_daemon.adminRefresh(mac, who); }, kActionDeadline);
}

api::ActionOutcome DaemonApi::quarantineDevice(const std::string& mac, const std::string& reason, const api::Actor& who)
{
    return onLoop(
        m_daemon.loop, [this, mac, reason, who] { return m_daemon.adminQuarantine(mac, reason, who); },
        kActionDeadline);
}

api::ActionOutcome DaemonApi::releaseDevice(const std::string& mac, const api::Actor& who)
{
    return onLoop(
        m_daemon.loop, [this, mac, who] { return m_daemon.adminRelease(mac, who); }, kActionDeadline);
}

api::ActionOutcome DaemonApi::acceptSigner(
    const std::string& authority, const std::optional<std::string>& signer, const api::Actor& who)
{
    return onLoop(
        m_daemon.loop, [this, authority, signer, who] { return m_daemon.adminAcceptSigner(authority, signer, who); },
        kActionDeadline);
}

api::ActionOutcome DaemonApi::refuseSigner(
    const std::string& authority, const std::optional<std::string>& signer, const api::Actor& who)
{
    return onLoop(
        m_daemon.loop, [this, authority, signer, who] { return m_daemon.adminRefuseSigner(authority, signer, who); },
        kActionDeadline);
}

api::ActionOutcome DaemonApi::reloadConfig(const api::Actor& who)
{
    return onLoop(
        m_daemon.loop, [this, who] { return m_daemon.adminReload(who); }, kActionDeadline);
}

} // namespace mudguard::controller
