#pragma once
// An in-memory StateStore for tests of the core: the rows the SQLite store keeps, with its
// semantics (device history, a removed device takes its addresses, binding and pending URL change
// with it, a binding confirmed with the same URL keeps its bound time, the audit log's increasing
// seq), each batch applied all or nothing. Refusals are injected: the next commit, the Nth, or
// every commit until told otherwise throws StoreError("database or disk is full") and writes
// nothing.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mudguard/controller/StateStore.h"

namespace mudguard::controller::test {

class MemoryStore final : public StateStore {
public:
    /// What the database holds.
    struct Contents {
        std::map<std::string, DeviceRow> devices; ///< by MAC
        std::map<std::string, std::vector<StateChange>> history; ///< by MAC, oldest first
        std::map<std::string, BindingRow> bindings; ///< by MAC
        std::map<std::pair<std::string, std::string>, AddressRow> addresses; ///< by (MAC, ip)
        std::map<std::string, MudCacheRow> documents; ///< by URL
        std::map<std::pair<std::string, std::string>, SignerRow> signers; ///< by (authority, signer)
        std::map<std::pair<std::string, std::string>, PendingSignerRow> pendingSigners;
        std::map<std::string, PendingUrlChangeRow> urlChanges; ///< by MAC
        std::vector<AuditEntry> audit; ///< ascending seq
        std::int64_t lastSeq = 0;
    };

    /// `clock` gives the times the store sets (createdAt, updatedAt, ...); default: zero.
    explicit MemoryStore(std::function<Timestamp()> clock = {});

    // --- StateStore ---------------------------------------------------------------------------------
    SavedState load() override;
    void commit(const StoreBatch& batch) override;
    std::unique_ptr<StateReader> reader() override;
    std::string describe() const override { return "memory"; }

    // --- refusals ------------------------------------------------------------------------------------
    /// The commit `n` commits from now (1: the next one) is refused, once.
    void failAt(unsigned n = 1);
    /// Every commit is refused until recover().
    void failAlways();
    /// Commits succeed again (clears failAt and failAlways).
    void recover();
    /// Commits refused so far, and commits that wrote.
    unsigned refused() const { return m_refused; }
    unsigned committed() const { return m_committed; }

    // --- contents --------------------------------------------------------------------------------------
    const Contents& contents() const { return m_data; }
    /// The device's row, or nothing.
    std::optional<DeviceRow> device(const std::string& mac) const;
    /// The device's addresses, sorted as text (as the store lists them).
    std::vector<std::string> addressesOf(const std::string& mac) const;
    /// The audit entries with this event ID (and for this MAC when given), oldest first.
    std::vector<AuditEntry> auditOf(const std::string& event, const std::string& mac = {}) const;
    /// True when an audit entry with this event ID exists (for this MAC when given).
    bool audited(const std::string& event, const std::string& mac = {}) const { return !auditOf(event, mac).empty(); }

private:
    friend class MemoryReader;
    void applyOne(Contents& c, const StoreBatch::Op& op, Timestamp now) const;

    std::function<Timestamp()> m_clock;
    Contents m_data;
    std::optional<unsigned> m_failIn; ///< commits left before the refused one
    bool m_failAlways = false;
    unsigned m_refused = 0, m_committed = 0;
};

} // namespace mudguard::controller::test
