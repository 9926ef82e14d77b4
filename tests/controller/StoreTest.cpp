#include "mudguard/controller/Store.h"

#include <atomic>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "TestSupport.h"
#include "store/Migrations.h"
#include "store/Sqlite.h"

using namespace std::chrono_literals;

namespace mudguard::controller {
namespace {

std::string macOf(int i)
{
    return fmt::format("02:00:00:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
}

// A raw connection, as an operator with the sqlite3 shell would have.
struct RawDb {
    sqlite3* db = nullptr;
    explicit RawDb(const std::filesystem::path& p) { sqlite3_open(p.c_str(), &db); }
    ~RawDb() { sqlite3_close(db); }
    int exec(const std::string& sql, std::string* err = nullptr)
    {
        char* msg = nullptr;
        int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
        if (err)
            *err = msg ? msg : "";
        sqlite3_free(msg);
        return rc;
    }
    std::string text(const std::string& sql)
    {
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
        std::string out;
        if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return out;
    }
};

class StoreTest : public ::testing::Test {
protected:
    StoreOptions options()
    {
        StoreOptions o;
        o.clock = [this] { return m_now; };
        return o;
    }
    void advance(std::chrono::milliseconds d) { m_now += d; }

    test::TempDir m_dir { "mudguard-store" };
    std::filesystem::path m_file = m_dir.path() / "state.db";
    Timestamp m_now = Timestamp(1'700'000'000'000ms);
};

DeviceRow deviceRow(const std::string& mac, DeviceState st = DeviceState::Pending)
{
    DeviceRow d;
    d.mac = mac;
    d.state = st;
    d.source = DeviceSource::Dhcp;
    d.mudUrl = "https://example.com/lamp.json";
    return d;
}

TEST_F(StoreTest, CreatesAPrivateWalDatabaseWithTheCurrentSchema)
{
    {
        Store s(m_file, options());
        EXPECT_EQ(s.schemaVersion(), Store::kSchemaVersion);
        EXPECT_EQ(s.migratedFrom(), 0);
        EXPECT_EQ(s.integrityCheck(), "ok");
    }
    struct stat st { };
    ASSERT_EQ(::stat(m_file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    RawDb raw(m_file);
    EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
    Store again(m_file, options());
    EXPECT_EQ(again.migratedFrom(), Store::kSchemaVersion);
}

TEST_F(StoreTest, DeviceRoundTripWithStoreTimestamps)
{
    Store s(m_file, options());
    auto d = deviceRow("02:00:00:00:00:01");
    d.policyId = "p1";
    d.localOverride = std::string("{\"ietf-mud:mud\":{}}\0tail", 24);
    s.putDevice(d);
    auto got = s.device("02:00:00:00:00:01");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->mudUrl, d.mudUrl);
    EXPECT_EQ(got->policyId, "p1");
    EXPECT_EQ(got->localOverride, d.localOverride);
    EXPECT_EQ(got->createdAt, m_now);
    EXPECT_EQ(got->stateSince, m_now);
    EXPECT_EQ(got->updatedAt, m_now);
    EXPECT_FALSE(s.device("02:00:00:00:00:02"));

    auto created = m_now;
    advance(5s);
    d.policyId = "p2"; // same state: stateSince stays
    s.putDevice(d);
    got = s.device(d.mac);
    EXPECT_EQ(got->createdAt, created);
    EXPECT_EQ(got->stateSince, created);
    EXPECT_EQ(got->updatedAt, m_now);
    EXPECT_EQ(got->policyId, "p2");
}

TEST_F(StoreTest, StateChangesAreTimestampedAndKeptInHistory)
{
    Store s(m_file, options());
    const std::string mac = "02:00:00:00:00:01";
    s.putDevice(deviceRow(mac));
    advance(1s);
    s.setDeviceState(mac, DeviceState::Fetching);
    advance(1s);
    s.setDeviceState(mac, DeviceState::Failed, "signature does not verify");
    s.setDeviceState(mac, DeviceState::Failed, "signature does not verify"); // no change
    advance(1s);
    auto d = deviceRow(mac, DeviceState::Enforced);
    s.putDevice(d);
    auto got = s.device(mac);
    EXPECT_EQ(got->state, DeviceState::Enforced);
    EXPECT_EQ(got->stateSince, m_now);

    auto h = s.history(mac);
    ASSERT_EQ(h.size(), 4u);
    EXPECT_FALSE(h[0].from);
    EXPECT_EQ(h[0].to, DeviceState::Pending);
    EXPECT_EQ(h[1].from, DeviceState::Pending);
    EXPECT_EQ(h[1].to, DeviceState::Fetching);
    EXPECT_EQ(h[2].to, DeviceState::Failed);
    EXPECT_EQ(h[2].reason, "signature does not verify");
    EXPECT_EQ(h[3].from, DeviceState::Failed);
    EXPECT_EQ(h[3].to, DeviceState::Enforced);
    EXPECT_EQ(h[3].at, m_now);
    EXPECT_EQ(s.history(mac, 2).size(), 2u);
    EXPECT_EQ(s.history(mac, 2)[1].to, DeviceState::Enforced);
    EXPECT_THROW(s.setDeviceState("02:00:00:00:00:99", DeviceState::Failed), std::invalid_argument);

    auto counts = s.deviceCountByState();
    EXPECT_EQ(counts[DeviceState::Enforced], 1u);
    EXPECT_EQ(counts.count(DeviceState::Pending), 0u);
}

TEST_F(StoreTest, HistoryIsCappedPerDevice)
{
    Store s(m_file, options());
    const std::string mac = "02:00:00:00:00:01";
    s.putDevice(deviceRow(mac));
    {
        auto tx = s.transaction();
        for (std::size_t i = 0; i < kMaxHistoryPerDevice + 50; ++i)
            s.setDeviceState(mac, i % 2 ? DeviceState::Fetching : DeviceState::Failed, fmt::format("round {}", i));
        tx.commit();
    }
    auto h = s.history(mac, 10'000);
    ASSERT_EQ(h.size(), kMaxHistoryPerDevice);
    EXPECT_EQ(h.back().reason, fmt::format("round {}", kMaxHistoryPerDevice + 49));
}

TEST_F(StoreTest, MacsAreCheckedAndCanonical)
{
    EXPECT_EQ(canonicalMac("02-AA-bb-00-00-0F"), "02:aa:bb:00:00:0f");
    EXPECT_EQ(canonicalMac("02:aa:bb:00:00:0f"), "02:aa:bb:00:00:0f");
    EXPECT_FALSE(canonicalMac("02:aa:bb:00:00"));
    EXPECT_FALSE(canonicalMac("02:aa-bb:00:00:0f"));
    EXPECT_FALSE(canonicalMac("02:aa:bb:00:00:0g"));
    EXPECT_EQ(canonicalIp("2001:DB8:0::1"), "2001:db8::1");
    EXPECT_EQ(canonicalIp("192.0.2.1"), "192.0.2.1");
    EXPECT_FALSE(canonicalIp("192.0.2.256"));
    EXPECT_FALSE(canonicalIp("host.example"));
    Store s(m_file, options());
    EXPECT_THROW(s.putDevice(deviceRow("02:AA:00:00:00:01")), std::invalid_argument);
    EXPECT_THROW(s.putBinding("nonsense", "https://x", DeviceSource::Dhcp), std::invalid_argument);
    EXPECT_THROW(s.putBinding("02:00:00:00:00:01", "", DeviceSource::Dhcp), std::invalid_argument);
}

TEST_F(StoreTest, AddressesTrackFirstAndLastSeen)
{
    Store s(m_file, options());
    const std::string mac = "02:00:00:00:00:01";
    s.putDevice(deviceRow(mac));
    s.touchAddress(mac, "192.0.2.10");
    auto first = m_now;
    advance(10s);
    s.touchAddress(mac, "192.0.2.10");
    s.touchAddress(mac, "2001:DB8::10");
    auto a = s.addresses(mac);
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[0].ip, "192.0.2.10");
    EXPECT_EQ(a[0].family, 4);
    EXPECT_EQ(a[0].firstSeen, first);
    EXPECT_EQ(a[0].lastSeen, m_now);
    EXPECT_EQ(a[1].ip, "2001:db8::10");
    EXPECT_EQ(a[1].family, 6);
    EXPECT_EQ(s.macsForAddress("2001:db8:0::10"), std::vector<std::string> { mac });
    EXPECT_EQ(s.removeAddressesSeenBefore(mac, m_now), 0u);
    advance(1s);
    s.touchAddress(mac, "192.0.2.10");
    EXPECT_EQ(s.removeAddressesSeenBefore(mac, m_now), 1u);
    EXPECT_TRUE(s.removeAddress(mac, "192.0.2.10"));
    EXPECT_TRUE(s.addresses(mac).empty());
    EXPECT_THROW(s.touchAddress(mac, "not-an-ip"), std::invalid_argument);
    try {
        s.touchAddress("02:00:00:00:00:77", "192.0.2.77");
        ADD_FAILURE() << "an address of an unknown device was accepted";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.code(), SQLITE_CONSTRAINT_FOREIGNKEY) << e.what();
    }
}

TEST_F(StoreTest, BindingsKeepTheirAgeUntilTheUrlChanges)
{
    Store s(m_file, options());
    const std::string mac = "02:00:00:00:00:01";
    s.putBinding(mac, "https://example.com/a.json", DeviceSource::Dhcp);
    auto bound = m_now;
    advance(1h);
    s.putBinding(mac, "https://example.com/a.json", DeviceSource::Dhcp);
    auto b = s.binding(mac);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->boundAt, bound);
    EXPECT_EQ(b->updatedAt, m_now);
    advance(1h);
    s.putBinding(mac, "https://example.com/b.json", DeviceSource::Lldp);
    b = s.binding(mac);
    EXPECT_EQ(b->mudUrl, "https://example.com/b.json");
    EXPECT_EQ(b->source, DeviceSource::Lldp);
    EXPECT_EQ(b->boundAt, m_now);
    EXPECT_FALSE(b->unbindAfter);
}

TEST_F(StoreTest, UnbindingWaitsForTheGraceTime)
{
    Store s(m_file, options());
    s.putBinding("02:00:00:00:00:01", "https://example.com/a.json", DeviceSource::Dhcp);
    s.putBinding("02:00:00:00:00:02", "https://example.com/a.json", DeviceSource::Dhcp);
    s.scheduleUnbind("02:00:00:00:00:01", m_now + 10min);
    EXPECT_TRUE(s.bindingsToUnbind(m_now).empty());
    auto due = s.bindingsToUnbind(m_now + 10min);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].mac, "02:00:00:00:00:01");
    // The device came back before the grace time ended.
    s.putBinding("02:00:00:00:00:01", "https://example.com/a.json", DeviceSource::Dhcp);
    EXPECT_TRUE(s.bindingsToUnbind(m_now + 1h).empty());
    EXPECT_TRUE(s.removeBinding("02:00:00:00:00:02"));
    EXPECT_FALSE(s.removeBinding("02:00:00:00:00:02"));
    EXPECT_EQ(s.bindings().size(), 1u);
}

