#include "CoreFixture.h"

#include <algorithm>
#include <cerrno>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "mudguard/controller/Log.h"

namespace mudguard::controller::test {

using namespace std::chrono_literals;
using enforcer::Assignment;

MacAddress macOf(unsigned i) { return *MacAddress::parse(fmt::format("02:00:00:00:00:{:02x}", i)); }

IpAddress ipOf(unsigned i) { return *IpAddress::parse(fmt::format("192.168.1.{}", i)); }

std::string mudDocument(const std::string& url, unsigned port, const std::string& host)
{
    return fmt::format(R"({{
  "ietf-mud:mud": {{
    "mud-version": 1,
    "mud-url": "{0}",
    "last-update": "2025-01-01T00:00:00Z",
    "cache-validity": 48,
    "is-supported": true,
    "systeminfo": "A test device",
    "from-device-policy": {{ "access-lists": {{ "access-list": [ {{ "name": "from" }} ] }} }},
    "to-device-policy": {{ "access-lists": {{ "access-list": [ {{ "name": "to" }} ] }} }}
  }},
  "ietf-access-control-list:acls": {{
    "acl": [
      {{
        "name": "from",
        "type": "ipv4-acl-type",
        "aces": {{ "ace": [ {{
          "name": "cloud-from",
          "matches": {{
            "ipv4": {{ "ietf-acldns:dst-dnsname": "{2}", "protocol": 6 }},
            "tcp": {{ "ietf-mud:direction-initiated": "from-device",
                      "destination-port": {{ "operator": "eq", "port": {1} }} }}
          }},
          "actions": {{ "forwarding": "accept" }}
        }} ] }}
      }},
      {{
        "name": "to",
        "type": "ipv4-acl-type",
        "aces": {{ "ace": [ {{
          "name": "cloud-to",
          "matches": {{
            "ipv4": {{ "ietf-acldns:src-dnsname": "{2}", "protocol": 6 }},
            "tcp": {{ "ietf-mud:direction-initiated": "from-device",
                      "source-port": {{ "operator": "eq", "port": {1} }} }}
          }},
          "actions": {{ "forwarding": "accept" }}
        }} ] }}
      }}
    ]
  }}
}}
)",
        url, port, host);
}

std::string classDocument(const std::string& url)
{
    return R"({
  "ietf-mud:mud": {
    "mud-version": 1,
    "mud-url": ")"
        + url + R"(",
    "last-update": "2025-01-01T00:00:00Z",
    "cache-validity": 48,
    "is-supported": true,
    "systeminfo": "A device with local peers",
    "from-device-policy": { "access-lists": { "access-list": [ { "name": "from" } ] } }
  },
  "ietf-access-control-list:acls": {
    "acl": [ {
      "name": "from",
      "type": "ipv4-acl-type",
      "aces": { "ace": [
        { "name": "lan", "matches": { "ietf-mud:mud": { "local-networks": [ null ] }, "ipv4": { "protocol": 6 },
            "tcp": { "destination-port": { "operator": "eq", "port": 80 } } },
          "actions": { "forwarding": "accept" } },
        { "name": "bridge", "matches": { "ietf-mud:mud": { "controller": "urn:example:bridge" },
            "ipv4": { "protocol": 6 }, "tcp": { "destination-port": { "operator": "eq", "port": 8883 } } },
          "actions": { "forwarding": "accept" } }
      ] }
    } ]
  }
}
)";
}

const mudparser::Parser& parser()
{
    static const mudparser::Parser p(mudparser::Parser::defaultSchemaDir());
    return p;
}

std::shared_ptr<const mudparser::Profile> parseMud(const std::string& document)
{
    auto r = parser().parse(document);
    if (!r.profile) {
        std::string why = r.report.diagnostics.empty() ? "invalid" : r.report.diagnostics.front().message;
        throw std::runtime_error("test MUD file does not parse: " + why);
    }
    return std::make_shared<const mudparser::Profile>(std::move(*r.profile));
}

