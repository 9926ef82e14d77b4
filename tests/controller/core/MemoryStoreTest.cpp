// The in-memory store the core's tests run on: the SQLite store's semantics where the core relies
// on them, all-or-nothing batches, and the refusals tests inject.

#include "MemoryStore.h"

#include <gtest/gtest.h>

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

} // namespace
} // namespace mudguard::controller::test
