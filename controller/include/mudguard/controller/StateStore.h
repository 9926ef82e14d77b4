#pragma once
// Durable state behind one interface: what the daemon's core decided to remember, written as one
// batch that lands whole or not at all, and read back whole at a cold start. SQLite (Store.h) is
// the implementation; a shared backend for many gateways, or an in-memory one in tests, sits
// beside it without the core knowing.
//
// One writer: the daemon's loop thread commits batches. API threads read through readers of
// their own, which never block the writer.

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mudguard/controller/Error.h"
#include "mudguard/controller/Model.h"

namespace mudguard::controller {

/// The store refused (disk full, I/O error, corruption, a violated constraint). Nothing of the
/// batch was written. `code()` is the backend's own (SQLite's extended result code).
class StoreError : public Error {
public:
    StoreError(const std::string& what, int code)
        : Error(what)
        , m_code(code)
    {
    }
    int code() const noexcept { return m_code; }

private:
    int m_code;
};

/// Writes that belong together. Operations apply in order.
struct StoreBatch {
    struct PutDevice {
        DeviceRow row; ///< the whole row; the store keeps createdAt and sets the other times
    };
    struct RemoveDevice {
        std::string mac; ///< with its history, addresses, binding and pending URL change
    };
    struct PutBinding {
        std::string mac, mudUrl;
        DeviceSource source = DeviceSource::Dhcp; ///< clears a scheduled unbind
    };
    struct TouchAddress {
        std::string mac, ip;
    };
    struct RemoveAddress {
        std::string mac, ip;
    };
    struct PutMudDocument {
        MudCacheRow row; ///< the last known good file of row.url, replacing the previous one
    };
    struct RecordMudError {
        std::string url, error;
    };
    struct AcceptSigner {
        std::string authority, signer, acceptedBy; ///< also drops it from the pending list
    };
    struct RemoveSigner {
        std::string authority, signer;
    };
    struct PutPendingSigner {
        PendingSignerRow row;
    };
    struct RemovePendingSigner {
        std::string authority, signer;
    };
    struct PutPendingUrlChange {
        PendingUrlChangeRow row;
    };
    struct RemovePendingUrlChange {
        std::string mac;
    };
    struct AppendAudit {
        AuditEntry entry;
    };
    using Op = std::variant<PutDevice, RemoveDevice, PutBinding, TouchAddress, RemoveAddress, PutMudDocument,
        RecordMudError, AcceptSigner, RemoveSigner, PutPendingSigner, RemovePendingSigner, PutPendingUrlChange,
        RemovePendingUrlChange, AppendAudit>;

    std::vector<Op> ops;

    template <typename T> StoreBatch& add(T op)
    {
        ops.emplace_back(std::move(op));
        return *this;
    }
    bool empty() const { return ops.empty(); }
    std::size_t size() const { return ops.size(); }
    void append(const StoreBatch& other) { ops.insert(ops.end(), other.ops.begin(), other.ops.end()); }
};

/// Everything a cold start needs, read in one snapshot.
struct SavedState {
    std::vector<DeviceRow> devices; ///< by MAC
    std::vector<BindingRow> bindings; ///< by MAC
    std::vector<AddressRow> addresses; ///< by MAC, then address
    std::vector<MudCacheRow> documents; ///< every last known good file, with its signature, by URL
    std::vector<SignerRow> signers;
    std::vector<PendingSignerRow> pendingSigners;
    std::vector<PendingUrlChangeRow> pendingUrlChanges;
};

/// What API threads read. Not thread-safe: one reader per thread.
class StateReader {
public:
    virtual ~StateReader() = default;
    virtual std::optional<DeviceRow> device(const std::string& mac) = 0;
    /// Every device with its addresses, in one consistent view.
    virtual std::vector<std::pair<DeviceRow, std::vector<std::string>>> devicesWithAddresses() = 0;
    virtual std::vector<DeviceRow> devicesUsing(const std::string& mudUrl) = 0;
    /// Oldest first; at most the last `limit` changes.
    virtual std::vector<StateChange> history(const std::string& mac, std::size_t limit = kMaxHistoryPerDevice) = 0;
    virtual std::vector<AddressRow> addresses(const std::string& mac) = 0;
    virtual std::optional<PendingUrlChangeRow> pendingUrlChange(const std::string& mac) = 0;
    virtual std::vector<PendingSignerRow> pendingSigners() = 0;
    virtual AuditPage audit(const AuditQuery& query) = 0;
};

class StateStore {
public:
    virtual ~StateStore() = default;
    /// Everything a cold start needs. Throws StoreError.
    virtual SavedState load() = 0;
    /// Writes the batch, all or nothing, durably. Throws StoreError (nothing written) when the
    /// store refuses; std::invalid_argument for a malformed operation (a bug).
    virtual void commit(const StoreBatch& batch) = 0;
    /// A reader for one API thread.
    virtual std::unique_ptr<StateReader> reader() = 0;
    /// Where the state lives, for log lines ("/var/lib/mudguard/mudguard.db").
    virtual std::string describe() const = 0;
};

} // namespace mudguard::controller