core::LocalDocument localDocument(const std::string& document)
{
    core::LocalDocument d;
    d.document = std::make_shared<const std::string>(document);
    d.digest = core::sha256Hex(document);
    auto r = parser().parse(document);
    d.diagnostics = r.report.diagnostics;
    if (r.profile)
        d.profile = std::make_shared<const mudparser::Profile>(std::move(*r.profile));
    else
        d.failure = Failure { FailureStage::Validation, "mud-invalid", "the MUD file is not valid" };
    return d;
}

mudparser::SignerIdentity signerOf(
    const std::string& subject, const std::string& issuer, const std::string& fingerprint)
{
    return mudparser::SignerIdentity { subject, issuer, fingerprint, "2030-01-01T00:00:00Z" };
}

// =================================================================================================
// Set-up

CoreTest::CoreTest()
    : now(std::chrono::sys_days(std::chrono::year(2025) / 1 / 1) + 8h)
    , store([this] { return now; })
    , steadyNow(std::chrono::steady_clock::time_point {} + 1h)
{
    settings.leaveGrace = 3600s;
    settings.lanPrefixes = { *enforcer::Prefix::parse("192.168.1.0/24") };
    settings.routerAddresses = { *enforcer::Prefix::parse("192.168.1.1") };
    log::setLevel(log::Level::Debug);
    log::setSink([this](std::string_view line) { logLines.emplace_back(line); });
}

CoreTest::~CoreTest()
{
    log::setSink({});
    log::setLevel(log::Level::Info);
}

void CoreTest::start(const core::Restore& r)
{
    executor.reset();
    core = std::make_unique<core::Core>(settings);
    auto applier = std::make_unique<mudguard::test::FakeApplier>();
    fake = applier.get();
    enforcer
        = std::make_unique<enforcer::Enforcer>(std::move(applier), settings.enforcer, [this] { return steadyNow; });
    executor = std::make_unique<Executor>(*core, *enforcer, store, effects, [this] { return now; });
    if (refuseStart)
        fake->failAt(0, ENOMEM);
    executor->start(core->restore(r, now));
}

void CoreTest::restart(std::vector<Announcement> spooled)
{
    // As Daemon::Impl::restore: the files in use are parsed, and the admins' local files.
    core::Restore r;
    r.saved = store.load();
    std::set<std::string> inUse;
    for (const auto& d : r.saved.devices)
        if (!d.mudUrl.empty() && !d.localOverride)
            inUse.insert(d.mudUrl);
    for (const auto& c : r.saved.pendingUrlChanges)
        inUse.insert(c.newUrl);
    for (const auto& row : r.saved.documents) {
        if (!inUse.count(row.url))
            continue;
        core::RestoredDocument doc;
        doc.row = row;
        auto pr = parser().parse(*row.document);
        if (pr.profile)
            doc.profile = std::make_shared<const mudparser::Profile>(std::move(*pr.profile));
        else
            doc.failure = Failure { FailureStage::Validation, "mud-invalid", "the saved MUD file no longer parses" };
        r.documents.emplace(row.url, std::move(doc));
    }
    for (const auto& d : r.saved.devices)
        if (d.localOverride) {
            auto doc = localDocument(*d.localOverride);
            r.localDocuments.emplace(doc.digest, std::move(doc));
        }
    r.spooled = std::move(spooled);
    start(r);
}

void CoreTest::clearRecords()
{
    effects.plans.clear();
    logLines.clear();
}

// =================================================================================================
// Events

Announcement CoreTest::urlAnnouncement(unsigned device, const std::string& url, std::optional<unsigned> ip) const
{
    Announcement a;
    a.kind = Announcement::Kind::Url;
    a.mac = macOf(device);
    a.url = url;
    a.address = ipOf(ip.value_or(device));
    a.at = now;
    return a;
}

Executor::Result CoreTest::announce(const std::vector<Announcement>& batch)
{
    return apply(core->announce(batch, now));
}

Executor::Result CoreTest::join(unsigned device, const std::string& url)
{
    return announce({ urlAnnouncement(device, url) });
}

Executor::Result CoreTest::gone(unsigned device)
{
    Announcement a;
    a.kind = Announcement::Kind::Gone;
    a.mac = macOf(device);
    a.address = ipOf(device);
    a.at = now;
    return announce({ a });
}

