#include "api/ApiJson.h"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

#include "json/BoundedJson.h"

namespace mudguard::controller {

const char* toString(api::Signer::Status s) noexcept
{
    switch (s) {
    case api::Signer::Status::Verified:
        return "verified";
    case api::Signer::Status::Unsigned:
        return "unsigned";
    case api::Signer::Status::Failed:
        return "failed";
    case api::Signer::Status::PendingAcceptance:
        return "pending-acceptance";
    }
    return "unknown";
}

const char* toString(api::PolicySource s) noexcept { return s == api::PolicySource::Local ? "local" : "fetched"; }

namespace api {

std::string formatTime(Timestamp t)
{
    const auto ms = t.time_since_epoch().count();
    std::int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    const std::time_t tt = static_cast<std::time_t>(secs);
    std::tm tm {};
    gmtime_r(&tt, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
        tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

std::string validUtf8(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t len = json::utf8SequenceLength(s, i);
        if (len == 0) {
            out += "\xef\xbf\xbd";
            ++i;
            continue;
        }
        out.append(s.substr(i, len));
        i += len;
    }
    return out;
}

JsonWriter::JsonWriter()
    : m_w(m_buf)
{
}

JsonWriter& JsonWriter::key(std::string_view k)
{
    m_w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    return *this;
}

JsonWriter& JsonWriter::string(std::string_view v)
{
    std::string clean = validUtf8(v);
    m_w.String(clean.data(), static_cast<rapidjson::SizeType>(clean.size()));
    return *this;
}

JsonWriter& JsonWriter::number(std::uint64_t v)
{
    m_w.Uint64(v);
    return *this;
}

JsonWriter& JsonWriter::number(std::int64_t v)
{
    m_w.Int64(v);
    return *this;
}

JsonWriter& JsonWriter::boolean(bool v)
{
    m_w.Bool(v);
    return *this;
}

JsonWriter& JsonWriter::null()
{
    m_w.Null();
    return *this;
}

JsonWriter& JsonWriter::time(Timestamp t) { return string(formatTime(t)); }

JsonWriter& JsonWriter::time(const std::optional<Timestamp>& t) { return t ? time(*t) : null(); }

JsonWriter& JsonWriter::optString(const std::optional<std::string>& v) { return v ? string(*v) : null(); }

JsonWriter& JsonWriter::stringOrNull(std::string_view v) { return v.empty() ? null() : string(v); }

JsonWriter& JsonWriter::strings(const std::vector<std::string>& v)
{
    beginArray();
    for (const auto& s : v)
        string(s);
    return endArray();
}

JsonWriter& JsonWriter::embedded(std::string_view jsonText)
{
    rapidjson::Document doc;
    if (!json::parse(jsonText, doc).empty())
        return string(jsonText);
    doc.Accept(m_w); // depth is bounded by the parse
    return *this;
}

JsonWriter& JsonWriter::beginObject()
{
    m_w.StartObject();
    return *this;
}
JsonWriter& JsonWriter::endObject()
{
    m_w.EndObject();
    return *this;
}
JsonWriter& JsonWriter::beginArray()
{
    m_w.StartArray();
    return *this;
}
JsonWriter& JsonWriter::endArray()
{
    m_w.EndArray();
    return *this;
}

std::string JsonWriter::take() { return std::string(m_buf.GetString(), m_buf.GetSize()); }

std::string errorJson(int status, std::string_view code, std::string_view message)
{
    JsonWriter w;
    w.beginObject();
    w.key("status").number(static_cast<std::int64_t>(status));
    w.key("error").string(code);
    w.key("message").string(message);
    w.endObject();
    return w.take();
}

namespace {

const char* severityName(mudparser::Severity s)
{
    switch (s) {
    case mudparser::Severity::Error:
        return "error";
    case mudparser::Severity::Warning:
        return "warning";
    case mudparser::Severity::Info:
        return "info";
    }
    return "error";
}

template <typename T> void optNumber(JsonWriter& w, const std::optional<T>& v)
{
    if (v)
        w.number(static_cast<std::uint64_t>(*v));
    else
        w.null();
}

// The members of a device shared by the list and the detail view.
void deviceMembers(JsonWriter& w, const Device& d)
{
    w.key("mac").string(d.mac);
    w.key("state").string(toString(d.state));
    w.key("reason").stringOrNull(d.reason);
    if (d.failureStage)
        w.key("failure-stage").string(toString(*d.failureStage));
    else
        w.key("failure-stage").null();
    w.key("source").string(toString(d.source));
    w.key("mud-url").stringOrNull(d.mudUrl);
    w.key("addresses").strings(d.addresses);
    w.key("policy").stringOrNull(d.policyId);
    w.key("created-at").time(d.createdAt);
    w.key("state-since").time(d.stateSince);
    w.key("updated-at").time(d.updatedAt);
}

void writeDevice(JsonWriter& w, const Device& d)
{
    w.beginObject();
    deviceMembers(w, d);
    w.endObject();
}

void writeTransparency(JsonWriter& w, const std::optional<mudparser::Transparency>& t)
{
    if (!t) {
        w.null();
        return;
    }
    w.beginObject();
    w.key("sboms").beginArray();
    for (const auto& s : t->sboms) {
        w.beginObject();
        w.key("version-info").optString(s.versionInfo);
        w.key("url").string(s.url);
        w.endObject();
    }
    w.endArray();
    w.key("sbom-local-well-known").optString(t->sbomLocalWellKnown);
    w.key("sbom-contact-uri").optString(t->sbomContactUri);
    w.key("sbom-archive-list").optString(t->sbomArchiveList);
    w.key("vuln-urls").strings(t->vulnUrls);
    w.key("vuln-contact-uri").optString(t->vulnContactUri);
    w.endObject();
}

void writeMud(JsonWriter& w, const std::optional<MudMetadata>& m)
{
    if (!m) {
        w.null();
        return;
    }
    w.beginObject();
    w.key("mud-url").string(m->mudUrl);
    w.key("mud-version").number(static_cast<std::uint64_t>(m->mudVersion));
    w.key("last-update").stringOrNull(m->lastUpdate);
    w.key("cache-validity").number(static_cast<std::uint64_t>(m->cacheValidityHours));
    w.key("is-supported").boolean(m->isSupported);
    w.key("systeminfo").optString(m->systeminfo);
    w.key("mfg-name").optString(m->mfgName);
    w.key("model-name").optString(m->modelName);
    w.key("firmware-rev").optString(m->firmwareRev);
    w.key("software-rev").optString(m->softwareRev);
    w.key("documentation").optString(m->documentation);
    w.key("mud-signature").optString(m->mudSignature);
    w.key("extensions").strings(m->extensions);
    w.key("transparency");
    writeTransparency(w, m->transparency);
    w.endObject();
}

void writeSigner(JsonWriter& w, const std::optional<Signer>& s)
{
    if (!s) {
        w.null();
        return;
    }
    w.beginObject();
    w.key("status").string(toString(s->status));
    w.key("subject").stringOrNull(s->subject);
    w.key("issuer").stringOrNull(s->issuer);
    w.key("fingerprint").stringOrNull(s->fingerprint);
    w.key("not-after").time(s->notAfter);
    w.key("chain").strings(s->chain);
    w.key("message").stringOrNull(s->message);
    w.endObject();
}

void policyMembers(JsonWriter& w, const Policy& p)
{
    w.key("id").string(p.id);
    w.key("mud-url").string(p.mudUrl);
    w.key("source").string(toString(p.source));
    w.key("signer");
    writeSigner(w, p.signer);
    w.key("fetched-at").time(p.fetchedAt);
    w.key("valid-until").time(p.validUntil);
    w.key("is-supported").boolean(p.isSupported);
    w.key("hash").stringOrNull(p.hash);
    w.key("devices").strings(p.devices);
}

} // namespace

std::string invalidDocumentJson(int status, std::string_view code, std::string_view message, std::string_view mudUrl,
    const std::vector<mudparser::Diagnostic>& diagnostics)
{
    JsonWriter w;
    w.beginObject();
    w.key("status").number(static_cast<std::int64_t>(status));
    w.key("error").string(code);
    w.key("message").string(message);
    if (code == "invalid-mud")
        w.key("mud-url").stringOrNull(mudUrl);
    w.key("diagnostics").beginArray();
    for (const auto& d : diagnostics) {
        w.beginObject();
        w.key("severity").string(severityName(d.severity));
        w.key("code").string(d.code);
        w.key("message").string(d.message);
        w.key("path").stringOrNull(d.path);
        w.key("line");
        optNumber(w, d.line);
        w.key("column");
        optNumber(w, d.column);
        w.endObject();
    }
    w.endArray();
    w.endObject();
    return w.take();
}

std::string devicesJson(const std::vector<Device>& devices)
{
    JsonWriter w;
    w.beginObject();
    w.key("count").number(static_cast<std::uint64_t>(devices.size()));
    w.key("devices").beginArray();
    for (const auto& d : devices)
        writeDevice(w, d);
    w.endArray();
    w.endObject();
    return w.take();
}

std::string deviceDetailJson(const DeviceDetail& d)
{
    JsonWriter w;
    w.beginObject();
    deviceMembers(w, d.device);
    w.key("history").beginArray();
    for (const auto& h : d.history) {
        w.beginObject();
        w.key("at").time(h.at);
        w.key("from");
        if (h.from)
            w.string(toString(*h.from));
        else
            w.null();
        w.key("to").string(toString(h.to));
        w.key("reason").stringOrNull(h.reason);
        w.endObject();
    }
    w.endArray();
    w.key("address-details").beginArray();
    for (const auto& a : d.addresses) {
        w.beginObject();
        w.key("ip").string(a.ip);
        w.key("family").number(static_cast<std::uint64_t>(a.family));
        w.key("first-seen").time(a.firstSeen);
        w.key("last-seen").time(a.lastSeen);
        w.endObject();
    }
    w.endArray();
    w.key("pending-url-change");
    if (d.pendingUrlChange) {
        w.beginObject();
        w.key("old-url").string(d.pendingUrlChange->oldUrl);
        w.key("new-url").string(d.pendingUrlChange->newUrl);
        w.key("reason").stringOrNull(d.pendingUrlChange->reason);
        w.key("requested-at").time(d.pendingUrlChange->requestedAt);
        w.endObject();
    } else {
        w.null();
    }
    w.key("mud");
    writeMud(w, d.mud);
    w.key("signer");
    writeSigner(w, d.signer);
    w.key("fetched-at").time(d.fetchedAt);
    w.key("valid-until").time(d.validUntil);
    w.key("policy-summary").strings(d.policySummary);
    w.key("nft-rules").stringOrNull(d.nftRules);
    w.key("counters").beginObject();
    w.key("aces").beginArray();
    for (const auto& c : d.counters.aces) {
        w.beginObject();
        w.key("acl").string(c.acl);
        w.key("ace").string(c.ace);
        w.key("direction").string(c.direction);
        w.key("packets").number(c.packets);
        w.key("bytes").number(c.bytes);
        w.endObject();
    }
    w.endArray();
    w.key("drops").beginObject();
    w.key("packets").number(d.counters.dropPackets);
    w.key("bytes").number(d.counters.dropBytes);
    w.endObject();
    w.key("read-at").time(d.counters.readAt);
    w.endObject();
    w.key("violations").beginArray();
    for (const auto& v : d.violations) {
        w.beginObject();
        w.key("at").time(v.at);
        w.key("direction").string(v.direction);
        w.key("peer").string(v.peer);
        w.key("protocol").string(v.protocol);
        w.key("port");
        optNumber(w, v.port);
        w.key("count").number(v.count);
        w.endObject();
    }
    w.endArray();
    w.endObject();
    return w.take();
}

std::string policiesJson(const std::vector<Policy>& policies)
{
    JsonWriter w;
    w.beginObject();
    w.key("count").number(static_cast<std::uint64_t>(policies.size()));
    w.key("policies").beginArray();
    for (const auto& p : policies) {
        w.beginObject();
        policyMembers(w, p);
        w.endObject();
    }
    w.endArray();
    w.endObject();
    return w.take();
}

std::string policyDetailJson(const PolicyDetail& p)
{
    JsonWriter w;
    w.beginObject();
    policyMembers(w, p.policy);
    w.key("mud");
    writeMud(w, p.mud);
    w.key("summary").strings(p.summary);
    w.key("rules").beginArray();
    for (const auto& r : p.rules) {
        w.beginObject();
        w.key("acl").string(r.acl);
        w.key("ace").string(r.ace);
        w.key("direction").string(r.direction);
        w.key("action").string(r.action);
        w.key("match").string(r.match);
        w.endObject();
    }
    w.endArray();
    w.key("nft-rules").stringOrNull(p.nftRules);
    w.endObject();
    return w.take();
}

std::string eventsJson(const AuditPage& page)
{
    JsonWriter w;
    w.beginObject();
    w.key("events").beginArray();
    for (const auto& e : page.entries) {
        w.beginObject();
        w.key("seq").number(e.seq);
        w.key("at").time(e.at);
        w.key("event").string(e.event);
        w.key("mac").stringOrNull(e.mac);
        w.key("mud-url").stringOrNull(e.mudUrl);
        w.key("reason").stringOrNull(e.reason);
        w.key("detail").embedded(e.detail);
        w.endObject();
    }
    w.endArray();
    w.key("next").number(page.next);
    w.key("more").boolean(page.more);
    w.endObject();
    return w.take();
}

std::string healthJson(const Health& h)
{
    JsonWriter w;
    w.beginObject();
    w.key("status").string(h.ok ? "ok" : "degraded");
    w.key("reasons").strings(h.reasons);
    w.key("last-reconcile").time(h.lastReconcile);
    w.key("devices").number(static_cast<std::uint64_t>(h.devices));
    w.endObject();
    return w.take();
}

std::string outcomeJson(const ActionOutcome& o)
{
    JsonWriter w;
    w.beginObject();
    const char* result = o.kind == ActionOutcome::Kind::Accepted ? "accepted"
        : o.kind == ActionOutcome::Kind::Unchanged               ? "unchanged"
                                                                 : "done";
    w.key("result").string(result);
    w.key("created").boolean(o.created);
    w.key("message").stringOrNull(o.message);
    w.key("device");
    if (o.device)
        writeDevice(w, *o.device);
    else
        w.null();
    w.endObject();
    return w.take();
}

} // namespace api
} // namespace mudguard::controller
