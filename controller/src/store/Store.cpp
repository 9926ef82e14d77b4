#include "mudguard/controller/Store.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include "store/Migrations.h"
#include "store/Sqlite.h"

namespace mudguard::controller {
namespace {

using sqlite::Use;

std::int64_t ms(Timestamp t) { return t.time_since_epoch().count(); }
Timestamp stamp(std::int64_t v) { return Timestamp(std::chrono::milliseconds(v)); }
std::optional<std::int64_t> ms(const std::optional<Timestamp>& t)
{
    return t ? std::optional<std::int64_t>(ms(*t)) : std::nullopt;
}
std::optional<Timestamp> stamp(const std::optional<std::int64_t>& v)
{
    return v ? std::optional<Timestamp>(stamp(*v)) : std::nullopt;
}
std::optional<std::string_view> nullIfEmpty(std::string_view s)
{
    return s.empty() ? std::nullopt : std::optional<std::string_view>(s);
}

// Anything that reached the store from a stored row is trusted to be one of ours (the CHECK
// constraints make sure); an unknown name means the file was edited by hand.
DeviceState stateFrom(const std::string& s)
{
    if (auto v = parseDeviceState(s))
        return *v;
    throw StoreError(fmt::format("state database: unknown device state \"{}\"", s), 0);
}
DeviceSource sourceFrom(const std::string& s)
{
    if (auto v = parseDeviceSource(s))
        return *v;
    throw StoreError(fmt::format("state database: unknown device source \"{}\"", s), 0);
}

void requireMac(std::string_view mac)
{
    auto c = canonicalMac(mac);
    if (!c || *c != mac)
        throw std::invalid_argument(fmt::format("not a canonical MAC address: \"{}\"", mac));
}

void requireNonEmpty(std::string_view v, const char* what)
{
    if (v.empty())
        throw std::invalid_argument(fmt::format("{} must not be empty", what));
}

const std::string kSelectDevices = "SELECT mac, state, reason, source, mud_url, policy_id, local_override, "
                                   "created_at, state_since, updated_at, failure_stage, announced_at, leave_at "
                                   "FROM devices";
const std::string kSelectBindings = "SELECT mac, mud_url, source, bound_at, updated_at, unbind_after FROM bindings";
const std::string kSelectAddresses = "SELECT mac, ip, family, first_seen, last_seen FROM addresses";
const std::string kSelectUrlChanges = "SELECT mac, old_url, new_url, reason, requested_at FROM pending_url_changes";
const std::string kSelectMudCache
    = "SELECT url, hash, signer, valid_until, fetched_at, etag, last_modified, supported, last_error, last_error_at, "
      "verified_at, cache_validity_hours, signature_url, signer_identity, chain";

// The first row, read by `read`, or nothing.
template <typename Read, typename... A>
auto queryOne(sqlite::Connection& c, std::string_view sql, Read read, const A&... args)
    -> std::optional<decltype(read(std::declval<const Use&>()))>
{
    Use q(c, sql);
    q.bindAll(args...);
    if (!q.step())
        return std::nullopt;
    return read(q);
}

// Every row, read by `read`.
template <typename Read, typename... A>
auto queryAll(sqlite::Connection& c, std::string_view sql, Read read, const A&... args)
    -> std::vector<decltype(read(std::declval<const Use&>()))>
{
    std::vector<decltype(read(std::declval<const Use&>()))> out;
    Use q(c, sql);
    q.bindAll(args...);
    while (q.step())
        out.push_back(read(q));
    return out;
}

DeviceRow readDevice(const Use& q)
{
    DeviceRow d;
    d.mac = q.text(0);
    d.state = stateFrom(q.text(1));
    d.reason = q.text(2);
    d.source = sourceFrom(q.text(3));
    d.mudUrl = q.text(4);
    d.policyId = q.text(5);
    d.localOverride = q.optBlob(6);
    d.createdAt = stamp(q.i64(7));
    d.stateSince = stamp(q.i64(8));
    d.updatedAt = stamp(q.i64(9));
    if (!q.isNull(10))
        d.failureStage = parseFailureStage(q.text(10));
    d.announcedAt = stamp(q.optI64(11));
    d.leaveAt = stamp(q.optI64(12));
    return d;
}

BindingRow readBinding(const Use& q)
{
    return BindingRow { q.text(0), q.text(1), sourceFrom(q.text(2)), stamp(q.i64(3)), stamp(q.i64(4)),
        stamp(q.optI64(5)) };
}

AddressRow readAddress(const Use& q)
{
    return AddressRow { q.text(0), q.text(1), static_cast<int>(q.i64(2)), stamp(q.i64(3)), stamp(q.i64(4)) };
}

StateChange readStateChange(const Use& q)
{
    StateChange c;
    c.mac = q.text(0);
    c.at = stamp(q.i64(1));
    if (!q.isNull(2))
        c.from = stateFrom(q.text(2));
    c.to = stateFrom(q.text(3));
    c.reason = q.text(4);
    return c;
}

PendingUrlChangeRow readUrlChange(const Use& q)
{
    return PendingUrlChangeRow { q.text(0), q.text(1), q.text(2), q.text(3), stamp(q.i64(4)) };
}

AuditEntry readAudit(const Use& q)
{
    AuditEntry e;
    e.seq = q.i64(0);
    e.at = stamp(q.i64(1));
    e.event = q.text(2);
    e.mac = q.text(3);
    e.mudUrl = q.text(4);
    e.reason = q.text(5);
    e.detail = q.text(6);
    return e;
}

// A certificate chain as a JSON array of subjects.
std::string encodeChain(const std::vector<std::string>& chain)
{
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartArray();
    for (const auto& c : chain)
        w.String(c.c_str(), static_cast<rapidjson::SizeType>(c.size()));
    w.EndArray();
    return { buf.GetString(), buf.GetSize() };
}

std::vector<std::string> decodeChain(const std::string& text)
{
    std::vector<std::string> out;
    rapidjson::Document d;
    d.Parse(text.c_str(), text.size());
    if (d.HasParseError() || !d.IsArray())
        return out;
    for (const auto& v : d.GetArray())
        if (v.IsString())
            out.emplace_back(v.GetString(), v.GetStringLength());
    return out;
}

MudCacheRow readMudCache(const Use& q, bool withBlobs)
{
    MudCacheRow r;
    r.url = q.text(0);
    r.hash = q.text(1);
    r.signer = q.text(2);
    r.validUntil = stamp(q.optI64(3));
    r.fetchedAt = stamp(q.optI64(4));
    r.etag = q.text(5);
    r.lastModified = q.text(6);
    r.supported = q.i64(7) != 0;
    r.lastError = q.text(8);
    r.lastErrorAt = stamp(q.optI64(9));
    r.verifiedAt = stamp(q.optI64(10));
    r.cacheValidityHours = static_cast<unsigned>(q.i64(11));
    r.signatureUrl = q.text(12);
    r.signerIdentity = q.text(13);
    r.chain = decodeChain(q.text(14));
    if (withBlobs) {
        r.document = q.optBlob(15);
        r.signature = q.optBlob(16);
    }
    return r;
}

Timestamp systemNow()
{
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// The database file is created before SQLite sees it, so that it (and the -wal and -shm files,
// which SQLite gives the same mode) is readable by its owner only.
void createPrivateFile(const std::filesystem::path& p)
{
    int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        throw StoreError(fmt::format("state database: cannot create {}: {}", p.string(), std::strerror(errno)), 0);
    ::close(fd);
}

} // namespace

// ---- StoreQueries ----------------------------------------------------------------------------

StoreQueries::StoreQueries(std::unique_ptr<sqlite::Connection> c)
    : m_conn(std::move(c))
{
}

StoreQueries::~StoreQueries() = default;

StoreQueries::Snapshot::Snapshot(sqlite::Connection& c)
{
    if (c.inTransaction())
        return;
    Use(c, "BEGIN").run();
    m_c = &c;
}

StoreQueries::Snapshot::~Snapshot()
{
    if (!m_c)
        return;
    try {
        Use(*m_c, "COMMIT").run();
    } catch (...) {
        try {
            Use(*m_c, "ROLLBACK").run();
        } catch (...) {
        }
    }
}

StoreQueries::Snapshot StoreQueries::snapshot() { return Snapshot(conn()); }

std::optional<DeviceRow> StoreQueries::device(std::string_view mac)
{
    return queryOne(conn(), kSelectDevices + " WHERE mac = ?1", readDevice, mac);
}

std::vector<DeviceRow> StoreQueries::devices()
{
    return queryAll(conn(), kSelectDevices + " ORDER BY mac", readDevice);
}

std::vector<DeviceRow> StoreQueries::devicesUsing(std::string_view mudUrl)
{
    return queryAll(conn(), kSelectDevices + " WHERE mud_url = ?1 ORDER BY mac", readDevice, mudUrl);
}

std::map<DeviceState, std::size_t> StoreQueries::deviceCountByState()
{
    std::map<DeviceState, std::size_t> out;
    Use q(conn(), "SELECT state, count(*) FROM devices GROUP BY state");
    while (q.step())
        out[stateFrom(q.text(0))] = static_cast<std::size_t>(q.i64(1));
    return out;
}

std::vector<StateChange> StoreQueries::history(std::string_view mac, std::size_t limit)
{
    return queryAll(conn(),
        "SELECT mac, at, from_state, to_state, reason FROM "
        "(SELECT * FROM device_history WHERE mac = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
        readStateChange, mac, static_cast<std::int64_t>(limit));
}

std::vector<AddressRow> StoreQueries::addresses(std::string_view mac)
{
    return queryAll(conn(), kSelectAddresses + " WHERE mac = ?1 ORDER BY ip", readAddress, mac);
}

std::vector<std::string> StoreQueries::macsForAddress(std::string_view ip)
{
    auto canonical = canonicalIp(ip);
    if (!canonical)
        return {};
    return queryAll(
        conn(), "SELECT mac FROM addresses WHERE ip = ?1 ORDER BY last_seen DESC",
        [](const Use& q) { return q.text(0); }, *canonical);
}

std::optional<BindingRow> StoreQueries::binding(std::string_view mac)
{
    return queryOne(conn(), kSelectBindings + " WHERE mac = ?1", readBinding, mac);
}

std::vector<BindingRow> StoreQueries::bindings()
{
    return queryAll(conn(), kSelectBindings + " ORDER BY mac", readBinding);
}

std::vector<BindingRow> StoreQueries::bindingsToUnbind(Timestamp t)
{
    return queryAll(conn(),
        kSelectBindings + " WHERE unbind_after IS NOT NULL AND unbind_after <= ?1 ORDER BY unbind_after, mac",
        readBinding, ms(t));
}

std::optional<MudCacheRow> StoreQueries::mudCache(std::string_view url)
{
    return queryOne(
        conn(), kSelectMudCache + ", document, signature FROM mud_cache WHERE url = ?1",
        [](const Use& q) { return readMudCache(q, true); }, url);
}

std::vector<MudCacheRow> StoreQueries::mudCacheEntries()
{
    return queryAll(
        conn(), kSelectMudCache + " FROM mud_cache ORDER BY url", [](const Use& q) { return readMudCache(q, false); });
}

std::vector<SignerRow> StoreQueries::signers(std::string_view authority)
{
    return queryAll(
        conn(),
        "SELECT authority, signer, accepted_at, accepted_by FROM signers WHERE authority = ?1 "
        "ORDER BY accepted_at, signer",
        [](const Use& q) {
            return SignerRow { q.text(0), q.text(1), stamp(q.i64(2)), q.text(3) };
        },
        authority);
}

bool StoreQueries::isSignerAccepted(std::string_view authority, std::string_view signer)
{
    Use q(conn(), "SELECT 1 FROM signers WHERE authority = ?1 AND signer = ?2");
    q.bindAll(authority, signer);
    return q.step();
}

std::vector<PendingSignerRow> StoreQueries::pendingSigners()
{
    return queryAll(conn(),
        "SELECT authority, signer, mud_url, seen_at, detail FROM pending_signers ORDER BY seen_at, authority",
        [](const Use& q) {
            return PendingSignerRow { q.text(0), q.text(1), q.text(2), stamp(q.i64(3)), q.text(4) };
        });
}

std::optional<PendingUrlChangeRow> StoreQueries::pendingUrlChange(std::string_view mac)
{
    return queryOne(conn(), kSelectUrlChanges + " WHERE mac = ?1", readUrlChange, mac);
}

std::vector<PendingUrlChangeRow> StoreQueries::pendingUrlChanges()
{
    return queryAll(conn(), kSelectUrlChanges + " ORDER BY requested_at", readUrlChange);
}

AuditPage StoreQueries::audit(const AuditQuery& query)
{
    AuditPage page;
    page.next = query.since;
    auto limit = static_cast<std::int64_t>(std::clamp<std::size_t>(query.limit, 1, kMaxAuditPage));
    // One row more than asked tells whether another page follows.
    auto collect = [&](Use& q) {
        while (q.step()) {
            if (static_cast<std::int64_t>(page.entries.size()) == limit) {
                page.more = true;
                break;
            }
            page.entries.push_back(readAudit(q));
        }
    };
    if (query.device) {
        Use q(conn(),
            "SELECT seq, at, event, mac, mud_url, reason, detail FROM audit_log WHERE mac = ?1 AND seq > ?2 "
            "ORDER BY seq LIMIT ?3");
        q.bindAll(*query.device, query.since, limit + 1);
        collect(q);
    } else {
        Use q(conn(),
            "SELECT seq, at, event, mac, mud_url, reason, detail FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2");
        q.bindAll(query.since, limit + 1);
        collect(q);
    }
    if (!page.entries.empty())
        page.next = page.entries.back().seq;
    return page;
}

std::int64_t StoreQueries::lastAuditSeq() { return conn().queryInt("SELECT coalesce(max(seq), 0) FROM audit_log"); }

ColdStart StoreQueries::loadAll()
{
    auto snap = snapshot();
    ColdStart out;
    out.devices = devices();
    out.bindings = bindings();
    out.addresses = queryAll(conn(), kSelectAddresses + " ORDER BY mac, ip", readAddress);
    return out;
}

int StoreQueries::schemaVersion() { return static_cast<int>(conn().queryInt("PRAGMA user_version")); }

std::string StoreQueries::integrityCheck()
{
    std::string out;
    Use q(conn(), "PRAGMA integrity_check");
    while (q.step()) {
        if (!out.empty())
            out += '\n';
        out += q.text(0);
    }
    return out;
}

// ---- Store -----------------------------------------------------------------------------------

Store::Store(const std::filesystem::path& dbFile, StoreOptions options)
    : StoreQueries(nullptr)
    , m_path(dbFile)
    , m_clock(options.clock ? std::move(options.clock) : std::function<Timestamp()>(systemNow))
{
    createPrivateFile(dbFile);
    m_conn = std::make_unique<sqlite::Connection>(dbFile, SQLITE_OPEN_READWRITE, options.busyTimeout);
    auto& c = conn();
    // Refuse the SQL features that can corrupt a database (writable_schema and friends).
    // trusted_schema stays on: the audit log's CHECK uses json_valid(), which SQLite 3.40 does not
    // mark innocuous; the file is ours, in a directory only we can write.
    sqlite3_db_config(c.get(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    auto mode = c.queryText("PRAGMA journal_mode = WAL");
    if (mode != "wal")
        throw StoreError(
            fmt::format("state database: cannot switch {} to WAL (journal mode is \"{}\")", dbFile.string(), mode), 0);
    c.exec(options.synchronous == StoreOptions::Synchronous::Full ? "PRAGMA synchronous = FULL"
                                                                  : "PRAGMA synchronous = NORMAL");
    c.exec("PRAGMA foreign_keys = ON");
    // Truncate the WAL after checkpoints that leave it larger than this.
    c.exec("PRAGMA journal_size_limit = 16777216");
    m_migratedFrom = sqlite::migrate(c, sqlite::storeMigrations());
}

Store::~Store() = default;

Store::Transaction::Transaction(Store& s)
    : m_s(s)
{
    if (s.m_inTransaction || s.conn().inTransaction())
        throw std::logic_error("Store::Transaction does not nest");
    Use(s.conn(), "BEGIN IMMEDIATE").run();
    s.m_inTransaction = true;
}

Store::Transaction::~Transaction()
{
    if (!m_open)
        return;
    m_s.m_inTransaction = false;
    try {
        Use(m_s.conn(), "ROLLBACK").run();
    } catch (...) {
    }
}

void Store::Transaction::commit()
{
    if (!m_open)
        throw std::logic_error("Store::Transaction committed twice");
    Use(m_s.conn(), "COMMIT").run();
    m_open = false;
    m_s.m_inTransaction = false;
}

Timestamp Store::now() const { return m_clock(); }

namespace {

void addHistory(sqlite::Connection& c, std::string_view mac, std::int64_t at, std::optional<std::string_view> from,
    DeviceState to, std::string_view reason)
{
    Use(c, "INSERT INTO device_history (mac, at, from_state, to_state, reason) VALUES (?1, ?2, ?3, ?4, ?5)")
        .bindAll(mac, at, from, std::string_view(toString(to)), reason)
        .run();
    // Keep the newest entries only; the audit log has the full record.
    Use(c,
        "DELETE FROM device_history WHERE mac = ?1 AND id <= "
        "(SELECT id FROM device_history WHERE mac = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)")
        .bindAll(mac, static_cast<std::int64_t>(kMaxHistoryPerDevice))
        .run();
}

} // namespace

void Store::putDevice(const DeviceRow& d)
{
    requireMac(d.mac);
    auto& c = conn();
    auto now = ms(m_clock());
    sqlite::Savepoint sp(c);
    std::optional<std::pair<std::string, std::string>> old;
    {
        Use q(c, "SELECT state, reason FROM devices WHERE mac = ?1");
        q.bindAll(d.mac);
        if (q.step())
            old.emplace(q.text(0), q.text(1));
    }
    std::string_view state = toString(d.state);
    std::optional<std::string_view> stage;
    if (d.failureStage)
        stage = toString(*d.failureStage);
    if (!old) {
        Use(c,
            "INSERT INTO devices (mac, state, reason, source, mud_url, policy_id, local_override, created_at, "
            "state_since, updated_at, failure_stage, announced_at, leave_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?8, ?9, ?10, ?11)")
            .bindAll(d.mac, state, d.reason, std::string_view(toString(d.source)), d.mudUrl, d.policyId)
            .bindBlob(7, d.localOverride)
            .bind(8, now)
            .bind(9, stage)
            .bind(10, ms(d.announcedAt))
            .bind(11, ms(d.leaveAt))
            .run();
        addHistory(c, d.mac, now, std::nullopt, d.state, d.reason);
    } else {
        bool stateChanged = old->first != state;
        Use(c,
            "UPDATE devices SET state = ?2, reason = ?3, source = ?4, mud_url = ?5, policy_id = ?6, "
            "local_override = ?7, updated_at = ?8, state_since = CASE WHEN ?9 THEN ?8 ELSE state_since END, "
            "failure_stage = ?10, announced_at = ?11, leave_at = ?12 WHERE mac = ?1")
            .bindAll(d.mac, state, d.reason, std::string_view(toString(d.source)), d.mudUrl, d.policyId)
            .bindBlob(7, d.localOverride)
            .bind(8, now)
            .bind(9, stateChanged)
            .bind(10, stage)
            .bind(11, ms(d.announcedAt))
            .bind(12, ms(d.leaveAt))
            .run();
        if (stateChanged || old->second != d.reason)
            addHistory(c, d.mac, now, std::string_view(old->first), d.state, d.reason);
    }
    sp.commit();
}

void Store::setDeviceState(std::string_view mac, DeviceState state, std::string_view reason)
{
    requireMac(mac);
    auto& c = conn();
    auto now = ms(m_clock());
    sqlite::Savepoint sp(c);
    std::string oldState, oldReason;
    {
        Use q(c, "SELECT state, reason FROM devices WHERE mac = ?1");
        q.bindAll(mac);
        if (!q.step())
            throw std::invalid_argument(fmt::format("setDeviceState: no device {}", mac));
        oldState = q.text(0);
        oldReason = q.text(1);
    }
    std::string_view next = toString(state);
    if (oldState == next && oldReason == reason)
        return; // nothing changed; the savepoint is released empty
    Use(c,
        "UPDATE devices SET state = ?2, reason = ?3, updated_at = ?4, "
        "state_since = CASE WHEN state <> ?2 THEN ?4 ELSE state_since END WHERE mac = ?1")
        .bindAll(mac, next, reason, now)
        .run();
    addHistory(c, mac, now, std::string_view(oldState), state, reason);
    sp.commit();
}

bool Store::removeDevice(std::string_view mac)
{
    requireMac(mac);
    auto& c = conn();
    sqlite::Savepoint sp(c);
    Use(c, "DELETE FROM bindings WHERE mac = ?1").bindAll(mac).run();
    bool existed;
    {
        Use q(c, "DELETE FROM devices WHERE mac = ?1");
        q.bindAll(mac).run();
        existed = q.changes() > 0;
    }
    sp.commit();
    return existed;
}

void Store::touchAddress(std::string_view mac, std::string_view ip)
{
    requireMac(mac);
    auto canonical = canonicalIp(ip);
    if (!canonical)
        throw std::invalid_argument(fmt::format("not an IP address: \"{}\"", ip));
    int family = canonical->find(':') == std::string::npos ? 4 : 6;
    Use(conn(),
        "INSERT INTO addresses (mac, ip, family, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?4) "
        "ON CONFLICT (mac, ip) DO UPDATE SET last_seen = excluded.last_seen")
        .bindAll(mac, *canonical, family, ms(m_clock()))
        .run();
}

bool Store::removeAddress(std::string_view mac, std::string_view ip)
{
    auto canonical = canonicalIp(ip);
    if (!canonical)
        return false;
    Use q(conn(), "DELETE FROM addresses WHERE mac = ?1 AND ip = ?2");
    q.bindAll(mac, *canonical).run();
    return q.changes() > 0;
}

std::size_t Store::removeAddressesSeenBefore(std::string_view mac, Timestamp t)
{
    Use q(conn(), "DELETE FROM addresses WHERE mac = ?1 AND last_seen < ?2");
    q.bindAll(mac, ms(t)).run();
    return static_cast<std::size_t>(q.changes());
}

void Store::putBinding(std::string_view mac, std::string_view mudUrl, DeviceSource source)
{
    requireMac(mac);
    requireNonEmpty(mudUrl, "a bound MUD URL");
    // bound_at stays when the same URL is confirmed, and restarts when the URL changes.
    Use(conn(),
        "INSERT INTO bindings (mac, mud_url, source, bound_at, updated_at, unbind_after) "
        "VALUES (?1, ?2, ?3, ?4, ?4, NULL) ON CONFLICT (mac) DO UPDATE SET "
        "bound_at = CASE WHEN bindings.mud_url = excluded.mud_url THEN bindings.bound_at ELSE excluded.bound_at END, "
        "mud_url = excluded.mud_url, source = excluded.source, updated_at = excluded.updated_at, unbind_after = NULL")
        .bindAll(mac, mudUrl, std::string_view(toString(source)), ms(m_clock()))
        .run();
}

void Store::scheduleUnbind(std::string_view mac, Timestamp unbindAfter)
{
    Use(conn(), "UPDATE bindings SET unbind_after = ?2 WHERE mac = ?1").bindAll(mac, ms(unbindAfter)).run();
}

bool Store::removeBinding(std::string_view mac)
{
    Use q(conn(), "DELETE FROM bindings WHERE mac = ?1");
    q.bindAll(mac).run();
    return q.changes() > 0;
}

void Store::putMudCache(const MudCacheRow& r)
{
    requireNonEmpty(r.url, "a MUD URL");
    const std::string chain = encodeChain(r.chain);
    Use(conn(),
        "INSERT OR REPLACE INTO mud_cache (url, hash, signer, valid_until, fetched_at, etag, last_modified, "
        "supported, last_error, last_error_at, document, signature, verified_at, cache_validity_hours, "
        "signature_url, signer_identity, chain) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)")
        .bindAll(r.url, r.hash, r.signer, ms(r.validUntil), ms(r.fetchedAt), r.etag, r.lastModified, r.supported,
            r.lastError, ms(r.lastErrorAt))
        .bindBlob(11, r.document)
        .bindBlob(12, r.signature)
        .bind(13, ms(r.verifiedAt))
        .bind(14, static_cast<std::int64_t>(r.cacheValidityHours))
        .bind(15, r.signatureUrl)
        .bind(16, r.signerIdentity)
        .bind(17, chain)
        .run();
}

void Store::recordMudError(std::string_view url, std::string_view error)
{
    requireNonEmpty(url, "a MUD URL");
    Use(conn(),
        "INSERT INTO mud_cache (url, last_error, last_error_at) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (url) DO UPDATE SET last_error = excluded.last_error, last_error_at = excluded.last_error_at")
        .bindAll(url, error, ms(m_clock()))
        .run();
}

bool Store::removeMudCache(std::string_view url)
{
    Use q(conn(), "DELETE FROM mud_cache WHERE url = ?1");
    q.bindAll(url).run();
    return q.changes() > 0;
}

void Store::acceptSigner(std::string_view authority, std::string_view signer, std::string_view acceptedBy)
{
    requireNonEmpty(authority, "an authority");
    requireNonEmpty(signer, "a signer");
    auto& c = conn();
    sqlite::Savepoint sp(c);
    Use(c,
        "INSERT INTO signers (authority, signer, accepted_at, accepted_by) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (authority, signer) DO NOTHING")
        .bindAll(authority, signer, ms(m_clock()), acceptedBy)
        .run();
    Use(c, "DELETE FROM pending_signers WHERE authority = ?1 AND signer = ?2").bindAll(authority, signer).run();
    sp.commit();
}

bool Store::removeSigner(std::string_view authority, std::string_view signer)
{
    Use q(conn(), "DELETE FROM signers WHERE authority = ?1 AND signer = ?2");
    q.bindAll(authority, signer).run();
    return q.changes() > 0;
}

void Store::putPendingSigner(const PendingSignerRow& r)
{
    requireNonEmpty(r.authority, "an authority");
    requireNonEmpty(r.signer, "a signer");
    auto seen = r.seenAt == Timestamp {} ? m_clock() : r.seenAt;
    Use(conn(),
        "INSERT OR REPLACE INTO pending_signers (authority, signer, mud_url, seen_at, detail) "
        "VALUES (?1, ?2, ?3, ?4, ?5)")
        .bindAll(r.authority, r.signer, r.mudUrl, ms(seen), r.detail)
        .run();
}

bool Store::removePendingSigner(std::string_view authority, std::string_view signer)
{
    Use q(conn(), "DELETE FROM pending_signers WHERE authority = ?1 AND signer = ?2");
    q.bindAll(authority, signer).run();
    return q.changes() > 0;
}

void Store::putPendingUrlChange(const PendingUrlChangeRow& r)
{
    requireMac(r.mac);
    auto at = r.requestedAt == Timestamp {} ? m_clock() : r.requestedAt;
    Use(conn(),
        "INSERT OR REPLACE INTO pending_url_changes (mac, old_url, new_url, reason, requested_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5)")
        .bindAll(r.mac, r.oldUrl, r.newUrl, r.reason, ms(at))
        .run();
}

std::optional<PendingUrlChangeRow> Store::takePendingUrlChange(std::string_view mac)
{
    auto& c = conn();
    sqlite::Savepoint sp(c);
    auto row = pendingUrlChange(mac);
    if (row)
        Use(c, "DELETE FROM pending_url_changes WHERE mac = ?1").bindAll(mac).run();
    sp.commit();
    return row;
}

std::int64_t Store::appendAudit(const AuditEntry& e)
{
    requireNonEmpty(e.event, "an audit event");
    auto at = e.at == Timestamp {} ? m_clock() : e.at;
    Use(conn(), "INSERT INTO audit_log (at, event, mac, mud_url, reason, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .bindAll(ms(at), e.event, nullIfEmpty(e.mac), nullIfEmpty(e.mudUrl), e.reason,
            e.detail.empty() ? std::string_view("{}") : std::string_view(e.detail))
        .run();
    return sqlite3_last_insert_rowid(conn().get());
}

// ---- StateStore ------------------------------------------------------------------------------

SavedState Store::load()
{
    auto snap = snapshot();
    SavedState out;
    out.devices = devices();
    out.bindings = bindings();
    out.addresses = queryAll(conn(), kSelectAddresses + " ORDER BY mac, ip", readAddress);
    // Every last known good file (the fetch workers' cache; the core keeps those in use).
    out.documents = queryAll(conn(),
        kSelectMudCache + ", document, signature FROM mud_cache WHERE document IS NOT NULL ORDER BY url",
        [](const Use& q) { return readMudCache(q, true); });
    out.signers = queryAll(
        conn(), "SELECT authority, signer, accepted_at, accepted_by FROM signers ORDER BY authority", [](const Use& q) {
            return SignerRow { q.text(0), q.text(1), stamp(q.i64(2)), q.text(3) };
        });
    out.pendingSigners = pendingSigners();
    out.pendingUrlChanges = pendingUrlChanges();
    return out;
}

void Store::commit(const StoreBatch& batch)
{
    if (batch.empty())
        return;
    const bool own = !m_inTransaction;
    std::optional<Transaction> t;
    std::optional<sqlite::Savepoint> sp;
    if (own)
        t.emplace(*this);
    else
        sp.emplace(conn());
    for (const auto& op : batch.ops)
        std::visit(
            [&](const auto& o) {
                using T = std::decay_t<decltype(o)>;
                if constexpr (std::is_same_v<T, StoreBatch::PutDevice>)
                    putDevice(o.row);
                else if constexpr (std::is_same_v<T, StoreBatch::RemoveDevice>)
                    removeDevice(o.mac);
                else if constexpr (std::is_same_v<T, StoreBatch::PutBinding>)
                    putBinding(o.mac, o.mudUrl, o.source);
                else if constexpr (std::is_same_v<T, StoreBatch::TouchAddress>)
                    touchAddress(o.mac, o.ip);
                else if constexpr (std::is_same_v<T, StoreBatch::RemoveAddress>)
                    removeAddress(o.mac, o.ip);
                else if constexpr (std::is_same_v<T, StoreBatch::PutMudDocument>)
                    putMudCache(o.row);
                else if constexpr (std::is_same_v<T, StoreBatch::RecordMudError>)
                    recordMudError(o.url, o.error);
                else if constexpr (std::is_same_v<T, StoreBatch::AcceptSigner>)
                    acceptSigner(o.authority, o.signer, o.acceptedBy);
                else if constexpr (std::is_same_v<T, StoreBatch::RemoveSigner>)
                    removeSigner(o.authority, o.signer);
                else if constexpr (std::is_same_v<T, StoreBatch::PutPendingSigner>)
                    putPendingSigner(o.row);
                else if constexpr (std::is_same_v<T, StoreBatch::RemovePendingSigner>)
                    removePendingSigner(o.authority, o.signer);
                else if constexpr (std::is_same_v<T, StoreBatch::PutPendingUrlChange>)
                    putPendingUrlChange(o.row);
                else if constexpr (std::is_same_v<T, StoreBatch::RemovePendingUrlChange>)
                    takePendingUrlChange(o.mac);
                else
                    appendAudit(o.entry);
            },
            op);
    if (t)
        t->commit();
    else
        sp->commit();
}

std::unique_ptr<StateReader> Store::reader() { return std::make_unique<SqliteStateReader>(m_path); }

// ---- StoreReader -----------------------------------------------------------------------------

StoreReader::StoreReader(const std::filesystem::path& dbFile, StoreOptions options)
    : StoreQueries(std::make_unique<sqlite::Connection>(dbFile, SQLITE_OPEN_READWRITE, options.busyTimeout))
{
    // Read-write at the file level (a WAL reader needs the -shm file), read-only by pragma.
    conn().exec("PRAGMA query_only = ON");
    int version = schemaVersion();
    if (version != Store::kSchemaVersion)
        throw StoreError(
            fmt::format("state database {}: schema version {}, expected {} (open it with the writer first)",
                dbFile.string(), version, Store::kSchemaVersion),
            0);
}

StoreReader::~StoreReader() = default;

// ---- SqliteStateReader -----------------------------------------------------------------------

SqliteStateReader::SqliteStateReader(const std::filesystem::path& dbFile)
    : m_reader(dbFile)
{
}

std::optional<DeviceRow> SqliteStateReader::device(const std::string& mac) { return m_reader.device(mac); }

std::vector<std::pair<DeviceRow, std::vector<std::string>>> SqliteStateReader::devicesWithAddresses()
{
    ColdStart all = m_reader.loadAll();
    std::map<std::string, std::vector<std::string>> addresses;
    for (auto& a : all.addresses)
        addresses[a.mac].push_back(std::move(a.ip));
    std::vector<std::pair<DeviceRow, std::vector<std::string>>> out;
    out.reserve(all.devices.size());
    for (auto& row : all.devices) {
        auto ips = std::move(addresses[row.mac]);
        out.emplace_back(std::move(row), std::move(ips));
    }
    return out;
}

std::vector<DeviceRow> SqliteStateReader::devicesUsing(const std::string& mudUrl)
{
    return m_reader.devicesUsing(mudUrl);
}

std::vector<StateChange> SqliteStateReader::history(const std::string& mac, std::size_t limit)
{
    return m_reader.history(mac, limit);
}

std::vector<AddressRow> SqliteStateReader::addresses(const std::string& mac) { return m_reader.addresses(mac); }

std::optional<PendingUrlChangeRow> SqliteStateReader::pendingUrlChange(const std::string& mac)
{
    return m_reader.pendingUrlChange(mac);
}

std::vector<PendingSignerRow> SqliteStateReader::pendingSigners() { return m_reader.pendingSigners(); }

AuditPage SqliteStateReader::audit(const AuditQuery& query) { return m_reader.audit(query); }

} // namespace mudguard::controller
