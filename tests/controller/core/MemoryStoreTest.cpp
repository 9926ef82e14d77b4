// The in-memory store the core's tests run on: the SQLite store's semantics where the core relies
// on them, all-or-nothing batches, and the refusals tests inject.

#include "MemoryStore.h"

#include <gtest/gtest.h>

#include "mudguard/controller/Store.h"

#include "TestSupport.h"

namespace mudguard::controller::test {
namespace {

using namespace std::chrono_literals;

struct MemoryStoreTest : ::testing::Test {
    Timestamp now = Timestamp(1'700'000'000'000ms);
    MemoryStore store { [this] { return now; } };

    static DeviceRow row(const std::string& mac, DeviceState state, std::string reason = {})
    {
        DeviceRow r;
        r.mac = mac;
        r.state = state;
        r.reason = std::move(reason);
        r.mudUrl = "https://example.com/a.json";
        return r;
    }
    static StoreBatch::AppendAudit audit(std::string event)
    {
        AuditEntry e;
        e.event = std::move(event);
        return { e };
    }
};

TEST_F(MemoryStoreTest, DeviceHistoryFollowsStateAndReason)
{
    const std::string mac = "02:00:00:00:00:01";
    store.commit(StoreBatch().add(StoreBatch::PutDevice { row(mac, DeviceState::Fetching) }));
    now += 1s;
    store.commit(StoreBatch().add(StoreBatch::PutDevice { row(mac, DeviceState::Fetching) }));
    now += 1s;
    store.commit(StoreBatch().add(StoreBatch::PutDevice { row(mac, DeviceState::Enforced) }));
    auto d = store.device(mac);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->createdAt, Timestamp(1'700'000'000'000ms));
    EXPECT_EQ(d->stateSince, now);
    auto history = store.reader()->history(mac, kMaxHistoryPerDevice);
    ASSERT_EQ(history.size(), 2u);
    EXPECT_FALSE(history[0].from);
    EXPECT_EQ(history[1].from, DeviceState::Fetching);
    EXPECT_EQ(history[1].to, DeviceState::Enforced);
}

TEST_F(MemoryStoreTest, RemovingADeviceTakesItsRowsWithIt)
{
    const std::string mac = "02:00:00:00:00:02";
    store.commit(StoreBatch()
                     .add(StoreBatch::PutDevice { row(mac, DeviceState::Enforced) })
                     .add(StoreBatch::PutBinding { mac, "https://example.com/a.json", DeviceSource::Dhcp })
                     .add(StoreBatch::TouchAddress { mac, "192.168.1.2" })
                     .add(StoreBatch::PutPendingUrlChange { PendingUrlChangeRow {
                         mac, "https://example.com/a.json", "https://example.com/b.json", "", {} } }));
    EXPECT_EQ(store.addressesOf(mac), std::vector<std::string> { "192.168.1.2" });
    store.commit(StoreBatch().add(StoreBatch::RemoveDevice { mac }));
    EXPECT_FALSE(store.device(mac));
    EXPECT_TRUE(store.addressesOf(mac).empty());
    EXPECT_FALSE(store.contents().bindings.count(mac));
    EXPECT_FALSE(store.contents().urlChanges.count(mac));
    EXPECT_TRUE(store.reader()->history(mac, 10).empty());
}

TEST_F(MemoryStoreTest, BindingKeepsItsTimeForTheSameUrlAndClearsTheUnbind)
{
    const std::string mac = "02:00:00:00:00:03";
    store.commit(StoreBatch().add(StoreBatch::PutBinding { mac, "https://example.com/a.json", DeviceSource::Dhcp }));
    const Timestamp first = now;
    now += 5s;
    store.commit(StoreBatch().add(StoreBatch::PutBinding { mac, "https://example.com/a.json", DeviceSource::Dhcp }));
    EXPECT_EQ(store.contents().bindings.at(mac).boundAt, first);
    EXPECT_EQ(store.contents().bindings.at(mac).updatedAt, now);
    store.commit(StoreBatch().add(StoreBatch::PutBinding { mac, "https://example.com/b.json", DeviceSource::Dhcp }));
    EXPECT_EQ(store.contents().bindings.at(mac).boundAt, now);
}

TEST_F(MemoryStoreTest, ABatchLandsWholeOrNotAtAll)
{
    const std::string mac = "02:00:00:00:00:04";
    // An address of an unknown device violates the foreign key: nothing of the batch is written.
    StoreBatch b;
    b.add(audit("DEVICE_JOINED")).add(StoreBatch::TouchAddress { mac, "192.168.1.4" });
    EXPECT_THROW(store.commit(b), StoreError);
    EXPECT_TRUE(store.contents().audit.empty());
    EXPECT_THROW(
        store.commit(StoreBatch().add(StoreBatch::PutDevice { row("02:00:00:00:00:0A", DeviceState::Pending) })),
        std::invalid_argument);
    AuditEntry bad;
    bad.event = "X";
    bad.detail = "{not json";
    EXPECT_THROW(store.commit(StoreBatch().add(StoreBatch::AppendAudit { bad })), StoreError);
    EXPECT_EQ(store.committed(), 0u);
}

TEST_F(MemoryStoreTest, RefusalsAreInjectedOnceAtTheNthCommitOrUntilRecovered)
{
    store.failAt(2);
    EXPECT_NO_THROW(store.commit(StoreBatch().add(audit("A"))));
    try {
        store.commit(StoreBatch().add(audit("B")));
        ADD_FAILURE() << "the second commit was not refused";
    } catch (const StoreError& e) {
        EXPECT_STREQ(e.what(), "database or disk is full");
        EXPECT_EQ(e.code(), 13);
    }
    EXPECT_NO_THROW(store.commit(StoreBatch().add(audit("C"))));
    store.failAlways();
    EXPECT_THROW(store.commit(StoreBatch().add(audit("D"))), StoreError);
    EXPECT_THROW(store.commit(StoreBatch().add(audit("E"))), StoreError);
    store.recover();
    EXPECT_NO_THROW(store.commit(StoreBatch().add(audit("F"))));
    ASSERT_EQ(store.contents().audit.size(), 3u);
    EXPECT_EQ(store.contents().audit[0].event, "A");
    EXPECT_EQ(store.contents().audit[1].event, "C");
    EXPECT_EQ(store.contents().audit[2].seq, 3);
    EXPECT_EQ(store.refused(), 3u);
}

TEST_F(MemoryStoreTest, LoadAndReaderSeeWhatWasCommitted)
{
    const std::string mac = "02:00:00:00:00:05";
    MudCacheRow doc;
    doc.url = "https://example.com/a.json";
    doc.document = "{}";
    doc.hash = "sha256:00";
    store.commit(StoreBatch()
                     .add(StoreBatch::PutDevice { row(mac, DeviceState::Enforced) })
                     .add(StoreBatch::TouchAddress { mac, "192.168.1.5" })
                     .add(StoreBatch::PutMudDocument { doc })
                     .add(StoreBatch::RecordMudError { "https://example.com/other.json", "refused" })
                     .add(StoreBatch::PutPendingSigner { PendingSignerRow { "example.com", "{}", doc.url, {}, "{}" } })
                     .add(StoreBatch::AcceptSigner { "example.com", "{}", "ops" })
                     .add(audit("POLICY_APPLIED")));
    auto saved = store.load();
    ASSERT_EQ(saved.devices.size(), 1u);
    ASSERT_EQ(saved.documents.size(), 1u); // the error row has no document
    EXPECT_EQ(saved.addresses.size(), 1u);
    EXPECT_EQ(saved.signers.size(), 1u);
    EXPECT_TRUE(saved.pendingSigners.empty()); // accepting drops it from the pending list
    auto reader = store.reader();
    auto page = reader->audit(AuditQuery { 0, std::nullopt, 10 });
    ASSERT_EQ(page.entries.size(), 1u);
    EXPECT_EQ(page.entries[0].event, "POLICY_APPLIED");
    EXPECT_EQ(reader->devicesWithAddresses().at(0).second, std::vector<std::string> { "192.168.1.5" });
}

// The same batches, the same answers as the SQLite store (where the core relies on them).
TEST_F(MemoryStoreTest, AnswersLikeTheSqliteStore)
{
    mudguard::test::TempDir dir("memory-store");
    StoreOptions options;
    options.clock = [this] { return now; };
    Store sqlite(dir.path() / "state.db", options);

    const std::string a = "02:00:00:00:00:01", b = "02:00:00:00:00:02";
    MudCacheRow doc;
    doc.url = "https://example.com/a.json";
    doc.document = "{}";
    doc.hash = "sha256:00";
    std::vector<StoreBatch> batches(8);
    batches[0]
        .add(StoreBatch::PutDevice { row(a, DeviceState::Fetching) })
        .add(StoreBatch::PutBinding { a, "https://example.com/a.json", DeviceSource::Dhcp })
        .add(StoreBatch::TouchAddress { a, "192.168.1.1" })
        .add(StoreBatch::TouchAddress { a, "2001:db8::1" })
        .add(audit("DEVICE_JOINED"));
    batches[1]
        .add(StoreBatch::PutDevice { row(a, DeviceState::Enforced) })
        .add(StoreBatch::PutMudDocument { doc })
        .add(StoreBatch::RecordMudError { doc.url, "timeout" })
        .add(StoreBatch::PutPendingUrlChange {
            PendingUrlChangeRow { a, doc.url, "https://example.com/b.json", "", {} } });
    // Rows of a device the store does not hold violate the foreign keys.
    batches[2].add(StoreBatch::TouchAddress { b, "192.168.1.2" });
    batches[3].add(
        StoreBatch::PutPendingUrlChange { PendingUrlChangeRow { b, "", "https://example.com/b.json", "", {} } });
    batches[4]
        .add(StoreBatch::PutDevice { row(b, DeviceState::Failed, "refused") })
        .add(StoreBatch::TouchAddress { b, "192.168.1.1" })
        .add(StoreBatch::PutPendingSigner { PendingSignerRow { "example.com", "{\"s\":1}", doc.url, {}, "{}" } })
        .add(StoreBatch::AcceptSigner { "example.com", "{\"s\":2}", "first-use" });
    batches[5]
        .add(StoreBatch::PutBinding { a, "https://example.com/a.json", DeviceSource::Dhcp })
        .add(StoreBatch::RemoveAddress { a, "2001:db8:0::1" })
        .add(StoreBatch::AcceptSigner { "example.com", "{\"s\":1}", "ops" })
        .add(StoreBatch::RemoveSigner { "example.com", "{\"s\":2}" });
    batches[6].add(StoreBatch::RemoveDevice { a }).add(StoreBatch::RemovePendingUrlChange { b });
    batches[7].add(StoreBatch::PutDevice { row(b, DeviceState::Failed, "refused again") });

    for (std::size_t i = 0; i < batches.size(); ++i) {
        SCOPED_TRACE(i);
        now += std::chrono::seconds(1);
        bool sqliteRefused = false, memoryRefused = false;
        try {
            sqlite.commit(batches[i]);
        } catch (const StoreError&) {
            sqliteRefused = true;
        }
        try {
            store.commit(batches[i]);
        } catch (const StoreError&) {
            memoryRefused = true;
        }
        EXPECT_EQ(memoryRefused, sqliteRefused);

        SavedState x = sqlite.load(), y = store.load();
        EXPECT_EQ(x.devices, y.devices);
        ASSERT_EQ(x.bindings.size(), y.bindings.size());
        for (std::size_t j = 0; j < x.bindings.size(); ++j) {
            EXPECT_EQ(x.bindings[j].mudUrl, y.bindings[j].mudUrl);
            EXPECT_EQ(x.bindings[j].boundAt, y.bindings[j].boundAt);
            EXPECT_EQ(x.bindings[j].updatedAt, y.bindings[j].updatedAt);
        }
        ASSERT_EQ(x.addresses.size(), y.addresses.size());
        for (std::size_t j = 0; j < x.addresses.size(); ++j) {
            EXPECT_EQ(x.addresses[j].mac, y.addresses[j].mac);
            EXPECT_EQ(x.addresses[j].ip, y.addresses[j].ip);
            EXPECT_EQ(x.addresses[j].family, y.addresses[j].family);
            EXPECT_EQ(x.addresses[j].firstSeen, y.addresses[j].firstSeen);
        }
        ASSERT_EQ(x.documents.size(), y.documents.size());
        for (std::size_t j = 0; j < x.documents.size(); ++j) {
            EXPECT_EQ(x.documents[j].lastError, y.documents[j].lastError);
            EXPECT_EQ(x.documents[j].document, y.documents[j].document);
        }
        ASSERT_EQ(x.signers.size(), y.signers.size());
        for (std::size_t j = 0; j < x.signers.size(); ++j)
            EXPECT_EQ(x.signers[j].signer, y.signers[j].signer);
        EXPECT_EQ(x.pendingSigners.size(), y.pendingSigners.size());
        ASSERT_EQ(x.pendingUrlChanges.size(), y.pendingUrlChanges.size());
        for (const auto& mac : { a, b }) {
            auto hx = sqlite.history(mac), hy = store.reader()->history(mac, kMaxHistoryPerDevice);
            ASSERT_EQ(hx.size(), hy.size()) << mac;
            for (std::size_t j = 0; j < hx.size(); ++j) {
                EXPECT_EQ(hx[j].from, hy[j].from);
                EXPECT_EQ(hx[j].to, hy[j].to);
                EXPECT_EQ(hx[j].reason, hy[j].reason);
            }
        }
        EXPECT_EQ(sqlite.lastAuditSeq(), store.contents().lastSeq);
    }
}

} // namespace
} // namespace mudguard::controller::test
