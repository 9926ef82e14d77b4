// The core's device decisions: what an announcement does to a device (join, renewal, URL change,
// refusal, leave), addresses, unbinding; and adopting a plan.

#include "core/Core.h"

#include <algorithm>

#include <fmt/format.h>

#include "Translate.h"

namespace mudguard::controller::core {

using log::Category;
using log::Event;
using log::Level;

Core::Core(Settings settings)
    : m_settings(std::make_shared<const Settings>(std::move(settings)))
{
}

// =================================================================================================
// Announcements

Plan Core::announce(const std::vector<Announcement>& batch, Timestamp now, std::string what)
{
    Draft d(m_state, *m_settings, now, std::move(what));
    for (const auto& a : batch)
        announceOne(d, a);
    return std::move(d).finish();
}

void Core::announceOne(Draft& d, const Announcement& a)
{
    if (a.spoolId)
        d.plan().spoolDone.push_back(*a.spoolId);
    const DeviceRecord* known = d.device(a.mac);
    // An announcement replayed from the spool after a newer one was recorded says nothing new.
    if (known && a.at && known->announcedAt && *a.at < *known->announcedAt) {
        d.log(Category::Discovery, Level::Debug, Event::None, "an older announcement was ignored", { macField(a.mac) });
        return;
    }
    switch (a.kind) {
    case Announcement::Kind::Gone:
        if (!known)
            return;
        if (a.address)
            removeAddress(d, a.mac, *a.address);
        if (const auto* r = d.device(a.mac); r->source == a.source && !r->leaveAt)
            scheduleLeave(d, a.mac);
        return;
    case Announcement::Kind::Replay:
    case Announcement::Kind::Address:
        // A start-up replay carries no MUD URL and the neighbour table only says which address a
        // MAC uses: the saved binding stands, the address follows the device.
        if (known && a.address)
            addAddress(d, a.mac, *a.address);
        return;
    case Announcement::Kind::Refused:
        refuseUrl(d, a.mac, a.source, a.refusal.value_or(Failure { FailureStage::Url, "mud-url", "refused" }));
        break;
    case Announcement::Kind::NoUrl: {
        if (!known)
            return;
        // The lease's address is the device's, whoever bound it (an admin registers devices that
        // announce nothing): its to-device rules follow it. A lease also says the device is here.
        if (a.address)
            addAddress(d, a.mac, *a.address);
        DeviceRecord& r = d.edit(a.mac);
        r.leaveAt.reset();
        if (!r.adminBound && a.renewal && (r.source == DeviceSource::Dhcp || r.source == DeviceSource::Dhcpv6)
            && !r.mudUrl.empty()) {
            bool unbind = d.settings.unbindWhenUrlWithdrawn;
            d.log(Category::Discovery, Level::Warning, Event::UrlMissing, "a renewal carried no MUD URL any more",
                { macField(a.mac), urlField(r.mudUrl) });
            d.audit(Event::UrlMissing, a.mac.toString(), r.mudUrl,
                unbind ? "the device stopped announcing its MUD URL; unbinding"
                       : "the device stopped announcing its MUD URL; its policy stays");
            if (unbind)
                scheduleLeave(d, a.mac);
        }
        break;
    }
    case Announcement::Kind::Url:
        bind(d, a);
        if (a.address && d.device(a.mac))
            addAddress(d, a.mac, *a.address);
        break;
    }
    if (a.at && d.device(a.mac)) {
        DeviceRecord& r = d.edit(a.mac);
        if (!r.announcedAt || *r.announcedAt < *a.at)
            r.announcedAt = a.at;
    }
}

DeviceRecord& Core::ensureDevice(Draft& d, const MacAddress& mac, DeviceSource source)
{
    if (d.device(mac))
        return d.edit(mac);
    DeviceRecord r;
    r.mac = mac;
    r.source = source;
    // Fail closed from the first moment: infrastructure only until a policy is in force.
    d.plan().kernel.setDevice(toEnforcer(mac), enforcer::Assignment::pending());
    d.plan().joined.push_back(mac);
    d.log(Category::Discovery, Level::Info, Event::DeviceJoined, "device joined",
        { macField(mac), textField("source", toString(source)) });
    return d.create(std::move(r));
}

void Core::bind(Draft& d, const Announcement& a)
{
    const MacAddress& mac = a.mac;
    const std::string& url = *a.url;
    const std::string macText = mac.toString();
    const bool known = d.device(mac) != nullptr;
    DeviceRecord& r = ensureDevice(d, mac, a.source);
    if (r.adminBound && known) {
        d.log(Category::Discovery, Level::Debug, Event::None,
            "an announced MUD URL was ignored: the device is registered by an admin", { macField(mac), urlField(url) });
        return;
    }
    auto follow = [&](bool first) {
        r.mudUrl = url;
        d.plan().store.add(StoreBatch::PutBinding { macText, url, r.source });
        d.plan().kernel.setClasses(toEnforcer(mac), urlAuthority(url), url);
        d.log(Category::Discovery, Level::Info, Event::BindingCreated, "MAC bound to a MUD URL",
            { macField(mac), urlField(url), textField("source", toString(a.source)) });
        if (first)
            d.audit(Event::DeviceJoined, macText, url, fmt::format("announced by {}", toString(a.source)));
        d.audit(Event::BindingCreated, macText, url, fmt::format("bound by {}", toString(a.source)),
            detailJson({ { "source", toString(a.source) }, { "assurance", toString(a.assurance) } }));
        if (const auto* p = d.policy(url); p && p->installed) {
            assign(d, mac, url);
        } else {
            setState(r, DeviceState::Fetching, {});
            d.fetch(url, false, mac);
        }
    };
    if (!known) {
        follow(true);
        return;
    }
    // A known device: a renewal, a return within its grace time, or a new URL.
    r.leaveAt.reset();
    const bool windowOver = d.now - r.urlChangeWindow >= d.settings.urlChangeWindow;
    if (windowOver) {
        r.urlChangeWindow = d.now;
        r.urlChanges = 0;
    }
    const bool heldForChanges = r.state == DeviceState::Failed && r.stage == FailureStage::Limit && !windowOver;
    if (r.mudUrl == url) {
        d.plan().store.add(StoreBatch::PutBinding { macText, url, r.source });
        if (r.state == DeviceState::Quarantined || !r.recorded || heldForChanges)
            return;
        if (r.policyKey.empty() || r.state == DeviceState::Failed) {
            if (const auto* p = d.policy(url); p && p->installed) {
                assign(d, mac, url);
            } else {
                if (r.state != DeviceState::Fetching)
                    setState(r, DeviceState::Fetching, {});
                d.fetch(url, false, mac);
            }
        }
        return;
    }
    if (r.pendingUrl == url)
        return;
    if (r.state == DeviceState::Quarantined) {
        // An admin set it aside: what it announces waits until it is released.
        d.log(Category::Discovery, Level::Debug, Event::None,
            "an announced MUD URL was ignored: the device is in quarantine", { macField(mac), urlField(url) });
        return;
    }
    // A new URL. A device that changes it faster than the limit is held.
    if (++r.urlChanges > d.settings.maxUrlChanges || heldForChanges) {
        Failure f { FailureStage::Limit, "url-changes",
            fmt::format("the device announced {} different MUD URLs within {} s (at most {}); it is held to "
                        "infrastructure until the window ends and it announces again",
                r.urlChanges, d.settings.urlChangeWindow.count(), d.settings.maxUrlChanges) };
        if (r.state != DeviceState::Failed || r.stage != FailureStage::Limit) {
            d.log(Category::Discovery, Level::Warning, Event::UrlChangeRefused, "MUD URL changes too frequent",
                { macField(mac), urlField(url), textField("reason", f.message) });
            d.audit(Event::UrlChangeRefused, macText, url, f.message, detailJson({ { "code", f.code } }));
            d.plan().refusals.push_back(f.stage);
        }
        std::string old = r.policyKey;
        if (!old.empty()) {
            d.setUse(old, d.use(old) - 1);
            r.policyKey.clear();
        }
        if (r.pendingUrl) {
            r.pendingUrl.reset();
            d.plan().store.add(StoreBatch::RemovePendingUrlChange { macText });
        }
        d.plan().kernel.setDevice(toEnforcer(mac), enforcer::Assignment::pending());
        fail(d, r, f);
        releasePolicyIfUnused(d, old);
        return;
    }
    if (r.policyKey.empty()) {
        // Nothing in force yet: follow the new URL at once.
        follow(false);
        return;
    }
    // The old policy stays until the new file is fetched, verified and passes the signer rule.
    r.pendingUrl = url;
    r.pendingWaitsForSigner = false;
    d.plan().store.add(StoreBatch::PutPendingUrlChange {
        PendingUrlChangeRow { macText, r.mudUrl, url, "announced by the device", d.now } });
    d.log(Category::Discovery, Level::Info, Event::UrlChangePending, "device announced a new MUD URL",
        { macField(mac), urlField(url), textField("old_url", r.mudUrl) });
    d.audit(Event::UrlChangePending, macText, url,
        "the device announced a new MUD URL; its policy stays until the new file is verified",
        detailJson({ { "old_url", r.mudUrl } }));
    d.fetch(url, false, mac);
}

void Core::refuseUrl(Draft& d, const MacAddress& mac, DeviceSource source, const Failure& why)
{
    d.log(Category::Discovery, Level::Warning, Event::MudInvalid, "a MUD URL was refused",
        { macField(mac), textField("code", why.code), textField("reason", why.message) });
    d.audit(Event::MudInvalid, mac.toString(), {}, why.message,
        detailJson({ { "code", why.code }, { "stage", toString(why.stage) } }));
    d.plan().refusals.push_back(why.stage);
    const bool known = d.device(mac) != nullptr;
    DeviceRecord& r = ensureDevice(d, mac, source);
    if ((!known || r.policyKey.empty()) && r.state != DeviceState::Quarantined)
        fail(d, r, why);
}

void Core::setState(DeviceRecord& r, DeviceState s, std::string reason, std::optional<FailureStage> stage)
{
    r.state = s;
    r.reason = std::move(reason);
    r.stage = s == DeviceState::Failed ? stage : std::nullopt;
}

void Core::fail(Draft&, DeviceRecord& r, const Failure& f)
{
    // The code goes with the sentence: operators search for it (docs/diagnostics.md, docs/trust.md).
    setState(r, DeviceState::Failed, f.code.empty() ? f.message : fmt::format("{} [{}]", f.message, f.code), f.stage);
}

// =================================================================================================
// Addresses

void Core::addAddress(Draft& d, const MacAddress& mac, const IpAddress& ip)
{
    const std::string macText = mac.toString();
    const DeviceRecord* current = d.device(mac);
    // An address row refers to its device's row: a device the store does not hold yet (held while
    // it refused writes) has its addresses recorded with it by the heal.
    if (current->recorded)
        d.plan().store.add(StoreBatch::TouchAddress { macText, ip.toString() });
    if (std::binary_search(current->addresses.begin(), current->addresses.end(), ip))
        return;
    if (auto other = d.owner(ip); other && *other != mac && d.device(*other)) {
        // The address moved: the other device no longer has it.
        DeviceRecord& o = d.edit(*other);
        o.addresses.erase(std::remove(o.addresses.begin(), o.addresses.end(), ip), o.addresses.end());
        d.plan().store.add(StoreBatch::RemoveAddress { other->toString(), ip.toString() });
    }
    DeviceRecord& r = d.edit(mac);
    r.addresses.insert(std::upper_bound(r.addresses.begin(), r.addresses.end(), ip), ip);
    d.setOwner(ip, mac);
    d.plan().kernel.addAddress(toEnforcer(mac), toEnforcer(ip));
}

void Core::removeAddress(Draft& d, const MacAddress& mac, const IpAddress& ip)
{
    const DeviceRecord* current = d.device(mac);
    if (!std::binary_search(current->addresses.begin(), current->addresses.end(), ip))
        return;
    DeviceRecord& r = d.edit(mac);
    r.addresses.erase(std::lower_bound(r.addresses.begin(), r.addresses.end(), ip));
    if (d.owner(ip) == mac)
        d.setOwner(ip, std::nullopt);
    d.plan().store.add(StoreBatch::RemoveAddress { mac.toString(), ip.toString() });
    d.plan().kernel.removeAddress(toEnforcer(mac), toEnforcer(ip));
}

// =================================================================================================
// Leaving

void Core::scheduleLeave(Draft& d, const MacAddress& mac)
{
    DeviceRecord& r = d.edit(mac);
    r.leaveAt = d.now + std::chrono::duration_cast<std::chrono::milliseconds>(d.settings.leaveGrace);
    d.log(Category::Discovery, Level::Info, Event::DeviceLeft, "device left; its binding ends after the grace time",
        { macField(mac), urlField(r.mudUrl), numberField("grace_s", d.settings.leaveGrace.count()) });
    d.audit(Event::DeviceLeft, mac.toString(), r.mudUrl,
        fmt::format("unbound after {} s unless it returns", d.settings.leaveGrace.count()));
}

void Core::unbind(Draft& d, const MacAddress& mac, const std::string& why)
{
    const DeviceRecord* r = d.device(mac);
    if (!r)
        return;
    const std::string macText = mac.toString();
    const std::string url = r->mudUrl;
    const std::string key = r->policyKey;
    d.plan().kernel.removeDevice(toEnforcer(mac));
    for (const auto& ip : r->addresses)
        if (d.owner(ip) == mac)
            d.setOwner(ip, std::nullopt);
    d.erase(mac);
    if (!key.empty())
        d.setUse(key, d.use(key) - 1);
    releasePolicyIfUnused(d, key);
    d.plan().store.add(StoreBatch::RemoveDevice { macText });
    d.plan().removed.push_back(mac);
    if (!url.empty()) {
        d.log(Category::Controller, Level::Info, Event::BindingRemoved, "binding removed",
            { macField(mac), urlField(url), textField("reason", why) });
        d.audit(Event::BindingRemoved, macText, url, why);
    }
    d.log(Category::Controller, Level::Info, Event::DeviceRemoved, "device removed; its rules are gone",
        { macField(mac), textField("reason", why) });
    d.audit(Event::DeviceRemoved, macText, url, why);
}

// =================================================================================================
// Adopting a plan, and views

void Core::adopt(Plan& plan)
{
    auto& c = plan.changes;
    for (auto& [mac, rec] : c.devices) {
        if (rec)
            m_state.devices.insert_or_assign(mac, std::move(*rec));
        else
            m_state.devices.erase(mac);
    }
    for (auto& [key, p] : c.policies) {
        if (p)
            m_state.policies.insert_or_assign(key, std::move(*p));
        else
            m_state.policies.erase(key);
    }
    for (auto& [key, n] : c.policyUse) {
        if (n)
            m_state.policyUse[key] = n;
        else
            m_state.policyUse.erase(key);
    }
    for (auto& [ip, mac] : c.owners) {
        if (mac)
            m_state.owners.insert_or_assign(ip, *mac);
        else
            m_state.owners.erase(ip);
    }
    for (auto& [authority, list] : c.signers) {
        if (list.empty())
            m_state.signers.erase(authority);
        else
            m_state.signers[authority] = std::move(list);
    }
    if (c.pendingSigners)
        m_state.pendingSigners = std::move(*c.pendingSigners);
    if (c.classNameAddresses)
        m_state.classNameAddresses = std::move(*c.classNameAddresses);
    if (c.retryUrls)
        m_state.retryUrls = std::move(*c.retryUrls);
    if (c.storeFailure)
        m_state.storeFailure = std::move(*c.storeFailure);
    if (c.settings)
        m_settings = std::move(c.settings);
    c = Changes {};
}

std::set<std::string> Core::policyNames() const
{
    std::set<std::string> out;
    for (const auto& [key, p] : m_state.policies)
        if (p.installed)
            out.insert(p.dnsNames.begin(), p.dnsNames.end());
    return out;
}

std::set<std::string> Core::classNames() const
{
    std::set<std::string> out;
    for (const auto& c : m_settings->controllers)
        out.insert(c.where.names.begin(), c.where.names.end());
    for (const auto& c : m_settings->myControllers)
        out.insert(c.where.names.begin(), c.where.names.end());
    return out;
}

std::set<std::string> Core::wantedNames() const
{
    auto out = policyNames();
    auto classes = classNames();
    out.insert(classes.begin(), classes.end());
    return out;
}

bool Core::needsHeal() const
{
    if (m_state.storeFailure || !m_state.retryUrls.empty())
        return true;
    for (const auto& [mac, d] : m_state.devices)
        if (!d.recorded)
            return true;
    return false;
}

std::vector<std::string> Core::degraded() const
{
    std::vector<std::string> out;
    if (m_state.storeFailure)
        out.push_back("the state database refuses writes: " + *m_state.storeFailure);
    std::size_t held = 0;
    for (const auto& [mac, d] : m_state.devices)
        if (!d.recorded)
            ++held;
    if (held)
        out.push_back(fmt::format("{} devices are held until the state database records them", held));
    return out;
}

std::map<DeviceState, std::size_t> Core::countByState() const
{
    std::map<DeviceState, std::size_t> out;
    for (const auto& [mac, d] : m_state.devices)
        ++out[d.state];
    return out;
}

} // namespace mudguard::controller::core
