#pragma once
// Durable state in SQLite (WAL) in the state directory: devices and their state history,
// addresses, MAC -> MUD URL bindings, the MUD files last known good (with their signatures and
// metadata), accepted and pending signers, pending URL changes, and the append-only audit log.
// `Store` is the StateStore the daemon runs on.
//
// One writer, many readers:
//   * `Store` is the writer. The daemon's loop thread owns it; it opens the database, creates or
//     migrates the schema, and is the only connection that writes.
//   * `StoreReader` is a read-only connection. Each API thread opens its own; readers never block
//     the writer and always see committed data (WAL snapshots).
// Neither class is thread-safe: one object per thread.
//
// Durability: every write method is atomic on its own (a savepoint) and durable when it returns,
// unless it runs inside a Transaction, which then commits everything at once. Group the writes of
// one loop iteration in a Transaction: one commit (one fsync) instead of one per write.
//
// Errors: StoreError (an SQLite failure: disk full, I/O, corruption, a violated constraint).
// Malformed arguments (a MAC that is not canonical) are programming errors: std::invalid_argument.
// The schema is described in docs/state.md.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mudguard/controller/Error.h"
#include "mudguard/controller/Model.h"
#include "mudguard/controller/StateStore.h"

namespace mudguard::controller {

namespace sqlite {
class Connection;
}

/// Everything a cold start needs, read in one snapshot (the rows of devices, bindings, addresses).
struct ColdStart {
    std::vector<DeviceRow> devices; ///< by MAC
    std::vector<BindingRow> bindings; ///< by MAC
    std::vector<AddressRow> addresses; ///< by MAC, then address
};

struct StoreOptions {
    /// FULL (the default) makes each commit durable across power loss (the WAL is fsynced at
    /// every commit); NORMAL survives a process crash but may lose the last commits on power
    /// loss. See docs/state.md for the choice.
    enum class Synchronous { Full, Normal } synchronous = Synchronous::Full;
    std::chrono::milliseconds busyTimeout { 5000 };
    /// The clock for the timestamps the store sets (tests inject one).
    std::function<Timestamp()> clock;
};

/// The read queries, shared by the writer and the readers.
class StoreQueries {
public:
    StoreQueries(const StoreQueries&) = delete;
    StoreQueries& operator=(const StoreQueries&) = delete;
    virtual ~StoreQueries();

    /// A consistent view across several queries (a read transaction) until the object is gone.
    /// Inside the writer's Transaction it does nothing.
    class Snapshot {
    public:
        explicit Snapshot(sqlite::Connection& c);
        ~Snapshot();
        Snapshot(const Snapshot&) = delete;
        Snapshot& operator=(const Snapshot&) = delete;

    private:
        sqlite::Connection* m_c = nullptr;
    };
    [[nodiscard]] Snapshot snapshot();

    std::optional<DeviceRow> device(std::string_view mac);
    std::vector<DeviceRow> devices();
    /// The devices whose policy comes from `mudUrl` (for the policies view).
    std::vector<DeviceRow> devicesUsing(std::string_view mudUrl);
    std::map<DeviceState, std::size_t> deviceCountByState();
    /// Oldest first; at most the last `limit` changes.
    std::vector<StateChange> history(std::string_view mac, std::size_t limit = kMaxHistoryPerDevice);
    std::vector<AddressRow> addresses(std::string_view mac);
    /// The devices that use `ip` (normally one).
    std::vector<std::string> macsForAddress(std::string_view ip);
    std::optional<BindingRow> binding(std::string_view mac);
    std::vector<BindingRow> bindings();
    /// Bindings whose grace time ends at or before `t`.
    std::vector<BindingRow> bindingsToUnbind(Timestamp t);
    /// With the stored document and signature.
    std::optional<MudCacheRow> mudCache(std::string_view url);
    /// Metadata only (document and signature left empty).
    std::vector<MudCacheRow> mudCacheEntries();
    std::vector<SignerRow> signers(std::string_view authority);
    bool isSignerAccepted(std::string_view authority, std::string_view signer);
    std::vector<PendingSignerRow> pendingSigners();
    std::optional<PendingUrlChangeRow> pendingUrlChange(std::string_view mac);
    std::vector<PendingUrlChangeRow> pendingUrlChanges();
    AuditPage audit(const AuditQuery& q);
    /// The highest seq so far (0 when empty).
    std::int64_t lastAuditSeq();
    ColdStart loadAll();
    int schemaVersion();
    /// PRAGMA integrity_check: "ok", or SQLite's description of the damage.
    std::string integrityCheck();

protected:
    explicit StoreQueries(std::unique_ptr<sqlite::Connection> c);
    sqlite::Connection& conn() { return *m_conn; }
    std::unique_ptr<sqlite::Connection> m_conn;
};

/// The writer. Creates the database file (mode 0600) if needed and migrates the schema.
class Store : public StoreQueries, public StateStore {
public:
    /// The current schema version, kept in PRAGMA user_version.
    static constexpr int kSchemaVersion = 2;

