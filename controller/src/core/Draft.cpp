#include "core/Draft.h"

#include <algorithm>

#include <fmt/format.h>
#include <netinet/in.h>

#include "api/ApiJson.h"

namespace mudguard::controller::core {

using log::Category;
using log::Event;
using log::Level;

enforcer::MacAddress toEnforcer(const MacAddress& mac) { return enforcer::MacAddress { mac.bytes }; }

enforcer::IpAddress toEnforcer(const IpAddress& ip)
{
    enforcer::IpAddress out;
    out.family = ip.isV4() ? enforcer::Family::Ipv4 : enforcer::Family::Ipv6;
    out.bytes = ip.bytes;
    return out;
}

IpAddress fromEnforcer(const enforcer::IpAddress& ip)
{
    IpAddress out;
    out.family = ip.family == enforcer::Family::Ipv6 ? AF_INET6 : AF_INET;
    out.bytes = ip.bytes;
    return out;
}

LogRecord::Field macField(const MacAddress& mac) { return { "mac", mac.toString(), true }; }
LogRecord::Field urlField(const std::string& url) { return { "mud_url", url, false }; }
LogRecord::Field textField(std::string key, std::string value) { return { std::move(key), std::move(value), false }; }
LogRecord::Field numberField(std::string key, std::int64_t value)
{
    return { std::move(key), std::to_string(value), true };
}

std::string detailJson(std::initializer_list<std::pair<std::string_view, std::string_view>> members)
{
    api::JsonWriter w;
    w.beginObject();
    for (const auto& [k, v] : members)
        w.key(k).string(v);
    w.endObject();
    return w.take();
}

Draft::Draft(const State& state, const Settings& s, Timestamp t, std::string what)
    : base(state)
    , settings(s)
    , now(t)
{
    m_plan.what = std::move(what);
}

// ---- devices ----------------------------------------------------------------------------------

const DeviceRecord* Draft::device(const MacAddress& mac) const
{
    if (auto it = m_plan.changes.devices.find(mac); it != m_plan.changes.devices.end())
        return it->second ? &*it->second : nullptr;
    auto b = base.devices.find(mac);
    return b == base.devices.end() ? nullptr : &b->second;
}

DeviceRecord& Draft::edit(const MacAddress& mac)
{
    auto it = m_plan.changes.devices.find(mac);
    if (it != m_plan.changes.devices.end()) {
        if (!it->second)
            throw std::logic_error("Draft::edit: the device was removed in this plan");
        return *it->second;
    }
    auto b = base.devices.find(mac);
    if (b == base.devices.end())
        throw std::logic_error("Draft::edit: unknown device " + mac.toString());
    return *m_plan.changes.devices.emplace(mac, b->second).first->second;
}

DeviceRecord& Draft::create(DeviceRecord d)
{
    auto mac = d.mac;
    return *m_plan.changes.devices.insert_or_assign(mac, std::move(d)).first->second;
}

void Draft::erase(const MacAddress& mac) { m_plan.changes.devices[mac] = std::nullopt; }

void Draft::forEachDevice(const std::function<void(const DeviceRecord&)>& f) const
{
    const auto& changed = m_plan.changes.devices;
    for (const auto& [mac, d] : base.devices)
        if (!changed.count(mac))
            f(d);
    for (const auto& [mac, d] : changed)
        if (d)
            f(*d);
}

std::vector<MacAddress> Draft::devicesWhere(const std::function<bool(const DeviceRecord&)>& pick) const
{
    std::vector<MacAddress> out;
    forEachDevice([&](const DeviceRecord& d) {
        if (pick(d))
            out.push_back(d.mac);
    });
    std::sort(out.begin(), out.end());
    return out;
}

// ---- policies ---------------------------------------------------------------------------------

const PolicyRecord* Draft::policy(const std::string& key) const
{
    if (key.empty())
        return nullptr;
    if (auto it = m_plan.changes.policies.find(key); it != m_plan.changes.policies.end())
        return it->second ? &*it->second : nullptr;
    auto b = base.policies.find(key);
    return b == base.policies.end() ? nullptr : &b->second;
}

PolicyRecord& Draft::editPolicy(const std::string& key)
{
    auto it = m_plan.changes.policies.find(key);
    if (it != m_plan.changes.policies.end()) {
        if (!it->second)
            throw std::logic_error("Draft::editPolicy: the policy was removed in this plan");
        return *it->second;
    }
    auto b = base.policies.find(key);
    if (b == base.policies.end())
        throw std::logic_error("Draft::editPolicy: unknown policy " + key);
    return *m_plan.changes.policies.emplace(key, b->second).first->second;
}

PolicyRecord& Draft::createPolicy(PolicyRecord p)
{
    auto key = p.key;
    return *m_plan.changes.policies.insert_or_assign(key, std::move(p)).first->second;
}

void Draft::erasePolicy(const std::string& key) { m_plan.changes.policies[key] = std::nullopt; }

void Draft::forEachPolicy(const std::function<void(const PolicyRecord&)>& f) const
{
    const auto& changed = m_plan.changes.policies;
    for (const auto& [key, p] : base.policies)
        if (!changed.count(key))
            f(p);
    for (const auto& [key, p] : changed)
        if (p)
            f(*p);
}

std::size_t Draft::use(const std::string& key) const
{
    if (auto it = m_plan.changes.policyUse.find(key); it != m_plan.changes.policyUse.end())
        return it->second;
    auto b = base.policyUse.find(key);
    return b == base.policyUse.end() ? 0 : b->second;
}

void Draft::setUse(const std::string& key, std::size_t n) { m_plan.changes.policyUse[key] = n; }

// ---- addresses, signers, classes ----------------------------------------------------------------

std::optional<MacAddress> Draft::owner(const IpAddress& ip) const
{
    if (auto it = m_plan.changes.owners.find(ip); it != m_plan.changes.owners.end())
        return it->second;
    auto b = base.owners.find(ip);
    if (b == base.owners.end())
        return std::nullopt;
    return b->second;
}

void Draft::setOwner(const IpAddress& ip, std::optional<MacAddress> mac) { m_plan.changes.owners[ip] = mac; }

const std::vector<mudparser::SignerIdentity>& Draft::signers(const std::string& authority) const
{
    static const std::vector<mudparser::SignerIdentity> none;
    if (auto it = m_plan.changes.signers.find(authority); it != m_plan.changes.signers.end())
        return it->second;
    auto b = base.signers.find(authority);
    return b == base.signers.end() ? none : b->second;
}

void Draft::setSigners(const std::string& authority, std::vector<mudparser::SignerIdentity> list)
{
    m_plan.changes.signers[authority] = std::move(list);
}

const std::vector<PendingSigner>& Draft::pendingSigners() const
{
    return m_plan.changes.pendingSigners ? *m_plan.changes.pendingSigners : base.pendingSigners;
}

std::vector<PendingSigner>& Draft::editPendingSigners()
{
    if (!m_plan.changes.pendingSigners)
        m_plan.changes.pendingSigners = base.pendingSigners;
    return *m_plan.changes.pendingSigners;
}

const std::map<std::string, std::vector<std::string>>& Draft::classNameAddresses() const
{
    return m_plan.changes.classNameAddresses ? *m_plan.changes.classNameAddresses : base.classNameAddresses;
}

std::map<std::string, std::vector<std::string>>& Draft::editClassNameAddresses()
{
    if (!m_plan.changes.classNameAddresses)
        m_plan.changes.classNameAddresses = base.classNameAddresses;
    return *m_plan.changes.classNameAddresses;
}

const std::set<std::string>& Draft::retryUrls() const
{
    return m_plan.changes.retryUrls ? *m_plan.changes.retryUrls : base.retryUrls;
}

std::set<std::string>& Draft::editRetryUrls()
{
    if (!m_plan.changes.retryUrls)
        m_plan.changes.retryUrls = base.retryUrls;
    return *m_plan.changes.retryUrls;
}

const std::optional<std::string>& Draft::storeFailure() const
{
    return m_plan.changes.storeFailure ? *m_plan.changes.storeFailure : base.storeFailure;
}

void Draft::setStoreFailure(std::optional<std::string> why)
{
    if (why != storeFailure())
        m_plan.healthChanged = true;
    m_plan.changes.storeFailure = std::move(why);
}

// ---- output -----------------------------------------------------------------------------------

void Draft::log(Category c, Level l, Event e, std::string message, std::initializer_list<LogRecord::Field> fields)
{
    m_plan.logs.push_back(LogRecord { c, l, e, std::move(message), fields });
}

void Draft::audit(Event e, const std::string& mac, const std::string& url, std::string reason, std::string detail)
{
    AuditEntry a;
    a.at = now;
    a.event = log::toString(e);
    a.mac = mac;
    a.mudUrl = url;
    a.reason = std::move(reason);
    a.detail = std::move(detail);
    m_plan.store.add(StoreBatch::AppendAudit { std::move(a) });
}

void Draft::fetch(const std::string& url, bool force, std::optional<MacAddress> device)
{
    for (auto& f : m_plan.fetches)
        if (f.url == url) {
            f.force = f.force || force;
            return;
        }
    m_plan.fetches.push_back(FetchRequest { url, force, device });
}

DeviceRow Draft::rowOf(const DeviceRecord& d) const
{
    DeviceRow row;
    row.mac = d.mac.toString();
    row.state = d.state;
    row.reason = d.reason;
    row.failureStage = d.state == DeviceState::Failed ? d.stage : std::nullopt;
    row.source = d.source;
    row.mudUrl = d.mudUrl;
    if (const auto* p = policy(d.policyKey))
        row.policyId = p->id;
    if (d.localDocument)
        row.localOverride = *d.localDocument;
    row.announcedAt = d.announcedAt;
    row.leaveAt = d.leaveAt;
    return row;
}

Plan Draft::finish() &&
{
    // Rows compared as the base state gives them: the base's policy ids, not the draft's.
    auto baseRow = [this](const DeviceRecord& d) {
        DeviceRow row;
        row.mac = d.mac.toString();
        row.state = d.state;
        row.reason = d.reason;
        row.failureStage = d.state == DeviceState::Failed ? d.stage : std::nullopt;
        row.source = d.source;
        row.mudUrl = d.mudUrl;
        if (auto it = base.policies.find(d.policyKey); it != base.policies.end())
            row.policyId = it->second.id;
        if (d.localDocument)
            row.localOverride = *d.localDocument;
        row.announcedAt = d.announcedAt;
        row.leaveAt = d.leaveAt;
        return row;
    };
    // Device rows go first: addresses and pending URL changes refer to them.
    std::vector<StoreBatch::Op> rows;
    for (const auto& [mac, d] : m_plan.changes.devices) {
        if (!d)
            continue;
        auto b = base.devices.find(mac);
        const DeviceRecord* before = b == base.devices.end() ? nullptr : &b->second;
        if (d->state == DeviceState::Failed && (!before || before->state != DeviceState::Failed))
            m_plan.failed.push_back(mac);
        if (!before || before->state != d->state || before->reason != d->reason) {
            Level level = d->state == DeviceState::Failed ? Level::Warning : Level::Info;
            std::string msg = fmt::format("device is {}", toString(d->state));
            if (d->state == DeviceState::Failed && d->stage)
                m_plan.logs.push_back(LogRecord { Category::Controller, level, Event::DeviceStateChanged, msg,
                    { macField(mac), urlField(d->mudUrl), textField("stage", toString(*d->stage)),
                        textField("reason", d->reason) } });
            else
                m_plan.logs.push_back(LogRecord { Category::Controller, level, Event::DeviceStateChanged, msg,
                    { macField(mac), urlField(d->mudUrl), textField("reason", d->reason) } });
        }
        if (!d->recorded)
            continue; // held while the store refuses writes; recorded when it accepts them again
        DeviceRow next = rowOf(*d);
        if (!before || !before->recorded || baseRow(*before) != next)
            rows.emplace_back(StoreBatch::PutDevice { std::move(next) });
    }
    if (!rows.empty())
        m_plan.store.ops.insert(
            m_plan.store.ops.begin(), std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()));
    return std::move(m_plan);
}

} // namespace mudguard::controller::core
