#pragma once
// The last known good MUD files as the fetch workers see them. The state database is their one
// home: the loop loads them at start and puts each new one here once it is recorded there. The
// trust pipeline reads them (freshness, validators for conditional requests, the copy that stays
// in force when a refresh fails); its store() and confirm() only describe the new copy, which
// reaches the database with the verdict, through the loop. Thread-safe.

#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "mudguard/controller/Model.h"
#include "mudguard/mudparser/MudCache.h"

namespace mudguard::controller {

class CachedDocuments final : public mudparser::DocumentCache {
public:
    Lookup lookup(const std::string& url, std::chrono::system_clock::time_point now) const override;
    std::shared_ptr<const mudparser::CacheEntry> store(mudparser::CacheEntry entry) override;
    std::shared_ptr<const mudparser::CacheEntry> confirm(const std::string& url,
        std::chrono::system_clock::time_point at, const std::string& etag, const std::string& lastModified,
        bool verified) override;

    /// The loop: a document recorded in the state database (a row with its document).
    void put(const MudCacheRow& row);
    std::size_t size() const;

    static mudparser::CacheEntry entryOf(const MudCacheRow& row);
    static MudCacheRow rowOf(const mudparser::CacheEntry& entry);

private:
    mutable std::shared_mutex m_mutex;
    std::unordered_map<std::string, std::shared_ptr<const mudparser::CacheEntry>> m_entries;
};

} // namespace mudguard::controller
