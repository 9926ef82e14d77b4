// The core's policy decisions: a fetch verdict, the same-signer rule, installing and releasing
// policies, refreshes, DNS answers and the class sets.

#include <algorithm>

#include <fmt/format.h>

#include "mudguard/enforcer/Error.h"
#include "mudguard/mudparser/TimeText.h"

#include "Translate.h"
#include "core/Core.h"

namespace mudguard::controller::core {

using log::Category;
using log::Event;
using log::Level;

namespace {

std::optional<Timestamp> stamp(const std::optional<std::chrono::system_clock::time_point>& t)
{
    if (!t)
        return std::nullopt;
    return std::chrono::time_point_cast<std::chrono::milliseconds>(*t);
}

FailureStage stageOf(mudparser::RefusalStage s)
{
    switch (s) {
    case mudparser::RefusalStage::Url:
        return FailureStage::Url;
    case mudparser::RefusalStage::Fetch:
        return FailureStage::Fetch;
    case mudparser::RefusalStage::Signature:
        return FailureStage::Signature;
    case mudparser::RefusalStage::Signer:
        return FailureStage::Signer;
    case mudparser::RefusalStage::None:
    case mudparser::RefusalStage::Validation:
        break;
    }
    return FailureStage::Validation;
}

/// The event that reports a refusal at `stage`.
Event eventFor(FailureStage stage)
{
    switch (stage) {
    case FailureStage::Fetch:
    case FailureStage::Limit:
        return Event::MudFetchFailed;
    case FailureStage::Signature:
        return Event::SignatureFailed;
    case FailureStage::Signer:
        return Event::SignerChangePending;
    case FailureStage::Translation:
        return Event::MudUnsupported;
    case FailureStage::Kernel:
    case FailureStage::Store:
        return Event::EnforceFailed;
    case FailureStage::Url:
    case FailureStage::Validation:
        break;
    }
    return Event::MudInvalid;
}

} // namespace

FetchVerdict fromPipeline(mudparser::Verdict&& v)
{
    FetchVerdict f;
    f.url = v.url;
    f.source = v.source;
    f.summary = v.summary();
    auto first = [&](mudparser::Severity severity, bool skipRefresh) -> const mudparser::Diagnostic* {
        for (const auto& d : v.report.diagnostics)
            if (d.severity == severity && !(skipRefresh && d.code == "refresh-failed"))
                return &d;
        return nullptr;
    };
    if (!v.accepted || !v.profile) {
        f.outcome = FetchVerdict::Outcome::Refused;
        const auto* e = first(mudparser::Severity::Error, false);
        f.failure = Failure { stageOf(v.stage), e ? e->code : std::string("refused"),
            e ? e->message : std::string("the file was refused") };
        return f;
    }
    if (v.source == mudparser::VerdictSource::LastKnownGood) {
        f.outcome = FetchVerdict::Outcome::KeptLastKnownGood;
        const auto* w = first(mudparser::Severity::Warning, true);
        f.failure = Failure { stageOf(v.stage), w ? w->code : std::string("refresh-failed"),
            w ? w->message : std::string("the refresh failed") };
    } else {
        f.outcome = FetchVerdict::Outcome::Accepted;
    }
    f.profile = std::make_shared<const mudparser::Profile>(std::move(*v.profile));
    f.document = std::make_shared<const std::string>(std::move(v.body));
    f.signature = std::move(v.signature);
    f.signatureUrl = std::move(v.signatureUrl);
    f.signer = std::move(v.signer);
    f.chain = std::move(v.chain);
    f.fetchedAt = stamp(v.fetchedAt);
    f.verifiedAt = stamp(v.verifiedAt);
    f.etag = std::move(v.etag);
    f.lastModified = std::move(v.lastModified);
    f.unsupported = v.unsupported;
    return f;
}

// =================================================================================================
// Policies

void Core::assign(Draft& d, const MacAddress& mac, const std::string& key)
{
    DeviceRecord& r = d.edit(mac);
    const PolicyRecord* p = d.policy(key);
    const bool already = r.state == DeviceState::Enforced && r.policyKey == key;
    if (r.policyKey != key) {
        if (!r.policyKey.empty())
            d.setUse(r.policyKey, d.use(r.policyKey) - 1);
        d.setUse(key, d.use(key) + 1);
        r.policyKey = key;
    }
    d.plan().kernel.setDevice(toEnforcer(mac), enforcer::Assignment::policy(p->id));
    setState(r, DeviceState::Enforced, {});
    if (already)
        return;
    d.plan().enforced.push_back(mac);
    d.log(Category::Enforcer, Level::Info, Event::PolicyApplied, "policy enforced",
        { macField(mac), urlField(r.mudUrl), textField("policy", p->id) });
    d.audit(Event::PolicyApplied, mac.toString(), r.mudUrl, fmt::format("policy {} enforced", p->id),
        detailJson({ { "policy", p->id }, { "hash", p->hash } }));
}

void Core::dropPolicy(Draft& d, const MacAddress& mac)
{
    DeviceRecord& r = d.edit(mac);
    if (r.policyKey.empty())
        return;
    const std::string old = r.policyKey;
    d.setUse(old, d.use(old) - 1);
    r.policyKey.clear();
    d.plan().kernel.setDevice(toEnforcer(mac), enforcer::Assignment::pending());
    releasePolicyIfUnused(d, old);
}

void Core::releasePolicyIfUnused(Draft& d, const std::string& key)
{
    const PolicyRecord* p = d.policy(key);
    if (!p || d.use(key) > 0)
        return;
    if (p->installed)
        d.plan().kernel.removePolicy(p->id);
    d.log(Category::Enforcer, Level::Info, Event::PolicyRemoved, "policy no longer used; removed",
        { urlField(p->url), textField("policy", p->id) });
    d.audit(Event::PolicyRemoved, {}, p->url, fmt::format("policy {} is no longer used and was removed", p->id),
        detailJson({ { "policy", p->id } }));
    d.erasePolicy(key);
    d.plan().policiesChanged = true;
    d.plan().namesChanged = true;
}

bool Core::installPolicy(Draft& d, const std::string& key, std::optional<Failure>& failure)
{
    PolicyRecord& p = d.editPolicy(key);
    try {
        enforcer::Policy policy = translate(*p.profile, p.id);
        p.dnsNames.clear();
        for (const auto* rules : { &policy.fromDevice, &policy.toDevice })
            for (const auto& r : *rules)
                for (const auto* s : { &r.srcSet, &r.dstSet })
                    if (*s && (*s)->kind == enforcer::SetRef::Kind::DnsName)
                        p.dnsNames.push_back((*s)->key);
        std::sort(p.dnsNames.begin(), p.dnsNames.end());
        p.dnsNames.erase(std::unique(p.dnsNames.begin(), p.dnsNames.end()), p.dnsNames.end());
        d.plan().kernel.installPolicy(std::move(policy));
        p.installed = true;
        p.failure.reset();
        d.plan().policiesChanged = true;
        d.plan().namesChanged = true;
        return true;
    } catch (const enforcer::CompileError& e) {
        failure = Failure { FailureStage::Translation, "enforce-unsupported",
            fmt::format("the MUD file cannot be enforced on this router: {}", e.what()) };
        p.failure = failure;
        d.log(Category::Enforcer, Level::Error, Event::MudUnsupported, "a MUD file cannot be enforced on this router",
            { urlField(p.url), textField("reason", e.what()) });
        d.audit(Event::MudUnsupported, {}, p.url, failure->message,
            detailJson({ { "code", failure->code }, { "stage", toString(failure->stage) } }));
        d.plan().refusals.push_back(FailureStage::Translation);
        return false;
    }
}

const PolicyRecord* Core::localPolicy(Draft& d, const LocalDocument& doc)
{
    const std::string key = "local:" + doc.digest;
    if (const auto* p = d.policy(key))
        return p;
    if (!doc.profile)
        return nullptr;
    PolicyRecord p;
    p.local = true;
    p.key = key;
    p.url = doc.profile->mudUrl;
    p.id = policyIdFor(key);
    p.profile = doc.profile;
    p.document = doc.document;
    p.hash = "sha256:" + doc.digest;
    p.cacheValidityHours = doc.profile->cacheValidity;
    p.unsupported = !doc.profile->isSupported;
    return &d.createPolicy(std::move(p));
}

// =================================================================================================
// Verdicts

bool Core::signerRule(Draft& d, const FetchVerdict& v, Failure& failure)
{
    if (!v.signer)
        return true;
    const std::string authority = urlAuthority(v.url);
    auto known = d.signers(authority);
    if (known.empty()) {
        d.setSigners(authority, { *v.signer });
        d.plan().store.add(StoreBatch::AcceptSigner { authority, encodeSigner(*v.signer), "first-use" });
        d.log(Category::Fetch, Level::Info, Event::SignerAccepted,
            "first signed file from this authority: its signer is remembered",
            { urlField(v.url), textField("authority", authority), textField("signer", v.signer->describe()) });
        d.audit(Event::SignerAccepted, {}, v.url,
            fmt::format("first signed file from {}: signer {} accepted on first use", authority, v.signer->describe()),
            detailJson({ { "authority", authority }, { "fingerprint", v.signer->fingerprint },
                { "accepted_by", "first-use" } }));
        return true;
    }
    for (auto& k : known) {
        if (!k.sameSigner(*v.signer))
            continue;
        if (k.fingerprint != v.signer->fingerprint) {
            // A renewed certificate of the same signer: remember the newest one.
            d.plan().store.add(StoreBatch::RemoveSigner { authority, encodeSigner(k) });
            d.plan().store.add(StoreBatch::AcceptSigner { authority, encodeSigner(*v.signer), "renewal" });
            k = *v.signer;
            d.setSigners(authority, known);
        }
        return true;
    }
    failure = Failure { FailureStage::Signer, "signer-changed",
        fmt::format("the file is signed by {}, but the accepted signer for {} is {}; the file is refused until an "
                    "admin accepts the new signer",
            v.signer->describe(), authority, known.front().describe()) };
    auto& pending = d.editPendingSigners();
    bool already = std::any_of(pending.begin(), pending.end(), [&](const PendingSigner& p) {
        return p.authority == authority && p.identity.fingerprint == v.signer->fingerprint;
    });
    if (!already) {
        pending.push_back(PendingSigner { authority, *v.signer, v.url, d.now });
        PendingSignerRow row;
        row.authority = authority;
        row.signer = encodeSigner(*v.signer);
        row.mudUrl = v.url;
        row.seenAt = d.now;
        row.detail = "{}";
        d.plan().store.add(StoreBatch::PutPendingSigner { std::move(row) });
    }
    return false;
}

void Core::refused(Draft& d, const FetchVerdict& v, const Failure& why)
{
    const std::string& url = v.url;
    d.plan().store.add(StoreBatch::RecordMudError { url, why.message });
    d.plan().refusals.push_back(why.stage);
    if (why.stage == FailureStage::Fetch)
        d.plan().fetchOutcomes.push_back(FetchOutcome::Failed);
    else if (why.stage == FailureStage::Signature)
        d.plan().verifyOutcomes.push_back(VerifyOutcome::Failed);
    else if (why.stage == FailureStage::Signer)
        d.plan().verifyOutcomes.push_back(VerifyOutcome::SignerPending);
    Event ev = eventFor(why.stage);
    Category cat = ev == Event::MudInvalid || ev == Event::MudUnsupported ? Category::Mudparser : Category::Fetch;
    d.log(cat, Level::Warning, ev, "MUD file refused",
        { urlField(url), textField("stage", toString(why.stage)), textField("code", why.code),
            textField("reason", why.message) });
    d.audit(ev, {}, url, why.message, detailJson({ { "code", why.code }, { "stage", toString(why.stage) } }));

    for (const auto& mac : d.devicesWhere([&](const DeviceRecord& r) { return r.pendingUrl == url; })) {
        DeviceRecord& r = d.edit(mac);
        d.log(Category::Controller, Level::Warning, Event::UrlChangeRefused,
            "a MUD URL change was refused; the device keeps its policy",
            { macField(mac), urlField(url), textField("reason", why.message) });
        d.audit(Event::UrlChangeRefused, mac.toString(), url, why.message, detailJson({ { "kept_url", r.mudUrl } }));
        if (why.stage == FailureStage::Signer) {
            // The change waits for an admin's decision on the signer.
            r.pendingWaitsForSigner = true;
            d.plan().store.add(StoreBatch::PutPendingUrlChange { PendingUrlChangeRow {
                mac.toString(), r.mudUrl, url, "waiting for an admin to accept the new signer", d.now } });
        } else {
            r.pendingUrl.reset();
            r.pendingWaitsForSigner = false;
            d.plan().store.add(StoreBatch::RemovePendingUrlChange { mac.toString() });
        }
    }
    for (const auto& mac : d.devicesWhere([&](const DeviceRecord& r) {
             return r.pendingUrl != url && r.mudUrl == url && !r.localDocument && r.recorded
                 && r.state != DeviceState::Quarantined && r.stage != FailureStage::Limit;
         })) {
        const DeviceRecord& r = *d.device(mac);
        if (r.policyKey == url) {
            d.log(Category::Controller, Level::Warning, Event::PolicyKept,
                "a newer MUD file could not be used; the last known good policy stays",
                { macField(mac), urlField(url), textField("reason", why.message) });
            d.audit(Event::PolicyKept, mac.toString(), url, "the last known good policy stays: " + why.message);
        } else {
            // Bound to this URL (by an admin, say) while another policy was in force: that policy
            // no longer describes the device; it is held until this file can be used.
            dropPolicy(d, mac);
            fail(d, d.edit(mac), why);
        }
    }
}

Plan Core::verdict(const FetchVerdict& v, Timestamp now)
{
    Draft d(m_state, *m_settings, now, "policy " + v.url);
    d.plan().verdictFor = v.url;
    const std::string& url = v.url;
    if (d.retryUrls().count(url))
        d.editRetryUrls().erase(url);
    d.plan().fetchOutcomes.reserve(1);
    if (v.outcome == FetchVerdict::Outcome::Refused) {
        refused(d, v, v.failure.value_or(Failure { FailureStage::Fetch, "refused", "refused" }));
        return std::move(d).finish();
    }
    if (v.outcome == FetchVerdict::Outcome::Accepted && v.source == mudparser::VerdictSource::Network) {
        Failure f;
        if (!signerRule(d, v, f)) {
            d.log(Category::Fetch, Level::Warning, Event::SignerChangePending,
                "a file is signed by a signer not accepted for its authority; waiting for an admin",
                { urlField(url), textField("authority", urlAuthority(url)),
                    textField("signer", v.signer->describe()) });
            refused(d, v, f);
            return std::move(d).finish();
        }
    }
    if (v.outcome == FetchVerdict::Outcome::KeptLastKnownGood) {
        // The refresh was refused or failed; the copy in force stays. Say why.
        Failure f = v.failure.value_or(Failure { FailureStage::Fetch, "refresh-failed", "the refresh failed" });
        Event ev = eventFor(f.stage);
        d.plan().fetchOutcomes.push_back(FetchOutcome::Failed);
        d.plan().refusals.push_back(f.stage);
        d.plan().store.add(StoreBatch::RecordMudError { url, f.message });
        d.log(Category::Fetch, Level::Warning, ev, "MUD file refresh refused; the last known good file stays",
            { urlField(url), textField("stage", toString(f.stage)), textField("code", f.code),
                textField("reason", f.message) });
        d.audit(ev, {}, url, "refresh refused: " + f.message,
            detailJson({ { "code", f.code }, { "stage", toString(f.stage) } }));
        for (const auto& mac : d.devicesWhere([&](const DeviceRecord& r) { return r.policyKey == url; })) {
            d.log(Category::Controller, Level::Warning, Event::PolicyKept,
                "a newer MUD file could not be used; the last known good policy stays",
                { macField(mac), urlField(url), textField("reason", f.message) });
            d.audit(Event::PolicyKept, mac.toString(), url, "the last known good policy stays: " + f.message);
        }
        if (auto* p = d.policy(url); p && p->installed) {
            // Not hammered: the next attempt waits.
            d.editPolicy(url).refreshAfter = now + std::chrono::minutes(10);
        }
    }

    // Accepted: the file (new, refreshed, confirmed or from the cache) becomes the policy of its URL.
    const bool fresh = v.source == mudparser::VerdictSource::Network;
    const bool confirmed = v.source == mudparser::VerdictSource::NotModified;
    if (fresh)
        d.plan().fetchOutcomes.push_back(FetchOutcome::Fetched);
    else if (confirmed)
        d.plan().fetchOutcomes.push_back(FetchOutcome::NotModified);
    if (fresh || confirmed)
        d.plan().verifyOutcomes.push_back(v.signer ? VerifyOutcome::Verified : VerifyOutcome::Unsigned);

    const std::string hash = "sha256:" + sha256Hex(*v.document);
    const PolicyRecord* existing = d.policy(url);
    const bool changed = !existing || existing->hash != hash || !existing->installed;
    if (fresh || confirmed) {
        MudCacheRow row;
        row.url = url;
        row.hash = hash;
        row.signer = v.signer ? v.signer->describe() : std::string();
        row.fetchedAt = v.fetchedAt;
        row.verifiedAt = v.verifiedAt;
        row.cacheValidityHours = v.profile->cacheValidity;
        if (v.fetchedAt)
            row.validUntil = *v.fetchedAt + std::chrono::hours(v.profile->cacheValidity);
        row.etag = v.etag;
        row.lastModified = v.lastModified;
        row.supported = !v.unsupported;
        row.document = *v.document;
        if (!v.signature.empty())
            row.signature = v.signature;
        row.signatureUrl = v.signatureUrl;
        row.signerIdentity = v.signer ? encodeSigner(*v.signer) : std::string();
        row.chain = v.chain;
        d.plan().store.add(StoreBatch::PutMudDocument { std::move(row) });
    }
    if (fresh) {
        const std::string signer = v.signer ? v.signer->describe() : std::string();
        d.log(Category::Fetch, Level::Info, Event::MudFetched, "MUD file fetched and verified",
            { urlField(url), textField("hash", hash),
                numberField("bytes", static_cast<std::int64_t>(v.document->size())), textField("signer", signer) });
        d.audit(Event::MudFetched, {}, url, v.summary, detailJson({ { "hash", hash }, { "signer", signer } }));
        if (v.signer) {
            d.log(Category::Fetch, Level::Info, Event::SignatureVerified, "the MUD file's signature verified",
                { urlField(url), textField("signer", signer) });
            d.audit(Event::SignatureVerified, {}, url, "signature verified: " + signer,
                detailJson({ { "signer", signer }, { "fingerprint", v.signer->fingerprint } }));
        }
    } else if (confirmed) {
        d.log(Category::Fetch, Level::Debug, Event::MudNotModified, "MUD file unchanged on the server",
            { urlField(url) });
    }
    if (v.unsupported && (fresh || confirmed))
        d.audit(
            Event::MudUnsupported, {}, url, "the maker marks this file is-supported: false; it is no longer refreshed");

    // Which devices this verdict concerns.
    auto changing = d.devicesWhere([&](const DeviceRecord& r) {
        return r.pendingUrl == url && r.recorded && r.state != DeviceState::Quarantined;
    });
    auto waiting = d.devicesWhere([&](const DeviceRecord& r) {
        return r.pendingUrl != url && r.mudUrl == url && !r.localDocument && r.policyKey != url && r.recorded
            && r.state != DeviceState::Quarantined
            && !(r.state == DeviceState::Failed && r.stage == FailureStage::Limit);
    });
    auto holding = d.devicesWhere([&](const DeviceRecord& r) { return r.policyKey == url; });

    if (changing.empty() && waiting.empty() && holding.empty() && !(existing && existing->installed)) {
        // No device needs it (any more): the file is recorded as the URL's last known good copy,
        // nothing goes into the kernel.
        if (existing)
            d.erasePolicy(url);
        return std::move(d).finish();
    }
    if (!existing) {
        PolicyRecord np;
        np.key = np.url = url;
        np.id = policyIdFor(url);
        d.createPolicy(std::move(np));
    }
    {
        PolicyRecord& p = d.editPolicy(url);
        p.document = v.document;
        p.hash = hash;
        p.signer = v.signer;
        p.signerChain = v.chain;
        if (v.fetchedAt)
            p.fetchedAt = v.fetchedAt;
        p.cacheValidityHours = v.profile->cacheValidity;
        p.unsupported = v.unsupported;
        p.profile = v.profile;
        if (v.outcome == FetchVerdict::Outcome::Accepted)
            p.refreshAfter.reset();
    }
    if (changed) {
        std::optional<Failure> f;
        if (!installPolicy(d, url, f)) {
            for (const auto& mac : waiting) {
                dropPolicy(d, mac);
                fail(d, d.edit(mac), *f);
            }
            for (const auto& mac : changing) {
                DeviceRecord& r = d.edit(mac);
                d.audit(
                    Event::UrlChangeRefused, mac.toString(), url, f->message, detailJson({ { "kept_url", r.mudUrl } }));
                r.pendingUrl.reset();
                d.plan().store.add(StoreBatch::RemovePendingUrlChange { mac.toString() });
            }
            return std::move(d).finish();
        }
    }
    for (const auto& mac : waiting) {
        // A device an admin bound to this URL may still hold its previous policy until now.
        const std::string oldKey = d.device(mac)->policyKey;
        assign(d, mac, url);
        releasePolicyIfUnused(d, oldKey);
    }
    for (const auto& mac : changing) {
        DeviceRecord& r = d.edit(mac);
        const std::string macText = mac.toString();
        const std::string oldUrl = r.mudUrl, oldKey = r.policyKey;
        r.mudUrl = url;
        r.pendingUrl.reset();
        r.pendingWaitsForSigner = false;
        d.plan().kernel.setClasses(toEnforcer(mac), urlAuthority(url), url);
        assign(d, mac, url);
        releasePolicyIfUnused(d, oldKey);
        d.plan().store.add(StoreBatch::RemovePendingUrlChange { macText });
        d.plan().store.add(StoreBatch::PutBinding { macText, url, r.source });
        d.log(Category::Controller, Level::Info, Event::UrlChangeAccepted, "the device's new MUD URL is in force",
            { macField(mac), urlField(url), textField("old_url", oldUrl) });
        d.audit(Event::UrlChangeAccepted, macText, url, "the new MUD file is in force",
            detailJson({ { "old_url", oldUrl } }));
        d.audit(Event::BindingCreated, macText, url, "bound after a URL change",
            detailJson({ { "source", toString(r.source) } }));
    }
    if (changed)
        for (const auto& mac : holding)
            if (std::find(changing.begin(), changing.end(), mac) == changing.end()
                && d.device(mac)->state == DeviceState::Enforced) // not in force for a device in quarantine
                d.audit(Event::PolicyApplied, mac.toString(), url, "the refreshed MUD file is in force",
                    detailJson({ { "policy", d.policy(url)->id }, { "hash", hash } }));
    d.plan().policiesChanged = true;
    return std::move(d).finish();
}

// =================================================================================================
// Timers, names, classes

Plan Core::tick(Timestamp now)
{
    Draft d(m_state, *m_settings, now, "timers");
    for (const auto& mac : d.devicesWhere([&](const DeviceRecord& r) { return r.leaveAt && *r.leaveAt <= now; }))
        unbind(d, mac, "the device left and its grace time ended");
    // Files due for a refresh (a failed refresh waits before the next attempt).
    std::vector<std::string> due;
    d.forEachPolicy([&](const PolicyRecord& p) {
        if (p.local || p.unsupported || !p.fetchedAt || !p.installed)
            return;
        if (now < *p.fetchedAt + std::chrono::hours(p.cacheValidityHours))
            return;
        if (p.refreshAfter && now < *p.refreshAfter)
            return;
        due.push_back(p.key);
    });
    for (const auto& key : due) {
        d.editPolicy(key).refreshAfter = now + std::chrono::minutes(10);
        d.fetch(d.policy(key)->url, false);
    }
    // Devices the kernel refused are tried again.
    for (const auto& mac : d.devicesWhere([](const DeviceRecord& r) {
             return r.state == DeviceState::Failed && r.stage == FailureStage::Kernel && r.recorded;
         })) {
        DeviceRecord& r = d.edit(mac);
        if (r.localDocument) {
            const std::string key = "local:" + sha256Hex(*r.localDocument);
            std::optional<Failure> f;
            if (d.policy(key) && (d.policy(key)->installed || installPolicy(d, key, f)))
                assign(d, mac, key);
        } else if (!r.mudUrl.empty()) {
            if (const auto* p = d.policy(r.mudUrl); p && p->installed) {
                assign(d, mac, r.mudUrl);
            } else {
                setState(r, DeviceState::Fetching, {});
                d.fetch(r.mudUrl, false, mac);
            }
        }
    }
    return std::move(d).finish();
}

Plan Core::dnsUpdates(
    const std::vector<std::pair<std::string, std::vector<enforcer::DnsAddress>>>& updates, Timestamp now)
{
    Draft d(m_state, *m_settings, now, "DNS answers");
    const auto inPolicies = policyNames();
    const auto inClasses = classNames();
    bool classesChanged = false;
    for (const auto& [name, addresses] : updates) {
        if (inClasses.count(name)) {
            std::vector<std::string> text;
            for (const auto& a : addresses)
                text.push_back(a.address.toString());
            d.editClassNameAddresses()[name] = std::move(text);
            classesChanged = true;
        }
        if (inPolicies.count(name))
            d.plan().kernel.setDnsAddresses(name, addresses);
    }
    if (classesChanged) {
        // A class set is replaced as a whole: the operations of a fresh class transaction.
        auto classes = classTransaction(d.settings, d.classNameAddresses());
        for (const auto& op : classes.ops())
            if (const auto* set = std::get_if<enforcer::Transaction::SetClassPrefixes>(&op))
                d.plan().kernel.setClassPrefixes(set->ref, set->prefixes);
    }
    return std::move(d).finish();
}

namespace {

/// The names of the policies installed once `plan` took effect.
std::set<std::string> policyNamesAfter(const State& state, const Plan& plan)
{
    std::set<std::string> out;
    for (const auto& [key, p] : plan.changes.policies)
        if (p && p->installed)
            out.insert(p->dnsNames.begin(), p->dnsNames.end());
    for (const auto& [key, p] : state.policies)
        if (p.installed && !plan.changes.policies.count(key))
            out.insert(p.dnsNames.begin(), p.dnsNames.end());
    return out;
}

} // namespace

std::set<std::string> Core::namesOf(const Plan& plan) const
{
    auto out = classNames();
    auto policies = policyNamesAfter(m_state, plan);
    out.insert(policies.begin(), policies.end());
    return out;
}

void Core::addResolved(
    Plan& plan, const std::vector<std::pair<std::string, std::vector<enforcer::DnsAddress>>>& updates) const
{
    const Settings& settings = plan.changes.settings ? *plan.changes.settings : *m_settings;
    auto inClasses = classNames();
    auto inPolicies = policyNamesAfter(m_state, plan);
    auto resolved = plan.changes.classNameAddresses ? *plan.changes.classNameAddresses : m_state.classNameAddresses;
    bool classesChanged = false;
    for (const auto& [name, addresses] : updates) {
        if (inClasses.count(name)) {
            std::vector<std::string> text;
            for (const auto& a : addresses)
                text.push_back(a.address.toString());
            resolved[name] = std::move(text);
            classesChanged = true;
        }
        if (inPolicies.count(name))
            plan.kernel.setDnsAddresses(name, addresses);
    }
    if (classesChanged) {
        auto classes = classTransaction(settings, resolved);
        for (const auto& op : classes.ops())
            if (const auto* set = std::get_if<enforcer::Transaction::SetClassPrefixes>(&op))
                plan.kernel.setClassPrefixes(set->ref, set->prefixes);
        plan.changes.classNameAddresses = std::move(resolved);
    }
}

enforcer::Transaction Core::classTransaction(
    const Settings& s, const std::map<std::string, std::vector<std::string>>& resolved)
{
    using Kind = enforcer::SetRef::Kind;
    enforcer::Transaction t;
    t.setClassPrefixes({ Kind::LocalNetworks, "" }, s.lanPrefixes);
    std::map<std::string, std::vector<enforcer::Prefix>> controllers;
    controllers["urn:ietf:params:mud:dns"] = s.routerAddresses;
    controllers["urn:ietf:params:mud:ntp"]
        = s.ntpServer ? std::vector<enforcer::Prefix> { *s.ntpServer } : s.routerAddresses;
    // Addresses as configured, and those the names resolve to (kept current by the DNS updates).
    auto where = [&](const AddressList& list) {
        std::vector<enforcer::Prefix> v;
        for (const auto& a : list.addresses)
            if (auto e = enforcer::Prefix::parse(a))
                v.push_back(*e);
        for (const auto& name : list.names)
            if (auto it = resolved.find(name); it != resolved.end())
                for (const auto& a : it->second)
                    if (auto e = enforcer::Prefix::parse(a))
                        v.push_back(*e);
        return v;
    };
    for (const auto& c : s.controllers)
        controllers[c.uri] = where(c.where);
    for (auto& [uri, v] : controllers)
        t.setClassPrefixes({ Kind::Controller, uri }, v);
    for (const auto& c : s.myControllers)
        t.setClassPrefixes({ Kind::MyController, c.mudUrl }, where(c.where));
    return t;
}

Plan Core::tablesRestored(Timestamp now)
{
    Draft d(m_state, *m_settings, now, "tables restored");
    d.log(Category::Enforcer, Level::Warning, Event::TableRecreated,
        "mudguard's nftables state was changed by someone else; restored it",
        { numberField("devices", static_cast<std::int64_t>(m_state.devices.size())) });
    d.audit(Event::TableRecreated, {}, {}, "tables changed by another process were restored");
    return std::move(d).finish();
}

Plan Core::violations(const std::vector<ViolationSummary>& summaries, Timestamp now)
{
    Draft d(m_state, *m_settings, now, "violations");
    for (const auto& s : summaries) {
        const auto* r = d.device(s.mac);
        std::string url = r ? r->mudUrl : std::string();
        d.log(Category::Enforcer, Level::Info, Event::ViolationSummary, "traffic outside the policy was blocked",
            { macField(s.mac), urlField(url), numberField("packets", static_cast<std::int64_t>(s.packets)),
                textField("peers", s.peers) });
        d.audit(Event::ViolationSummary, s.mac.toString(), url, fmt::format("{} packets blocked", s.packets),
            detailJson({ { "direction", s.direction }, { "peers", s.peers } }));
    }
    return std::move(d).finish();
}

} // namespace mudguard::controller::core
