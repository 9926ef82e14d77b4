#include "MemoryStore.h"

#include <algorithm>
#include <stdexcept>
#include <type_traits>
#include <variant>

#include <fmt/format.h>
#include <rapidjson/document.h>

namespace mudguard::controller::test {

namespace {

// SQLite's result codes, so that a refusal looks like the real store's.
constexpr int kSqliteFull = 13;
constexpr int kSqliteConstraintForeignKey = 787;
constexpr int kSqliteConstraintCheck = 275;

void requireMac(const std::string& mac)
{
    auto c = canonicalMac(mac);
    if (!c || *c != mac)
        throw std::invalid_argument(fmt::format("not a canonical MAC address: \"{}\"", mac));
}

void requireNonEmpty(const std::string& v, const char* what)
{
    if (v.empty())
        throw std::invalid_argument(fmt::format("{} must not be empty", what));
}

// The foreign keys of addresses and pending_url_changes: the device must exist.
void requireDevice(const MemoryStore::Contents& c, const std::string& mac, const char* table)
{
    if (!c.devices.count(mac))
        throw StoreError(
            fmt::format("state database: FOREIGN KEY constraint failed ({} of unknown device {})", table, mac),
            kSqliteConstraintForeignKey);
}

void addHistory(MemoryStore::Contents& c, const std::string& mac, Timestamp at, std::optional<DeviceState> from,
    DeviceState to, const std::string& reason)
{
    auto& h = c.history[mac];
    h.push_back(StateChange { mac, at, from, to, reason });
    if (h.size() > kMaxHistoryPerDevice)
        h.erase(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(h.size() - kMaxHistoryPerDevice));
}

void removeDevice(MemoryStore::Contents& c, const std::string& mac)
{
    c.bindings.erase(mac);
    if (!c.devices.erase(mac))
        return;
    // ON DELETE CASCADE
    c.history.erase(mac);
    std::erase_if(c.addresses, [&](const auto& a) { return a.first.first == mac; });
    c.urlChanges.erase(mac);
}

} // namespace

MemoryStore::MemoryStore(std::function<Timestamp()> clock)
    : m_clock(clock ? std::move(clock) : std::function<Timestamp()>([] { return Timestamp {}; }))
{
}

void MemoryStore::failAt(unsigned n) { m_failIn = n == 0 ? 1 : n; }

void MemoryStore::failAlways() { m_failAlways = true; }

void MemoryStore::recover()
{
    m_failAlways = false;
    m_failIn.reset();
}

void MemoryStore::applyOne(Contents& c, const StoreBatch::Op& op, Timestamp now) const
{
    std::visit(
        [&](const auto& o) {
            using T = std::decay_t<decltype(o)>;
            if constexpr (std::is_same_v<T, StoreBatch::PutDevice>) {
                const DeviceRow& d = o.row;
                requireMac(d.mac);
                auto it = c.devices.find(d.mac);
                DeviceRow row = d;
                if (it == c.devices.end()) {
                    row.createdAt = row.stateSince = row.updatedAt = now;
                    c.devices.emplace(d.mac, row);
                    addHistory(c, d.mac, now, std::nullopt, d.state, d.reason);
                } else {
                    const DeviceRow old = it->second;
                    row.createdAt = old.createdAt;
                    row.stateSince = old.state != d.state ? now : old.stateSince;
                    row.updatedAt = now;
                    it->second = row;
                    if (old.state != d.state || old.reason != d.reason)
                        addHistory(c, d.mac, now, old.state, d.state, d.reason);
                }
            } else if constexpr (std::is_same_v<T, StoreBatch::RemoveDevice>) {
                requireMac(o.mac);
                removeDevice(c, o.mac);
            } else if constexpr (std::is_same_v<T, StoreBatch::PutBinding>) {
                requireMac(o.mac);
                requireNonEmpty(o.mudUrl, "a bound MUD URL");
                auto it = c.bindings.find(o.mac);
                BindingRow b { o.mac, o.mudUrl, o.source, now, now, std::nullopt };
                if (it != c.bindings.end() && it->second.mudUrl == o.mudUrl)
                    b.boundAt = it->second.boundAt;
                c.bindings.insert_or_assign(o.mac, b);
            } else if constexpr (std::is_same_v<T, StoreBatch::TouchAddress>) {
                requireMac(o.mac);
                auto ip = canonicalIp(o.ip);
                if (!ip)
                    throw std::invalid_argument(fmt::format("not an IP address: \"{}\"", o.ip));
                requireDevice(c, o.mac, "addresses");
                auto key = std::pair { o.mac, *ip };
                if (auto it = c.addresses.find(key); it != c.addresses.end())
                    it->second.lastSeen = now;
                else
                    c.addresses.emplace(
                        key, AddressRow { o.mac, *ip, ip->find(':') == std::string::npos ? 4 : 6, now, now });
            } else if constexpr (std::is_same_v<T, StoreBatch::RemoveAddress>) {
                if (auto ip = canonicalIp(o.ip))
                    c.addresses.erase(std::pair { o.mac, *ip });
            } else if constexpr (std::is_same_v<T, StoreBatch::PutMudDocument>) {
                requireNonEmpty(o.row.url, "a MUD URL");
                c.documents.insert_or_assign(o.row.url, o.row);
            } else if constexpr (std::is_same_v<T, StoreBatch::RecordMudError>) {
                requireNonEmpty(o.url, "a MUD URL");
                auto& row = c.documents[o.url];
                row.url = o.url;
                row.lastError = o.error;
                row.lastErrorAt = now;
            } else if constexpr (std::is_same_v<T, StoreBatch::AcceptSigner>) {
                requireNonEmpty(o.authority, "an authority");
                requireNonEmpty(o.signer, "a signer");
                c.signers.try_emplace(std::pair { o.authority, o.signer },
                    SignerRow { o.authority, o.signer, now, o.acceptedBy }); // ON CONFLICT DO NOTHING
                c.pendingSigners.erase(std::pair { o.authority, o.signer });
            } else if constexpr (std::is_same_v<T, StoreBatch::RemoveSigner>) {
                c.signers.erase(std::pair { o.authority, o.signer });
            } else if constexpr (std::is_same_v<T, StoreBatch::PutPendingSigner>) {
                requireNonEmpty(o.row.authority, "an authority");
                requireNonEmpty(o.row.signer, "a signer");
                PendingSignerRow row = o.row;
                if (row.seenAt == Timestamp {})
                    row.seenAt = now;
                c.pendingSigners.insert_or_assign(std::pair { row.authority, row.signer }, row);
            } else if constexpr (std::is_same_v<T, StoreBatch::RemovePendingSigner>) {
                c.pendingSigners.erase(std::pair { o.authority, o.signer });
            } else if constexpr (std::is_same_v<T, StoreBatch::PutPendingUrlChange>) {
                requireMac(o.row.mac);
                requireDevice(c, o.row.mac, "pending_url_changes");
                PendingUrlChangeRow row = o.row;
                if (row.requestedAt == Timestamp {})
                    row.requestedAt = now;
                c.urlChanges.insert_or_assign(row.mac, row);
            } else if constexpr (std::is_same_v<T, StoreBatch::RemovePendingUrlChange>) {
                c.urlChanges.erase(o.mac);
            } else {
                static_assert(std::is_same_v<T, StoreBatch::AppendAudit>);
                AuditEntry e = o.entry;
                requireNonEmpty(e.event, "an audit event");
                if (e.detail.empty())
                    e.detail = "{}";
                rapidjson::Document json;
                json.Parse(e.detail.c_str(), e.detail.size());
                if (json.HasParseError())
                    throw StoreError(
                        "state database: CHECK constraint failed: json_valid(detail)", kSqliteConstraintCheck);
                if (e.at == Timestamp {})
                    e.at = now;
                e.seq = ++c.lastSeq;
                c.audit.push_back(std::move(e));
            }
        },
        op);
}

void MemoryStore::commit(const StoreBatch& batch)
{
    if (batch.empty())
        return;
    bool refuse = m_failAlways;
    if (m_failIn && --*m_failIn == 0) {
        m_failIn.reset();
        refuse = true;
    }
    if (refuse) {
        ++m_refused;
        throw StoreError("database or disk is full", kSqliteFull);
    }
    // All or nothing: the batch is applied to a copy, which replaces the contents once every
    // operation succeeded.
    Contents next = m_data;
    const Timestamp now = m_clock();
    for (const auto& op : batch.ops)
        applyOne(next, op, now);
    m_data = std::move(next);
    ++m_committed;
}

SavedState MemoryStore::load()
{
    SavedState out;
    for (const auto& [mac, row] : m_data.devices)
        out.devices.push_back(row);
    for (const auto& [mac, row] : m_data.bindings)
        out.bindings.push_back(row);
    for (const auto& [key, row] : m_data.addresses)
        out.addresses.push_back(row);
    for (const auto& [url, row] : m_data.documents)
        if (row.document)
            out.documents.push_back(row);
    for (const auto& [key, row] : m_data.signers)
        out.signers.push_back(row);
    for (const auto& [key, row] : m_data.pendingSigners)
        out.pendingSigners.push_back(row);
    std::stable_sort(out.pendingSigners.begin(), out.pendingSigners.end(),
        [](const auto& a, const auto& b) { return a.seenAt < b.seenAt; });
    for (const auto& [mac, row] : m_data.urlChanges)
        out.pendingUrlChanges.push_back(row);
    std::stable_sort(out.pendingUrlChanges.begin(), out.pendingUrlChanges.end(),
        [](const auto& a, const auto& b) { return a.requestedAt < b.requestedAt; });
    return out;
}

std::optional<DeviceRow> MemoryStore::device(const std::string& mac) const
{
    auto it = m_data.devices.find(mac);
    if (it == m_data.devices.end())
        return std::nullopt;
    return it->second;
}

std::vector<std::string> MemoryStore::addressesOf(const std::string& mac) const
{
    std::vector<std::string> out;
    for (const auto& [key, row] : m_data.addresses)
        if (key.first == mac)
            out.push_back(row.ip);
    return out;
}

std::vector<AuditEntry> MemoryStore::auditOf(const std::string& event, const std::string& mac) const
{
    std::vector<AuditEntry> out;
    for (const auto& e : m_data.audit)
        if (e.event == event && (mac.empty() || e.mac == mac))
            out.push_back(e);
    return out;
}

// ---- the reader ----------------------------------------------------------------------------------

class MemoryReader final : public StateReader {
public:
    explicit MemoryReader(const MemoryStore& s)
        : m_s(s)
    {
    }