    explicit Store(const std::filesystem::path& dbFile, StoreOptions options = {});
    ~Store() override;

    /// Groups writes into one atomic, durable commit. Rolls back when destroyed without commit().
    /// Transactions do not nest.
    class Transaction {
    public:
        explicit Transaction(Store& s);
        ~Transaction();
        Transaction(const Transaction&) = delete;
        Transaction& operator=(const Transaction&) = delete;
        void commit();

    private:
        Store& m_s;
        bool m_open = true;
    };
    [[nodiscard]] Transaction transaction() { return Transaction(*this); }

    /// Inserts or updates the device. The store sets createdAt (on insert), updatedAt, and
    /// stateSince when the state changes; a change of state or reason is added to the history.
    void putDevice(const DeviceRow& d);
    /// Changes only the state and reason (see putDevice). Throws std::invalid_argument for an
    /// unknown device.
    void setDeviceState(std::string_view mac, DeviceState state, std::string_view reason = {});
    /// Removes the device with its history, addresses, binding and pending URL change. Returns
    /// false when it did not exist (the binding is removed anyway).
    bool removeDevice(std::string_view mac);

    /// Records that the device uses `ip` now (first seen kept, last seen updated). The device
    /// must exist.
    void touchAddress(std::string_view mac, std::string_view ip);
    bool removeAddress(std::string_view mac, std::string_view ip);
    /// Removes the device's addresses not seen since `t`; returns how many.
    std::size_t removeAddressesSeenBefore(std::string_view mac, Timestamp t);

    /// Binds the MAC to the URL (or confirms it), and clears a pending unbind.
    void putBinding(std::string_view mac, std::string_view mudUrl, DeviceSource source);
    /// Starts the grace time: the binding is due for removal at `unbindAfter`.
    void scheduleUnbind(std::string_view mac, Timestamp unbindAfter);
    bool removeBinding(std::string_view mac);

    void putMudCache(const MudCacheRow& row);
    /// Records a failure for `url`, keeping everything else (creates the row if needed).
    void recordMudError(std::string_view url, std::string_view error);
    bool removeMudCache(std::string_view url);

    /// Accepts the signer for the authority and drops it from the pending list.
    void acceptSigner(std::string_view authority, std::string_view signer, std::string_view acceptedBy);
    bool removeSigner(std::string_view authority, std::string_view signer);
    void putPendingSigner(const PendingSignerRow& row);
    /// Drops a pending signer (refused by an admin); false when there was none.
    bool removePendingSigner(std::string_view authority, std::string_view signer);

    /// One pending change per device: a newer one replaces the older. The device must exist.
    void putPendingUrlChange(const PendingUrlChangeRow& row);
    /// Removes and returns the device's pending change.
    std::optional<PendingUrlChangeRow> takePendingUrlChange(std::string_view mac);

    /// Appends to the audit log and returns the entry's seq. The log is append-only: the
    /// database refuses UPDATE and DELETE on it.
    std::int64_t appendAudit(const AuditEntry& e);

    // --- StateStore ---------------------------------------------------------------------------------
    /// Devices, bindings, addresses, the documents of bound URLs, signers, pending decisions.
    SavedState load() override;
    /// One transaction; a failure rolls it back whole (StoreError). Inside a Transaction the batch
    /// joins it instead.
    void commit(const StoreBatch& batch) override;
    /// A StoreReader on the same file.
    std::unique_ptr<StateReader> reader() override;
    std::string describe() const override { return m_path.string(); }

    Timestamp now() const;
    const std::filesystem::path& path() const noexcept { return m_path; }
    /// The schema version the file had when opened (0: new), for the STORE_MIGRATED log line.
    int migratedFrom() const noexcept { return m_migratedFrom; }

private:
    friend class Transaction;
    std::filesystem::path m_path;
    int m_migratedFrom = 0;
    std::function<Timestamp()> m_clock;
    bool m_inTransaction = false;
};

/// A read-only connection for one API thread. The database must have been created by a Store
/// of the same schema version.
class StoreReader : public StoreQueries {
public:
    explicit StoreReader(const std::filesystem::path& dbFile, StoreOptions options = {});
    ~StoreReader() override;
};

/// A StoreReader behind the StateReader interface.
class SqliteStateReader final : public StateReader {
public:
    explicit SqliteStateReader(const std::filesystem::path& dbFile);
    std::optional<DeviceRow> device(const std::string& mac) override;
    std::vector<std::pair<DeviceRow, std::vector<std::string>>> devicesWithAddresses() override;
    std::vector<DeviceRow> devicesUsing(const std::string& mudUrl) override;
    std::vector<StateChange> history(const std::string& mac, std::size_t limit) override;
    std::vector<AddressRow> addresses(const std::string& mac) override;
    std::optional<PendingUrlChangeRow> pendingUrlChange(const std::string& mac) override;
    std::vector<PendingSignerRow> pendingSigners() override;
    AuditPage audit(const AuditQuery& query) override;

private:
    StoreReader m_reader;
};

} // namespace mudguard::controller