TEST_F(StoreTest, RemovingADeviceRemovesEverythingAboutIt)
{
    Store s(m_file, options());
    const std::string mac = "02:00:00:00:00:01";
    s.putDevice(deviceRow(mac));
    s.touchAddress(mac, "192.0.2.1");
    s.putBinding(mac, "https://example.com/a.json", DeviceSource::Dhcp);
    s.putPendingUrlChange({ mac, "https://example.com/a.json", "https://other.example/b.json", "new signer", {} });
    s.appendAudit({ .event = "DEVICE_JOINED", .mac = mac });
    EXPECT_TRUE(s.removeDevice(mac));
    EXPECT_FALSE(s.device(mac));
    EXPECT_TRUE(s.addresses(mac).empty());
    EXPECT_TRUE(s.history(mac).empty());
    EXPECT_FALSE(s.binding(mac));
    EXPECT_FALSE(s.pendingUrlChange(mac));
    EXPECT_EQ(s.audit({ .device = mac }).entries.size(), 1u) << "the audit log keeps the record";
    EXPECT_FALSE(s.removeDevice(mac));
}

TEST_F(StoreTest, MudCacheKeepsTheLastKnownGoodFile)
{
    Store s(m_file, options());
    MudCacheRow r;
    r.url = "https://example.com/lamp.json";
    r.hash = "sha256:00ff";
    r.signer = "CN=Lamp Maker";
    r.fetchedAt = m_now;
    r.validUntil = m_now + 48h;
    r.etag = "\"abc\"";
    r.lastModified = "Tue, 02 Jan 2024 10:00:00 GMT";
    r.document = std::string("{\"ietf-mud:mud\":{}}");
    r.signature = std::string("\x30\x82\x00\x01\x00", 5);
    s.putMudCache(r);
    advance(1h);
    s.recordMudError(r.url, "connection refused");
    auto got = s.mudCache(r.url);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->document, r.document);
    EXPECT_EQ(got->signature, r.signature);
    EXPECT_EQ(got->validUntil, r.validUntil);
    EXPECT_EQ(got->etag, r.etag);
    EXPECT_TRUE(got->supported);
    EXPECT_EQ(got->lastError, "connection refused");
    EXPECT_EQ(got->lastErrorAt, m_now);
    s.recordMudError("https://example.com/never.json", "not found");
    auto all = s.mudCacheEntries();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].hash, "sha256:00ff");
    EXPECT_FALSE(all[0].document) << "the listing leaves the files out";
    EXPECT_EQ(all[1].lastError, "not found");
    EXPECT_TRUE(s.removeMudCache("https://example.com/never.json"));
}

