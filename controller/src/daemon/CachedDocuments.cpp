#include "daemon/CachedDocuments.h"

#include <mutex>

#include "core/State.h"

namespace mudguard::controller {

namespace {

std::chrono::system_clock::time_point clockOf(const std::optional<Timestamp>& t)
{
    return t ? std::chrono::system_clock::time_point(*t) : std::chrono::system_clock::time_point {};
}

std::optional<Timestamp> stampOf(std::chrono::system_clock::time_point t)
{
    if (t == std::chrono::system_clock::time_point {})
        return std::nullopt;
    return std::chrono::time_point_cast<std::chrono::milliseconds>(t);
}

} // namespace

mudparser::CacheEntry CachedDocuments::entryOf(const MudCacheRow& row)
{
    mudparser::CacheEntry e;
    e.url = row.url;
    e.body = row.document.value_or(std::string());
    e.signature = row.signature.value_or(std::string());
    e.signatureUrl = row.signatureUrl;
    e.etag = row.etag;
    e.lastModified = row.lastModified;
    e.fetchedAt = clockOf(row.fetchedAt);
    e.verifiedAt = row.verifiedAt ? clockOf(row.verifiedAt) : e.fetchedAt;
    e.cacheValidityHours = row.cacheValidityHours;
    e.isSupported = row.supported;
    if (!row.signerIdentity.empty())
        e.signer = core::decodeSigner(row.signerIdentity);
    e.chain = row.chain;
    return e;
}

MudCacheRow CachedDocuments::rowOf(const mudparser::CacheEntry& e)
{
    MudCacheRow row;
    row.url = e.url;
    row.hash = "sha256:" + core::sha256Hex(e.body);
    row.signer = e.signer ? e.signer->describe() : std::string();
    row.fetchedAt = stampOf(e.fetchedAt);
    row.verifiedAt = stampOf(e.verifiedAt);
    row.cacheValidityHours = e.cacheValidityHours;
    if (row.fetchedAt)
        row.validUntil = *row.fetchedAt + std::chrono::hours(e.cacheValidityHours);
    row.etag = e.etag;
    row.lastModified = e.lastModified;
    row.supported = e.isSupported;
    row.document = e.body;
    if (!e.signature.empty())
        row.signature = e.signature;
    row.signatureUrl = e.signatureUrl;
    if (e.signer)
        row.signerIdentity = core::encodeSigner(*e.signer);
    row.chain = e.chain;
    return row;
}

CachedDocuments::Lookup CachedDocuments::lookup(const std::string& url, std::chrono::system_clock::time_point now) const
{
    std::shared_lock lock(m_mutex);
    auto it = m_entries.find(url);
    if (it == m_entries.end())
        return {};
    return Lookup { it->second, stateOf(*it->second, now) };
}

std::shared_ptr<const mudparser::CacheEntry> CachedDocuments::store(mudparser::CacheEntry entry)
{
    // Recorded by the loop with the verdict; nothing changes here before that.
    return std::make_shared<const mudparser::CacheEntry>(std::move(entry));
}

std::shared_ptr<const mudparser::CacheEntry> CachedDocuments::confirm(const std::string& url,
    std::chrono::system_clock::time_point at, const std::string& etag, const std::string& lastModified, bool verified)
{
    std::shared_lock lock(m_mutex);
    auto it = m_entries.find(url);
    if (it == m_entries.end())
        return nullptr;
    auto e = std::make_shared<mudparser::CacheEntry>(*it->second);
    e->fetchedAt = at;
    if (verified)
        e->verifiedAt = at;
    if (!etag.empty())
        e->etag = etag;
    if (!lastModified.empty())
        e->lastModified = lastModified;
    return e;
}

void CachedDocuments::put(const MudCacheRow& row)
{
    if (!row.document)
        return;
    auto e = std::make_shared<const mudparser::CacheEntry>(entryOf(row));
    std::unique_lock lock(m_mutex);
    m_entries[row.url] = std::move(e);
}

std::size_t CachedDocuments::size() const
{
    std::shared_lock lock(m_mutex);
    return m_entries.size();
}

} // namespace mudguard::controller
