// The core's admin actions (register, remove, refresh, quarantine, release, signer decisions) and
// configuration reloads. Each validates first and throws an api:: error before deciding anything.

#include <algorithm>

#include <fmt/format.h>

#include "mudguard/mudparser/Url.h"

#include "Translate.h"
#include "core/Core.h"

namespace mudguard::controller::core {

using log::Category;
using log::Event;
using log::Level;

namespace {

std::string actorText(const api::Actor& who) { return fmt::format("admin token \"{}\"", who.tokenName); }

const DeviceRecord& existing(const Draft& d, const MacAddress& mac)
{
    const DeviceRecord* r = d.device(mac);
    if (!r)
        throw api::NotFound(fmt::format("no device {} is known", mac.toString()));
    return *r;
}

} // namespace

Core::Action Core::registerDevice(const MacAddress& mac, const std::optional<std::string>& url,
    const std::optional<LocalDocument>& local, const api::Actor& who, Timestamp now)
{
    if (mac.isMulticast())
        throw api::InvalidInput(
            fmt::format("{} is a {} address, not a device's", mac.toString(),
                mac.bytes == std::array<std::uint8_t, 6> { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } ? "broadcast"
                                                                                                : "multicast"),
            "mac");
    if (mac.isZero())
        throw api::InvalidInput("00:00:00:00:00:00 is not a device's address", "mac");
    if (local && !local->profile) {
        std::string why = local->failure ? local->failure->message : std::string("invalid");
        throw api::InvalidMud("the MUD file is not valid: " + why, local->diagnostics);
    }
    if (!local && !url)
        throw api::InvalidInput("give either a MUD URL or a MUD file", "mud-url");
    if (!local) {
        auto parsed = mudparser::Url::parse(*url);
        if (!parsed)
            throw api::InvalidInput(fmt::format("the MUD URL is refused: {}", parsed.message), "mud-url");
    }

    Draft d(m_state, *m_settings, now, "admin registration");
    const std::string macText = mac.toString();
    const bool known = d.device(mac) != nullptr;
    DeviceRecord& r = ensureDevice(d, mac, DeviceSource::Admin);
    r.adminBound = true;
    r.source = DeviceSource::Admin;
    // The admin's binding replaces a URL change the device announced, in the store too (a restart
    // would bring it back).
    if (r.pendingUrl)
        d.plan().store.add(StoreBatch::RemovePendingUrlChange { macText });
    r.pendingUrl.reset();
    r.pendingWaitsForSigner = false;
    r.leaveAt.reset();
    if (!r.recorded) {
        // Held unrecorded while the store refused writes: it is recorded whole now, as the heal
        // would (its addresses, and the spool entries that announced it).
        for (const auto& ip : r.addresses)
            d.plan().store.add(StoreBatch::TouchAddress { macText, ip.toString() });
        for (auto& id : r.unrecordedSpool)
            d.plan().spoolDone.push_back(std::move(id));
        r.unrecordedSpool.clear();
    }
    r.recorded = true;
    const std::string oldKey = r.policyKey;
    Action out;
    if (local) {
        const PolicyRecord* p = localPolicy(d, *local);
        const std::string key = p->key;
        r.localDocument = local->document;
        r.mudUrl = p->url;
        d.plan().store.add(StoreBatch::PutBinding { macText, r.mudUrl, DeviceSource::Admin });
        d.plan().kernel.setClasses(toEnforcer(mac), urlAuthority(r.mudUrl), r.mudUrl);
        std::optional<Failure> f;
        if (!p->installed && !installPolicy(d, key, f))
            throw api::InvalidMud(f->message, {});
        assign(d, mac, key);
        if (oldKey != key)
            releasePolicyIfUnused(d, oldKey);
        out.outcome.kind = api::ActionOutcome::Kind::Done;
        out.outcome.message
            = fmt::format("device {} enforced with the local MUD file (policy {})", macText, d.policy(key)->id);
    } else {
        r.localDocument.reset();
        r.mudUrl = *url;
        d.plan().store.add(StoreBatch::PutBinding { macText, r.mudUrl, DeviceSource::Admin });
        d.plan().kernel.setClasses(toEnforcer(mac), urlAuthority(r.mudUrl), r.mudUrl);
        if (const auto* p = d.policy(*url); p && p->installed) {
            assign(d, mac, *url);
            if (oldKey != *url)
                releasePolicyIfUnused(d, oldKey);
            out.outcome.kind = api::ActionOutcome::Kind::Done;
            out.outcome.message = fmt::format("device {} enforced with policy {}", macText, p->id);
        } else {
            if (oldKey.empty())
                setState(d.edit(mac), DeviceState::Fetching, {});
            d.fetch(*url, false, mac);
            out.outcome.kind = api::ActionOutcome::Kind::Accepted;
            out.outcome.message = fmt::format("device {} registered; its MUD file is being fetched", macText);
        }
    }
    d.log(Category::Discovery, Level::Info, Event::BindingCreated, "MAC bound to a MUD URL by an admin",
        { macField(mac), urlField(d.device(mac)->mudUrl), textField("source", "admin") });
    d.audit(Event::BindingCreated, macText, d.device(mac)->mudUrl, "bound by an admin",
        detailJson({ { "source", "admin" }, { "assurance", toString(Assurance::Admin) } }));
    d.audit(Event::AdminAction, macText, d.device(mac)->mudUrl,
        fmt::format("{} registered the device {}", actorText(who), local ? "with a local MUD file" : "by MUD URL"),
        detailJson({ { "action", "register" }, { "token", who.tokenName } }));
    out.outcome.created = !known;
    out.plan = std::move(d).finish();
    return out;
}

Core::Action Core::removeDevice(const MacAddress& mac, const api::Actor& who, Timestamp now)
{
    Draft d(m_state, *m_settings, now, "admin removal");
    const std::string url = existing(d, mac).mudUrl;
    d.audit(Event::AdminAction, mac.toString(), url, fmt::format("{} removed the device", actorText(who)),
        detailJson({ { "action", "remove" }, { "token", who.tokenName } }));
    unbind(d, mac, fmt::format("removed by {}", actorText(who)));
    Action out;
    out.outcome.message = fmt::format("device {} removed; its rules are gone", mac.toString());
    out.plan = std::move(d).finish();
    return out;
}

Core::Action Core::refreshDevice(const MacAddress& mac, const api::Actor& who, Timestamp now)
{
    Draft d(m_state, *m_settings, now, "admin refresh");
    const DeviceRecord& r = existing(d, mac);
    if (r.localDocument || r.mudUrl.empty())
        throw api::Conflict("the device has no MUD URL to fetch (it uses a local MUD file or announced none)");
    const std::string url = r.pendingUrl.value_or(r.mudUrl);
    d.fetch(url, true, mac);
    d.audit(Event::AdminAction, mac.toString(), url,
        fmt::format("{} asked for the MUD file to be fetched again", actorText(who)),
        detailJson({ { "action", "refresh" }, { "token", who.tokenName } }));
    Action out;
    out.outcome.kind = api::ActionOutcome::Kind::Accepted;
    out.outcome.message = "the MUD file is being fetched again; watch the device's state or the events";
    out.plan = std::move(d).finish();
    return out;
}

Core::Action Core::quarantine(const MacAddress& mac, const std::string& reason, const api::Actor& who, Timestamp now)
{
    Draft d(m_state, *m_settings, now, "quarantine");
    Action out;
    if (existing(d, mac).state == DeviceState::Quarantined) {
        out.outcome.kind = api::ActionOutcome::Kind::Unchanged;
        out.outcome.message = "the device is already in quarantine";
        out.plan = std::move(d).finish();
        return out;
    }
    DeviceRecord& r = d.edit(mac);
    const std::string why = reason.empty() ? "quarantined by an admin" : reason;
    d.plan().kernel.setDevice(toEnforcer(mac), enforcer::Assignment::quarantine());
    if (r.pendingUrl) {
        // A URL change it announced is dropped with the quarantine: the admin decides now.
        r.pendingUrl.reset();
        r.pendingWaitsForSigner = false;
        d.plan().store.add(StoreBatch::RemovePendingUrlChange { mac.toString() });
    }
    setState(r, DeviceState::Quarantined, why);
    d.log(Category::Controller, Level::Warning, Event::DeviceQuarantined, "device put in quarantine",
        { macField(mac), urlField(r.mudUrl), textField("reason", why), textField("token", who.tokenName) });
    d.audit(Event::DeviceQuarantined, mac.toString(), r.mudUrl, why, detailJson({ { "token", who.tokenName } }));
    d.audit(Event::AdminAction, mac.toString(), r.mudUrl,
        fmt::format("{} put the device in quarantine{}", actorText(who), reason.empty() ? "" : ": " + reason),
        detailJson({ { "action", "quarantine" }, { "token", who.tokenName } }));
    out.outcome.message = "the device is in quarantine: infrastructure traffic only";
    out.plan = std::move(d).finish();
    return out;
}

Core::Action Core::release(const MacAddress& mac, const api::Actor& who, Timestamp now)
{
    Draft d(m_state, *m_settings, now, "release");
    Action out;
    if (existing(d, mac).state != DeviceState::Quarantined) {
        out.outcome.kind = api::ActionOutcome::Kind::Unchanged;
        out.outcome.message = "the device is not in quarantine";
        out.plan = std::move(d).finish();
        return out;
    }
    DeviceRecord& r = d.edit(mac);
    const PolicyRecord* p = d.policy(r.policyKey);
    if (p && p->installed) {
        const std::string id = p->id;
        assign(d, mac, r.policyKey);
        out.outcome.message = fmt::format("the device is out of quarantine; policy {} is in force", id);
    } else {
        d.plan().kernel.setDevice(toEnforcer(mac), enforcer::Assignment::pending());
        setState(r, DeviceState::Pending, {});
        if (!r.mudUrl.empty() && !r.localDocument) {
            setState(r, DeviceState::Fetching, {});
            d.fetch(r.mudUrl, false, mac);
        }
        out.outcome.kind = api::ActionOutcome::Kind::Accepted;
        out.outcome.message = "the device is out of quarantine and held to infrastructure until its policy is in force";
    }
    const std::string url = d.device(mac)->mudUrl;
    d.log(Category::Controller, Level::Info, Event::DeviceReleased, "device released from quarantine",
        { macField(mac), urlField(url), textField("token", who.tokenName) });
    d.audit(Event::DeviceReleased, mac.toString(), url, "released from quarantine",
        detailJson({ { "token", who.tokenName } }));
    d.audit(Event::AdminAction, mac.toString(), url,
        fmt::format("{} released the device from quarantine", actorText(who)),
        detailJson({ { "action", "release" }, { "token", who.tokenName } }));
    out.plan = std::move(d).finish();
    return out;
}

namespace {

/// The pending signers of `authority` that `which` names (fingerprint or subject; empty: all).
std::vector<PendingSigner> matching(
    const std::vector<PendingSigner>& pending, const std::string& authority, const std::optional<std::string>& which)
{
    std::vector<PendingSigner> out;
    for (const auto& p : pending)
        if (p.authority == authority
            && (!which || which->empty() || *which == p.identity.fingerprint || *which == p.identity.subject))
            out.push_back(p);
    if (out.empty())
        throw api::NotFound(fmt::format("no signer of {} waits for acceptance{}", authority,
            which && !which->empty() ? fmt::format(" matching \"{}\"", *which) : std::string()));
    if (out.size() > 1 && (!which || which->empty()))
        throw api::Conflict("several signers are pending for this authority; name one");
    return out;
}

} // namespace

Core::Action Core::acceptSigner(
    const std::string& authority, const std::optional<std::string>& which, const api::Actor& who, Timestamp now)
{
    Draft d(m_state, *m_settings, now, "signer accepted");
    const PendingSigner chosen = matching(d.pendingSigners(), authority, which).front();
    for (const auto& old : d.signers(authority))
        d.plan().store.add(StoreBatch::RemoveSigner { authority, encodeSigner(old) });
    d.plan().store.add(StoreBatch::AcceptSigner { authority, encodeSigner(chosen.identity), who.tokenName });
    auto& pending = d.editPendingSigners();
    for (const auto& p : pending)
        if (p.authority == authority && p.identity.fingerprint != chosen.identity.fingerprint)
            d.plan().store.add(StoreBatch::RemovePendingSigner { authority, encodeSigner(p.identity) });
    std::erase_if(pending, [&](const PendingSigner& p) { return p.authority == authority; });
    d.setSigners(authority, { chosen.identity });
    d.log(Category::Api, Level::Info, Event::SignerAccepted, "an admin accepted a signer",
        { textField("authority", authority), textField("signer", chosen.identity.describe()),
            textField("token", who.tokenName) });
    d.audit(Event::SignerAccepted, {}, chosen.mudUrl,
        fmt::format("signer {} accepted for {} by {}", chosen.identity.describe(), authority, actorText(who)),
        detailJson({ { "authority", authority }, { "fingerprint", chosen.identity.fingerprint },
            { "accepted_by", who.tokenName } }));
    d.audit(Event::AdminAction, {}, {},
        fmt::format("{} accepted signer {} for {}", actorText(who), chosen.identity.describe(), authority),
        detailJson({ { "action", "accept-signer" }, { "authority", authority },
            { "fingerprint", chosen.identity.fingerprint }, { "token", who.tokenName } }));
    // The URL changes and the devices that waited for this signer try again.
    std::size_t retried = 0;
    for (const auto& mac : d.devicesWhere([&](const DeviceRecord& r) {
             return (r.pendingUrl && urlAuthority(*r.pendingUrl) == authority)
                 || (r.state == DeviceState::Failed && !r.mudUrl.empty() && urlAuthority(r.mudUrl) == authority);
         })) {
        DeviceRecord& r = d.edit(mac);
        r.pendingWaitsForSigner = false;
        d.fetch(r.pendingUrl.value_or(r.mudUrl), true, mac);
        ++retried;
    }
    Action out;
    out.outcome.kind = retried ? api::ActionOutcome::Kind::Accepted : api::ActionOutcome::Kind::Done;
    out.outcome.message = fmt::format(
        "signer {} accepted for {}; {} MUD files are fetched again", chosen.identity.describe(), authority, retried);
    out.plan = std::move(d).finish();
    return out;
}

Core::Action Core::refuseSigner(
    const std::string& authority, const std::optional<std::string>& which, const api::Actor& who, Timestamp now)
{
    Draft d(m_state, *m_settings, now, "signer refused");
    const PendingSigner chosen = matching(d.pendingSigners(), authority, which).front();
    d.plan().store.add(StoreBatch::RemovePendingSigner { authority, encodeSigner(chosen.identity) });
    auto& pending = d.editPendingSigners();
    std::erase_if(pending, [&](const PendingSigner& p) {
        return p.authority == authority && p.identity.fingerprint == chosen.identity.fingerprint;
    });
    d.log(Category::Api, Level::Info, Event::SignerRefused, "an admin refused a pending signer",
        { textField("authority", authority), textField("signer", chosen.identity.describe()),
            textField("token", who.tokenName) });
    d.audit(Event::SignerRefused, {}, chosen.mudUrl,
        fmt::format("signer {} refused for {} by {}", chosen.identity.describe(), authority, actorText(who)),
        detailJson({ { "authority", authority }, { "fingerprint", chosen.identity.fingerprint } }));
    d.audit(Event::AdminAction, {}, {},
        fmt::format("{} refused signer {} for {}", actorText(who), chosen.identity.describe(), authority),
        detailJson({ { "action", "refuse-signer" }, { "authority", authority }, { "token", who.tokenName } }));
    // URL changes that waited for this signer are refused; the devices keep their policy.
    for (const auto& mac : d.devicesWhere([&](const DeviceRecord& r) {
             return r.pendingUrl && r.pendingWaitsForSigner && urlAuthority(*r.pendingUrl) == authority;
         })) {
        DeviceRecord& r = d.edit(mac);
        d.audit(Event::UrlChangeRefused, mac.toString(), *r.pendingUrl, "an admin refused the new file's signer",
            detailJson({ { "kept_url", r.mudUrl } }));
        r.pendingUrl.reset();
        r.pendingWaitsForSigner = false;
        d.plan().store.add(StoreBatch::RemovePendingUrlChange { mac.toString() });
    }
    Action out;
    out.outcome.message = fmt::format("signer {} refused for {}", chosen.identity.describe(), authority);
    out.plan = std::move(d).finish();
    return out;
}

// =================================================================================================
// Configuration

void Core::applyConfiguredDevices(Draft& d, const Settings& settings)
{
    for (const auto& dev : settings.devices) {
        const bool known = d.device(dev.mac) != nullptr;
        DeviceRecord& r = ensureDevice(d, dev.mac, DeviceSource::Admin);
        const std::string macText = dev.mac.toString();
        r.adminBound = true;
        r.source = DeviceSource::Admin;
        // The configured binding replaces a URL change the device announced.
        if (r.pendingUrl) {
            r.pendingUrl.reset();
            r.pendingWaitsForSigner = false;
            d.plan().store.add(StoreBatch::RemovePendingUrlChange { macText });
        }
        if (dev.mudUrl) {
            if (r.mudUrl == *dev.mudUrl && known && !r.localDocument)
                continue;
            const std::string oldKey = r.policyKey;
            r.mudUrl = *dev.mudUrl;
            r.localDocument.reset();
            d.plan().store.add(StoreBatch::PutBinding { macText, r.mudUrl, DeviceSource::Admin });
            d.plan().kernel.setClasses(toEnforcer(dev.mac), urlAuthority(r.mudUrl), r.mudUrl);
            if (const auto* p = d.policy(r.mudUrl); p && p->installed) {
                assign(d, dev.mac, r.mudUrl);
                if (oldKey != r.mudUrl)
                    releasePolicyIfUnused(d, oldKey);
            } else {
                if (oldKey.empty())
                    setState(r, DeviceState::Fetching, {});
                d.fetch(r.mudUrl, false, dev.mac);
            }
        } else if (dev.file) {
            if (!dev.file->profile) {
                fail(d, r, dev.file->failure.value_or(Failure { FailureStage::Validation, "mud-invalid", "invalid" }));
                continue;
            }
            const std::string oldKey = r.policyKey;
            const PolicyRecord* p = localPolicy(d, *dev.file);
            const std::string key = p->key;
            r.localDocument = dev.file->document;
            r.mudUrl = p->url;
            // Bound to the URL the file declares, as a registration through the API is: its
            // manufacturer and model classes follow it.
            d.plan().store.add(StoreBatch::PutBinding { macText, r.mudUrl, DeviceSource::Admin });
            d.plan().kernel.setClasses(toEnforcer(dev.mac), urlAuthority(r.mudUrl), r.mudUrl);
            std::optional<Failure> f;
            if (p->installed || installPolicy(d, key, f)) {
                assign(d, dev.mac, key);
                if (oldKey != key)
                    releasePolicyIfUnused(d, oldKey);
            } else {
                fail(d, d.edit(dev.mac), *f);
            }
        }
    }
}

Plan Core::reload(Settings next, Timestamp now)
{
    auto settings = std::make_shared<const Settings>(std::move(next));
    Draft d(m_state, *settings, now, "configuration reload");
    d.plan().changes.settings = settings;
    d.plan().kernel = classTransaction(*settings, m_state.classNameAddresses);
    if (settings->enforcer != m_settings->enforcer)
        d.plan().kernel.setConfig(settings->enforcer);
    // Devices the configuration no longer registers: what they announce counts again. They keep
    // their binding and policy until they announce something else or leave.
    for (const auto& old : m_settings->devices) {
        bool still = std::any_of(settings->devices.begin(), settings->devices.end(),
            [&](const ConfiguredDevice& c) { return c.mac == old.mac; });
        const DeviceRecord* r = d.device(old.mac);
        if (still || !r || !r->adminBound)
            continue;
        DeviceRecord& e = d.edit(old.mac);
        e.adminBound = false;
        e.source = DeviceSource::Dhcp;
        d.log(Category::Controller, Level::Info, Event::None,
            "the configuration no longer registers the device; its own announcements count again",
            { macField(old.mac), urlField(e.mudUrl) });
    }
    applyConfiguredDevices(d, *settings);
    d.plan().namesChanged = true;
    return std::move(d).finish();
}

} // namespace mudguard::controller::core