TEST_F(StoreTest, SignersWaitForAnAdminDecision)
{
    Store s(m_file, options());
    s.acceptSigner("example.com", "fp:aa", "first-use");
    s.putPendingSigner({ "example.com", "fp:bb", "https://example.com/lamp.json", {}, "new certificate" });
    s.putPendingSigner({ "other.example", "fp:cc", "https://other.example/x.json", {}, "" });
    EXPECT_TRUE(s.isSignerAccepted("example.com", "fp:aa"));
    EXPECT_FALSE(s.isSignerAccepted("example.com", "fp:bb"));
    ASSERT_EQ(s.pendingSigners().size(), 2u);
    s.acceptSigner("example.com", "fp:bb", "admin-alice");
    EXPECT_TRUE(s.isSignerAccepted("example.com", "fp:bb"));
    EXPECT_EQ(s.signers("example.com").size(), 2u);
    EXPECT_EQ(s.signers("example.com")[1].acceptedBy, "admin-alice");
    EXPECT_TRUE(s.removePendingSigner("other.example", "fp:cc"));
    EXPECT_TRUE(s.pendingSigners().empty());
    EXPECT_TRUE(s.removeSigner("example.com", "fp:aa"));
    EXPECT_FALSE(s.isSignerAccepted("example.com", "fp:aa"));
}

