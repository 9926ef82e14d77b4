// The core's recovery decisions: a cold start from the saved state, a batch the kernel refused, a
// write the store refused, and recording again what the store refused once it accepts writes.

#include <algorithm>

#include <fmt/format.h>

#include "Translate.h"
#include "core/Core.h"

namespace mudguard::controller::core {

using log::Category;
using log::Event;
using log::Level;

namespace {

std::optional<MacAddress> macOf(const std::string& text) { return MacAddress::parse(text); }

} // namespace

// =================================================================================================
// Cold start

Plan Core::restore(const Restore& in, Timestamp now)
{
    // Memory is loaded from the store as it is (they agree by construction); the plan then brings
    // the kernel to it in the enforcer's start batch, and records what could not be restored.
    State s;
    for (const auto& row : in.saved.signers)
        if (auto id = decodeSigner(row.signer))
            s.signers[row.authority].push_back(*id);
    for (const auto& row : in.saved.pendingSigners)
        if (auto id = decodeSigner(row.signer))
            s.pendingSigners.push_back(PendingSigner { row.authority, *id, row.mudUrl, row.seenAt });
    for (const auto& [url, doc] : in.documents) {
        if (!doc.profile || !doc.row.document)
            continue;
        PolicyRecord p;
        p.key = p.url = url;
        p.id = policyIdFor(url);
        p.profile = doc.profile;
        p.document = std::make_shared<const std::string>(*doc.row.document);
        p.hash = "sha256:" + sha256Hex(*p.document);
        if (!doc.row.signerIdentity.empty())
            p.signer = decodeSigner(doc.row.signerIdentity);
        p.signerChain = doc.row.chain;
        p.fetchedAt = doc.row.fetchedAt;
        p.cacheValidityHours = doc.row.cacheValidityHours;
        p.unsupported = !doc.row.supported;
        s.policies.emplace(url, std::move(p));
    }
    for (const auto& [digest, doc] : in.localDocuments) {
        if (!doc.profile)
            continue;
        PolicyRecord p;
        p.local = true;
        p.key = "local:" + digest;
        p.url = doc.profile->mudUrl;
        p.id = policyIdFor(p.key);
        p.profile = doc.profile;
        p.document = doc.document;
        p.hash = "sha256:" + digest;
        p.cacheValidityHours = doc.profile->cacheValidity;
        p.unsupported = !doc.profile->isSupported;
        s.policies.emplace(p.key, std::move(p));
    }
    std::map<std::string, std::vector<IpAddress>> addresses;
    for (const auto& a : in.saved.addresses)
        if (auto ip = IpAddress::parse(a.ip))
            addresses[a.mac].push_back(*ip);
    std::map<std::string, const PendingUrlChangeRow*> changes;
    for (const auto& c : in.saved.pendingUrlChanges)
        changes[c.mac] = &c;
    for (const auto& row : in.saved.devices) {
        auto mac = macOf(row.mac);
        if (!mac)
            continue;
        DeviceRecord d;
        d.mac = *mac;
        d.state = row.state;
        d.reason = row.reason;
        d.stage = row.failureStage;
        d.source = row.source;
        d.mudUrl = row.mudUrl;
        if (row.localOverride)
            d.localDocument = std::make_shared<const std::string>(*row.localOverride);
        d.adminBound = row.source == DeviceSource::Admin;
        d.announcedAt = row.announcedAt;
        d.leaveAt = row.leaveAt;
        if (auto c = changes.find(row.mac); c != changes.end())
            d.pendingUrl = c->second->newUrl;
        if (auto a = addresses.find(row.mac); a != addresses.end()) {
            d.addresses = std::move(a->second);
            std::sort(d.addresses.begin(), d.addresses.end());
            d.addresses.erase(std::unique(d.addresses.begin(), d.addresses.end()), d.addresses.end());
            for (const auto& ip : d.addresses)
                s.owners[ip] = d.mac;
        }
        const std::string key = d.localDocument ? "local:" + sha256Hex(*d.localDocument) : d.mudUrl;
        if (!row.policyId.empty() && !key.empty() && s.policies.count(key)) {
            d.policyKey = key;
            ++s.policyUse[key];
        }
        s.devices.emplace(d.mac, std::move(d));
    }
    // Policies nobody uses are not kept.
    std::erase_if(s.policies, [&](const auto& p) { return !s.policyUse.count(p.first); });
    m_state = std::move(s);

    Draft d(m_state, *m_settings, now, "restore");
    d.plan().start = true;
    d.plan().kernel = classTransaction(*m_settings, m_state.classNameAddresses);
    // The policies in use, compiled; a file this router can no longer express leaves its devices
    // held, with the reason.
    std::map<std::string, Failure> uninstallable;
    for (const auto& [key, p] : m_state.policies) {
        std::optional<Failure> f;
        if (!installPolicy(d, key, f))
            uninstallable[key] = *f;
    }
    auto& k = d.plan().kernel;
    for (const auto& [mac, rec] : m_state.devices) {
        auto em = toEnforcer(mac);
        k.setDevice(em, enforcer::Assignment::pending());
        std::vector<enforcer::IpAddress> ips;
        for (const auto& ip : rec.addresses)
            ips.push_back(toEnforcer(ip));
        k.setAddresses(em, std::move(ips));
        if (!rec.mudUrl.empty())
            k.setClasses(em, urlAuthority(rec.mudUrl), rec.mudUrl);
        if (rec.state == DeviceState::Quarantined) {
            k.setDevice(em, enforcer::Assignment::quarantine());
            continue;
        }
        if (!rec.policyKey.empty() && !uninstallable.count(rec.policyKey)) {
            // In force again, quietly: nothing changed for this device.
            k.setDevice(em, enforcer::Assignment::policy(d.policy(rec.policyKey)->id));
            continue;
        }
        if (rec.mudUrl.empty() && !rec.localDocument)
            continue;
        DeviceRecord& r = d.edit(mac);
        if (!r.policyKey.empty()) {
            d.setUse(r.policyKey, d.use(r.policyKey) - 1);
            r.policyKey.clear();
        }
        if (auto u = uninstallable.find(rec.policyKey); u != uninstallable.end()) {
            fail(d, r, u->second);
        } else if (r.localDocument) {
            fail(d, r, Failure { FailureStage::Validation, "mud-invalid", "the local MUD file no longer parses" });
        } else if (r.state != DeviceState::Failed) {
            setState(r, DeviceState::Fetching, "no saved copy of the MUD file; fetching it");
            d.fetch(r.mudUrl, false, mac);
        } else {
            d.fetch(r.mudUrl, false, mac);
        }
    }
    for (const auto& [key, f] : uninstallable)
        releasePolicyIfUnused(d, key);
    // URL changes that were waiting: their files are fetched again.
    for (const auto& [mac, rec] : m_state.devices)
        if (rec.pendingUrl)
            d.fetch(*rec.pendingUrl, false, mac);
    applyConfiguredDevices(d, *m_settings);
    for (const auto& a : in.spooled)
        announceOne(d, a);
    d.log(Category::Controller, Level::Info, Event::StateRestored, "saved state read",
        { numberField("devices", static_cast<std::int64_t>(in.saved.devices.size())),
            numberField("policies", static_cast<std::int64_t>(m_state.policies.size())),
            numberField("spooled", static_cast<std::int64_t>(in.spooled.size())) });
    d.audit(Event::StateRestored, {}, {},
        fmt::format("{} devices and {} policies restored from saved state, {} spooled announcements",
            in.saved.devices.size(), m_state.policies.size(), in.spooled.size()));
    d.plan().policiesChanged = true;
    d.plan().namesChanged = true;
    return std::move(d).finish();
}

// =================================================================================================
// Refusals

Plan Core::kernelRefused(const Plan& refused, const std::string& why, Timestamp now)
{
    Draft d(m_state, *m_settings, now, "after the kernel refused " + refused.what);
    const Failure f { FailureStage::Kernel, "kernel-refused",
        fmt::format("the kernel refused the rules ({}); the device is held and tried again", why) };
    std::string single;
    for (const auto& [mac, img] : refused.changes.devices) {
        if (!img)
            continue;
        const DeviceRecord* current = d.device(mac);
        if (!current) {
            // A device the refused plan would have added: held, and recorded with the reason.
            DeviceRecord h;
            h.mac = mac;
            h.source = img->source;
            h.mudUrl = img->mudUrl;
            h.localDocument = img->localDocument;
            h.adminBound = img->adminBound;
            h.announcedAt = img->announcedAt;
            fail(d, h, f);
            const std::string macText = mac.toString();
            auto em = toEnforcer(mac);
            d.plan().kernel.setDevice(em, enforcer::Assignment::pending());
            if (!h.mudUrl.empty()) {
                d.plan().kernel.setClasses(em, urlAuthority(h.mudUrl), h.mudUrl);
                d.plan().store.add(StoreBatch::PutBinding { macText, h.mudUrl, h.source });
            }
            for (const auto& ip : img->addresses)
                if (!d.owner(ip)) {
                    h.addresses.push_back(ip);
                    d.setOwner(ip, mac);
                    d.plan().kernel.addAddress(em, toEnforcer(ip));
                    d.plan().store.add(StoreBatch::TouchAddress { macText, ip.toString() });
                }
            d.log(Category::Discovery, Level::Info, Event::DeviceJoined,
                "device joined; held: the kernel refused its rules",
                { macField(mac), textField("source", toString(h.source)) });
            d.audit(Event::DeviceJoined, macText, h.mudUrl,
                fmt::format("announced by {}; held because the kernel refused its rules", toString(h.source)));
            d.create(std::move(h));
            single = macText;
        } else if (img->state == DeviceState::Enforced && current->state != DeviceState::Enforced) {
            fail(d, d.edit(mac), f);
            single = mac.toString();
        }
    }
    d.audit(Event::EnforceFailed, refused.changes.devices.size() == 1 ? single : std::string(), {},
        fmt::format("{}: {}", refused.what, why));
    // A file whose verdict the kernel refused is obtained again (a URL change waits for it).
    if (refused.verdictFor)
        d.editRetryUrls().insert(*refused.verdictFor);
    d.plan().refusals.push_back(FailureStage::Kernel);
    d.plan().spoolDone = refused.spoolDone;
    return std::move(d).finish();
}

Plan Core::storeRefused(const Plan& refused, const std::string& why, Timestamp now)
{
    Draft d(m_state, *m_settings, now, "held: " + refused.what);
    d.setStoreFailure(why);
    d.log(Category::Store, Level::Error, Event::StoreFailed,
        "the state database refused a write; the change was undone, new devices are held until it accepts writes",
        { textField("change", refused.what), textField("reason", why) });
    d.plan().refusals.push_back(FailureStage::Store);
    const std::string reason = fmt::format(
        "held: the state database refused to record the device ({}); it is recorded and enforced once writes "
        "succeed again",
        why);
    for (const auto& [mac, img] : refused.changes.devices) {
        if (!img || d.device(mac))
            continue; // what existed is back as it was (the kernel too)
        DeviceRecord h;
        h.mac = mac;
        h.source = img->source;
        h.mudUrl = img->mudUrl;
        h.localDocument = img->localDocument;
        h.adminBound = img->adminBound;
        h.announcedAt = img->announcedAt;
        h.recorded = false;
        h.unrecordedSpool = refused.spoolDone;
        setState(h, DeviceState::Failed, reason, FailureStage::Store);
        auto em = toEnforcer(mac);
        d.plan().kernel.setDevice(em, enforcer::Assignment::pending());
        if (!h.mudUrl.empty())
            d.plan().kernel.setClasses(em, urlAuthority(h.mudUrl), h.mudUrl);
        for (const auto& ip : img->addresses)
            if (!d.owner(ip)) {
                h.addresses.push_back(ip);
                d.setOwner(ip, mac);
                d.plan().kernel.addAddress(em, toEnforcer(ip));
            }
        d.create(std::move(h));
    }
    // Files whose verdict was not recorded are fetched again once the store accepts writes.
    if (refused.verdictFor)
        d.editRetryUrls().insert(*refused.verdictFor);
    for (const auto& f : refused.fetches)
        d.editRetryUrls().insert(f.url);
    d.plan().healthChanged = true;
    return std::move(d).finish();
}

Plan Core::heal(Timestamp now)
{
    Draft d(m_state, *m_settings, now, "recording what the state database refused");
    if (!needsHeal())
        return std::move(d).finish();
    if (m_state.storeFailure) {
        d.setStoreFailure(std::nullopt);
        d.log(Category::Store, Level::Info, Event::StoreRecovered, "the state database accepts writes again",
            { textField("was", *m_state.storeFailure) });
        d.audit(Event::StoreRecovered, {}, {},
            "the state database accepts writes again; it had refused them: " + *m_state.storeFailure);
    }
    for (const auto& mac : d.devicesWhere([](const DeviceRecord& r) { return !r.recorded; })) {
        DeviceRecord& r = d.edit(mac);
        const std::string macText = mac.toString();
        r.recorded = true;
        for (auto& id : r.unrecordedSpool)
            d.plan().spoolDone.push_back(std::move(id));
        r.unrecordedSpool.clear();
        d.audit(Event::DeviceJoined, macText, r.mudUrl,
            fmt::format("announced by {}; recorded once the state database accepted writes again", toString(r.source)));
        if (!r.mudUrl.empty()) {
            d.plan().store.add(StoreBatch::PutBinding { macText, r.mudUrl, r.source });
            d.audit(Event::BindingCreated, macText, r.mudUrl, fmt::format("bound by {}", toString(r.source)));
        }
        for (const auto& ip : r.addresses)
            d.plan().store.add(StoreBatch::TouchAddress { macText, ip.toString() });
        if (r.state == DeviceState::Quarantined) {
            // An admin put it in quarantine meanwhile: it stays there until released.
        } else if (r.mudUrl.empty()) {
            setState(r, DeviceState::Pending, {});
        } else if (const auto* p = d.policy(r.mudUrl); p && p->installed && !r.localDocument) {
            assign(d, mac, r.mudUrl);
        } else {
            setState(r, DeviceState::Fetching, {});
            d.fetch(r.mudUrl, false, mac);
        }
    }
    for (const auto& url : d.retryUrls())
        d.fetch(url, false);
    d.plan().healthChanged = true;
    return std::move(d).finish();
}

} // namespace mudguard::controller::core