    std::optional<DeviceRow> device(const std::string& mac) override { return m_s.device(mac); }

    std::vector<std::pair<DeviceRow, std::vector<std::string>>> devicesWithAddresses() override
    {
        std::vector<std::pair<DeviceRow, std::vector<std::string>>> out;
        for (const auto& [mac, row] : m_s.m_data.devices)
            out.emplace_back(row, m_s.addressesOf(mac));
        return out;
    }

    std::vector<DeviceRow> devicesUsing(const std::string& mudUrl) override
    {
        std::vector<DeviceRow> out;
        for (const auto& [mac, row] : m_s.m_data.devices)
            if (row.mudUrl == mudUrl)
                out.push_back(row);
        return out;
    }

    std::vector<StateChange> history(const std::string& mac, std::size_t limit) override
    {
        auto it = m_s.m_data.history.find(mac);
        if (it == m_s.m_data.history.end())
            return {};
        const auto& h = it->second;
        auto first = h.size() > limit ? h.end() - static_cast<std::ptrdiff_t>(limit) : h.begin();
        return { first, h.end() };
    }

    std::vector<AddressRow> addresses(const std::string& mac) override
    {
        std::vector<AddressRow> out;
        for (const auto& [key, row] : m_s.m_data.addresses)
            if (key.first == mac)
                out.push_back(row);
        return out;
    }