TEST_F(StoreTest, OnePendingUrlChangePerDevice)
{
    Store s(m_file, options());
    const std::string mac = "02:00:00:00:00:01";
    s.putDevice(deviceRow(mac));
    s.putPendingUrlChange({ mac, "https://a.example/1.json", "https://b.example/1.json", "other signer", {} });
    advance(1s);
    s.putPendingUrlChange({ mac, "https://a.example/1.json", "https://c.example/1.json", "other signer", {} });
    ASSERT_EQ(s.pendingUrlChanges().size(), 1u);
    auto taken = s.takePendingUrlChange(mac);
    ASSERT_TRUE(taken);
    EXPECT_EQ(taken->newUrl, "https://c.example/1.json");
    EXPECT_EQ(taken->requestedAt, m_now);
    EXPECT_FALSE(s.takePendingUrlChange(mac));
}

TEST_F(StoreTest, AuditLogPagesBySeqAndDevice)
{
    Store s(m_file, options());
    for (int i = 0; i < 25; ++i) {
        auto seq = s.appendAudit({ .event = "POLICY_APPLIED",
            .mac = macOf(i % 2),
            .mudUrl = "https://example.com/lamp.json",
            .reason = fmt::format("round {}", i),
            .detail = fmt::format("{{\"round\":{}}}", i) });
        EXPECT_EQ(seq, i + 1);
    }
    auto p1 = s.audit({ .since = 0, .limit = 10 });
    ASSERT_EQ(p1.entries.size(), 10u);
    EXPECT_TRUE(p1.more);
    EXPECT_EQ(p1.next, 10);
    EXPECT_EQ(p1.entries[0].detail, "{\"round\":0}");
    EXPECT_EQ(p1.entries[0].at, m_now);
    auto p3 = s.audit({ .since = 20, .limit = 10 });
    EXPECT_EQ(p3.entries.size(), 5u);
    EXPECT_FALSE(p3.more);
    EXPECT_EQ(p3.next, 25);
    auto empty = s.audit({ .since = 25 });
    EXPECT_TRUE(empty.entries.empty());
    EXPECT_EQ(empty.next, 25);

    auto dev = s.audit({ .since = 0, .device = macOf(1), .limit = 5 });
    ASSERT_EQ(dev.entries.size(), 5u);
    for (auto& e : dev.entries)
        EXPECT_EQ(e.mac, macOf(1));
    EXPECT_EQ(dev.entries[0].seq, 2);
    EXPECT_TRUE(dev.more);
    auto dev2 = s.audit({ .since = dev.next, .device = macOf(1), .limit = 100 });
    EXPECT_EQ(dev2.entries.size(), 7u);
    EXPECT_EQ(s.audit({ .limit = 100'000 }).entries.size(), 25u);
    EXPECT_EQ(s.lastAuditSeq(), 25);
}

TEST_F(StoreTest, AuditDetailMustBeJson)
{
    Store s(m_file, options());
    try {
        s.appendAudit({ .event = "ADMIN_ACTION", .detail = "{not json" });
        ADD_FAILURE() << "invalid JSON was stored";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.code(), SQLITE_CONSTRAINT_CHECK) << e.what();
    }
    EXPECT_EQ(s.appendAudit({ .event = "ADMIN_ACTION", .detail = "" }), 1);
    EXPECT_EQ(s.audit({}).entries[0].detail, "{}");
    EXPECT_THROW(s.appendAudit({ .event = "" }), std::invalid_argument);
}

TEST_F(StoreTest, AuditLogIsAppendOnlyEvenForRawSql)
{
    {
        Store s(m_file, options());
        s.appendAudit({ .event = "DEVICE_JOINED", .mac = "02:00:00:00:00:01", .reason = "dhcp" });
        s.appendAudit({ .event = "POLICY_APPLIED", .mac = "02:00:00:00:00:01" });
    }
    RawDb raw(m_file);
    std::string err;
    EXPECT_NE(raw.exec("UPDATE audit_log SET reason = 'forged' WHERE seq = 1", &err), SQLITE_OK);
    EXPECT_NE(err.find("append-only"), std::string::npos) << err;
    EXPECT_NE(raw.exec("DELETE FROM audit_log WHERE seq = 2", &err), SQLITE_OK);
    EXPECT_NE(err.find("append-only"), std::string::npos) << err;
    EXPECT_NE(raw.exec("DELETE FROM audit_log", &err), SQLITE_OK);
    EXPECT_NE(raw.exec("INSERT OR REPLACE INTO audit_log (seq, at, event) VALUES (1, 0, 'FORGED')", &err), SQLITE_OK);
    EXPECT_EQ(raw.text("SELECT count(*) FROM audit_log"), "2");
    EXPECT_EQ(raw.text("SELECT reason FROM audit_log WHERE seq = 1"), "dhcp");
    EXPECT_EQ(raw.text("SELECT event FROM audit_log WHERE seq = 1"), "DEVICE_JOINED");
}

TEST_F(StoreTest, TransactionCommitsAllOrNothing)
{
    Store s(m_file, options());
    {
        auto tx = s.transaction();
        s.putDevice(deviceRow("02:00:00:00:00:01"));
        s.putBinding("02:00:00:00:00:01", "https://example.com/a.json", DeviceSource::Dhcp);
        EXPECT_THROW(s.transaction(), std::logic_error);
        // no commit: rolled back
    }
    EXPECT_FALSE(s.device("02:00:00:00:00:01"));
    EXPECT_FALSE(s.binding("02:00:00:00:00:01"));
    {
        auto tx = s.transaction();
        s.putDevice(deviceRow("02:00:00:00:00:01"));
        s.putBinding("02:00:00:00:00:01", "https://example.com/a.json", DeviceSource::Dhcp);
        // A failing write inside the transaction undoes itself and leaves the rest.
        EXPECT_THROW(s.touchAddress("02:00:00:00:00:99", "192.0.2.9"), StoreError);
        tx.commit();
    }
    EXPECT_TRUE(s.device("02:00:00:00:00:01"));
    EXPECT_TRUE(s.binding("02:00:00:00:00:01"));
}

TEST_F(StoreTest, ReaderSeesOnlyCommittedData)
{
    Store s(m_file, options());
    s.putDevice(deviceRow("02:00:00:00:00:01"));
    StoreReader r(m_file);
    EXPECT_EQ(r.devices().size(), 1u);
    {
        auto tx = s.transaction();
        s.putDevice(deviceRow("02:00:00:00:00:02"));
        EXPECT_EQ(r.devices().size(), 1u);
        tx.commit();
    }
    EXPECT_EQ(r.devices().size(), 2u);
    EXPECT_EQ(r.device("02:00:00:00:00:02")->mudUrl, "https://example.com/lamp.json");
}

TEST_F(StoreTest, ReaderRefusesADatabaseWithoutTheSchema)
{
    {
        RawDb raw(m_file);
        raw.exec("CREATE TABLE t (a)");
    }
    EXPECT_THROW(StoreReader r(m_file), StoreError);
    EXPECT_THROW(StoreReader r(m_dir.path() / "missing.db"), StoreError);
}

TEST_F(StoreTest, ConcurrentReaderAlwaysSeesWholeTransactions)
{
    constexpr int kRounds = 300;
    Store s(m_file, options());
    std::atomic<bool> writerDone { false };
    std::atomic<int> readerFailures { 0 };
    std::atomic<int> reads { 0 };
    std::string firstFailure;
    std::thread reader([&] {
        try {
            StoreReader r(m_file);
            std::size_t lastSeen = 0;
            while (true) {
                bool finished = writerDone.load();
                std::size_t devices, bindings;
                std::int64_t audits;
                {
                    auto snap = r.snapshot();
                    devices = r.devices().size();
                    bindings = r.bindings().size();
                    audits = r.lastAuditSeq();
                }
                ++reads;
                // Each writer transaction adds one of each: a snapshot never sees half of one.
                if (devices != bindings || static_cast<std::int64_t>(devices) != audits || devices < lastSeen) {
                    if (readerFailures++ == 0)
                        firstFailure = fmt::format(
                            "devices={} bindings={} audits={} last={}", devices, bindings, audits, lastSeen);
                }
                lastSeen = devices;
                if (finished) {
                    if (devices != static_cast<std::size_t>(kRounds) && readerFailures++ == 0)
                        firstFailure = fmt::format("final count {}", devices);
                    break;
                }
            }
        } catch (const std::exception& e) {
            if (readerFailures++ == 0)
                firstFailure = e.what();
        }
    });
    for (int i = 0; i < kRounds; ++i) {
        auto tx = s.transaction();
        s.putDevice(deviceRow(macOf(i)));
        s.putBinding(macOf(i), "https://example.com/a.json", DeviceSource::Dhcp);
        s.appendAudit({ .event = "DEVICE_JOINED", .mac = macOf(i) });
        tx.commit();
    }
    writerDone = true;
    reader.join();
    EXPECT_EQ(readerFailures.load(), 0) << firstFailure;
    EXPECT_GT(reads.load(), 0);
}

TEST_F(StoreTest, ColdStartLoadsEverythingInOneSnapshot)
{
    constexpr int kDevices = 10'000;
    Store s(m_file, options());
    {
        auto tx = s.transaction();
        for (int i = 0; i < kDevices; ++i) {
            auto d = deviceRow(macOf(i), DeviceState::Enforced);
            d.policyId = fmt::format("p{}", i % 50);
            s.putDevice(d);
            s.putBinding(macOf(i), fmt::format("https://maker{}.example/dev.json", i % 50), DeviceSource::Dhcp);
            s.touchAddress(macOf(i), fmt::format("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff));
            s.touchAddress(macOf(i), fmt::format("2001:db8::{:x}", i));
        }
        tx.commit();
    }
    auto all = s.loadAll();
    ASSERT_EQ(all.devices.size(), static_cast<std::size_t>(kDevices));
    ASSERT_EQ(all.bindings.size(), static_cast<std::size_t>(kDevices));
    ASSERT_EQ(all.addresses.size(), static_cast<std::size_t>(2 * kDevices));
    EXPECT_EQ(all.devices[1234].mac, macOf(1234));
    EXPECT_EQ(all.devices[1234].policyId, "p34");
    EXPECT_EQ(all.bindings[1234].mudUrl, "https://maker34.example/dev.json");
    EXPECT_EQ(all.addresses[2 * 1234].mac, macOf(1234));
    StoreReader r(m_file);
    EXPECT_EQ(r.loadAll().devices.size(), static_cast<std::size_t>(kDevices));
}

// ---- migrations, with a made-up history of steps ----

constexpr sqlite::Migration kStepsV2[] = {
    { 1, "table t", "CREATE TABLE t (a INTEGER NOT NULL);" },
    { 2, "column b", "ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'two';" },
};
constexpr sqlite::Migration kStepsV3Broken[] = {
    kStepsV2[0],
    kStepsV2[1],
    { 3, "broken", "CREATE TABLE x (a); CREATE TABLE t2 (;" },
};

TEST_F(StoreTest, MigrationsKeepDataAndStopAtAFailingStep)
{
    sqlite::Connection c(m_file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 1000ms);
    EXPECT_EQ(sqlite::migrate(c, std::span(kStepsV2).first(1)), 0);
    c.exec("INSERT INTO t (a) VALUES (1), (2)");
    EXPECT_EQ(sqlite::migrate(c, kStepsV2), 1);
    EXPECT_EQ(c.queryInt("PRAGMA user_version"), 2);
    EXPECT_EQ(c.queryText("SELECT group_concat(a || b, ',') FROM t"), "1two,2two");
    EXPECT_EQ(sqlite::migrate(c, kStepsV2), 2); // nothing to do

    try {
        sqlite::migrate(c, kStepsV3Broken);
        ADD_FAILURE() << "a broken step was applied";
    } catch (const StoreError& e) {
        EXPECT_NE(
            std::string(e.what()).find("schema version 3 (broken) failed, it stays at version 2"), std::string::npos)
            << e.what();
    }
    EXPECT_EQ(c.queryInt("PRAGMA user_version"), 2);
    EXPECT_EQ(c.queryInt("SELECT count(*) FROM sqlite_schema WHERE name = 'x'"), 0) << "half a step was kept";
}

TEST_F(StoreTest, RefusesADatabaseFromANewerVersion)
{
    {
        RawDb raw(m_file);
        raw.exec("PRAGMA user_version = 99");
    }
    try {
        Store s(m_file, options());
        ADD_FAILURE() << "a newer schema was opened";
    } catch (const StoreError& e) {
        EXPECT_NE(std::string(e.what()).find("schema version 99 is newer"), std::string::npos) << e.what();
    }
}

TEST_F(StoreTest, RealSchemaMigratesFromEmpty)
{
    sqlite::Connection c(m_file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 1000ms);
    EXPECT_EQ(sqlite::migrate(c, sqlite::storeMigrations()), 0);
    EXPECT_EQ(c.queryInt("PRAGMA user_version"), Store::kSchemaVersion);
    EXPECT_EQ(sqlite::storeMigrations().back().version, Store::kSchemaVersion);
    for (const char* table : { "devices", "device_history", "addresses", "bindings", "mud_cache", "signers",
             "pending_signers", "pending_url_changes", "audit_log" })
        EXPECT_EQ(
            c.queryInt(fmt::format("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '{}'", table)),
            1)
            << table;
}

TEST_F(StoreTest, ASchemaOneDatabaseWithDataMigratesToTheCurrentSchema)
{
    // A database as mudguard 0.1 left it: schema 1 only, a device leaving, a cached file.
    {
        sqlite::Connection c(m_file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 1000ms);
        ASSERT_EQ(sqlite::migrate(c, sqlite::storeMigrations().first(1)), 0);
        c.exec("INSERT INTO devices (mac, state, reason, source, mud_url, policy_id, created_at, state_since, "
               "updated_at) VALUES ('02:00:00:00:00:01', 'enforced', '', 'dhcp', 'https://example.com/lamp.json', "
               "'p1', 1, 1, 1)");
        c.exec("INSERT INTO bindings (mac, mud_url, source, bound_at, updated_at, unbind_after) VALUES "
               "('02:00:00:00:00:01', 'https://example.com/lamp.json', 'dhcp', 1, 1, 5000)");
        c.exec("INSERT INTO mud_cache (url, hash, document) VALUES ('https://example.com/lamp.json', 'sha256:x', "
               "'{}')");
    }
    Store s(m_file, options());
    EXPECT_EQ(s.migratedFrom(), 1);
    EXPECT_EQ(s.schemaVersion(), Store::kSchemaVersion);
    auto d = s.device("02:00:00:00:00:01");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->state, DeviceState::Enforced);
    EXPECT_FALSE(d->failureStage);
    ASSERT_TRUE(d->leaveAt) << "the binding's grace time became the device's";
    EXPECT_EQ(d->leaveAt->time_since_epoch().count(), 5000);
    auto saved = s.load();
    ASSERT_EQ(saved.documents.size(), 1u);
    EXPECT_EQ(saved.documents[0].cacheValidityHours, 48u);
    EXPECT_TRUE(saved.documents[0].chain.empty());
    // The new columns take writes.
    auto row = *d;
    row.state = DeviceState::Failed;
    row.failureStage = FailureStage::Store;
    s.putDevice(row);
    EXPECT_EQ(s.device(row.mac)->failureStage, FailureStage::Store);
}

TEST_F(StoreTest, ABatchIsWrittenWholeOrNotAtAll)
{
    Store s(m_file, options());
    StoreBatch ok;
    ok.add(StoreBatch::PutDevice { deviceRow("02:00:00:00:00:01") })
        .add(StoreBatch::PutBinding { "02:00:00:00:00:01", "https://example.com/lamp.json", DeviceSource::Dhcp })
        .add(StoreBatch::TouchAddress { "02:00:00:00:00:01", "192.0.2.1" })
        .add(
            StoreBatch::AppendAudit { AuditEntry { 0, {}, "DEVICE_JOINED", "02:00:00:00:00:01", "", "joined", "{}" } });
    s.commit(ok);
    EXPECT_TRUE(s.device("02:00:00:00:00:01"));
    EXPECT_EQ(s.addresses("02:00:00:00:00:01").size(), 1u);
    EXPECT_EQ(s.lastAuditSeq(), 1);
    // An address of an unknown device violates a constraint at the last step: nothing of it stays.
    StoreBatch bad;
    bad.add(StoreBatch::PutDevice { deviceRow("02:00:00:00:00:02") })
        .add(StoreBatch::AppendAudit { AuditEntry { 0, {}, "DEVICE_JOINED", "02:00:00:00:00:02", "", "joined", "{}" } })
        .add(StoreBatch::TouchAddress { "02:00:00:00:00:03", "192.0.2.3" });
    EXPECT_THROW(s.commit(bad), StoreError);
    EXPECT_FALSE(s.device("02:00:00:00:00:02"));
    EXPECT_EQ(s.lastAuditSeq(), 1);
}

} // namespace
} // namespace mudguard::controller