FetchVerdict CoreTest::accepted(const std::string& url, std::optional<std::string> document,
    std::optional<mudparser::SignerIdentity> signer, mudparser::VerdictSource source) const
{
    FetchVerdict v;
    v.url = url;
    v.outcome = FetchVerdict::Outcome::Accepted;
    v.source = source;
    const std::string text = document.value_or(mudDocument(url));
    v.profile = parseMud(text);
    v.document = std::make_shared<const std::string>(text);
    v.signer = std::move(signer);
    if (v.signer) {
        v.signature = "signature of " + url;
        v.signatureUrl = url + ".p7s";
        v.chain = { v.signer->subject, v.signer->issuer };
        v.verifiedAt = now;
    }
    v.fetchedAt = now;
    v.etag = "\"v1\"";
    v.summary = "fetched " + url;
    return v;
}

FetchVerdict CoreTest::refused(
    const std::string& url, FailureStage stage, const std::string& code, const std::string& message) const
{
    FetchVerdict v;
    v.url = url;
    v.outcome = FetchVerdict::Outcome::Refused;
    v.failure = Failure { stage, code, message };
    v.summary = "refused " + url;
    return v;
}

void CoreTest::enforce(unsigned device, const std::string& url)
{
    ASSERT_TRUE(join(device, url));
    if (stateOf(device) != DeviceState::Enforced) {
        ASSERT_TRUE(verdict(accepted(url)));
    }
    ASSERT_EQ(stateOf(device), DeviceState::Enforced);
}

// =================================================================================================
// What happened

const DeviceRecord* CoreTest::device(unsigned i) const
{
    auto it = core->state().devices.find(macOf(i));
    return it == core->state().devices.end() ? nullptr : &it->second;
}

DeviceState CoreTest::stateOf(unsigned i) const
{
    const auto* d = device(i);
    if (!d)
        throw std::runtime_error(fmt::format("no device {}", i));
    return d->state;
}

std::optional<Assignment> CoreTest::kernelAssignment(unsigned i) const
{
    auto d = enforcer->device(core::toEnforcer(macOf(i)));
    if (!d)
        return std::nullopt;
    return d->assignment;
}

std::string CoreTest::policyIdOf(const std::string& key) const
{
    auto it = core->state().policies.find(key);
    return it == core->state().policies.end() ? std::string() : it->second.id;
}

namespace {

// A typo in a test would look for an event that can never be written.
void requireEventId(const std::string& event)
{
    if (!log::parseEvent(event))
        ADD_FAILURE() << "\"" << event << "\" is not an event ID of the catalogue (docs/events.md)";
}

} // namespace

bool CoreTest::logged(const std::string& event, std::optional<unsigned> device) const
{
    requireEventId(event);
    const std::string mac = device ? macOf(*device).toString() : std::string();
    for (const auto& p : effects.plans)
        for (const auto& r : p.logs) {
            if (log::toString(r.event) != event)
                continue;
            if (!device)
                return true;
            for (const auto& f : r.fields)
                if (f.key == "mac" && f.value == mac)
                    return true;
        }
    return false;
}

bool CoreTest::logLine(const std::string& event) const
{
    requireEventId(event);
    return std::any_of(logLines.begin(), logLines.end(),
        [&](const std::string& l) { return l.find(" " + event + " ") != std::string::npos; });
}

bool CoreTest::audited(const std::string& event, std::optional<unsigned> device) const
{
    requireEventId(event);
    return store.audited(event, device ? macOf(*device).toString() : std::string());
}

std::vector<core::FetchRequest> CoreTest::fetches() const
{
    std::vector<core::FetchRequest> out;
    for (const auto& p : effects.plans)
        out.insert(out.end(), p.fetches.begin(), p.fetches.end());
    return out;
}

bool CoreTest::fetched(const std::string& url) const
{
    auto all = fetches();
    return std::any_of(all.begin(), all.end(), [&](const core::FetchRequest& f) { return f.url == url; });
}

} // namespace mudguard::controller::test