    std::optional<PendingUrlChangeRow> pendingUrlChange(const std::string& mac) override
    {
        auto it = m_s.m_data.urlChanges.find(mac);
        if (it == m_s.m_data.urlChanges.end())
            return std::nullopt;
        return it->second;
    }

    std::vector<PendingSignerRow> pendingSigners() override
    {
        std::vector<PendingSignerRow> out;
        for (const auto& [key, row] : m_s.m_data.pendingSigners)
            out.push_back(row);
        std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seenAt < b.seenAt; });
        return out;
    }

    AuditPage audit(const AuditQuery& query) override
    {
        AuditPage page;
        page.next = query.since;
        const std::size_t limit = std::clamp<std::size_t>(query.limit, 1, kMaxAuditPage);
        for (const auto& e : m_s.m_data.audit) {
            if (e.seq <= query.since || (query.device && e.mac != *query.device))
                continue;
            if (page.entries.size() == limit) {
                page.more = true;
                break;
            }
            page.entries.push_back(e);
        }
        if (!page.entries.empty())
            page.next = page.entries.back().seq;
        return page;
    }

private:
    const MemoryStore& m_s;
};

std::unique_ptr<StateReader> MemoryStore::reader() { return std::make_unique<MemoryReader>(*this); }

} // namespace mudguard::controller::test
