#pragma once
// The MUD file cache in the state directory, keyed by URL: the last known good file of every URL
// with its signature, signer, validators and fetch time. One file per entry, written atomically
// and protected by a checksum.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "mudguard/mudparser/Diagnostic.h"
#include "mudguard/mudparser/Signature.h"

namespace mudguard::mudparser {

struct CacheEntry {
    std::string url; ///< the MUD URL (normalised)
    std::string body; ///< the MUD file exactly as fetched
    std::string signature; ///< the DER signature, empty when the file was accepted unsigned
    std::string signatureUrl; ///< where the signature came from
    std::string etag, lastModified;
    std::chrono::system_clock::time_point fetchedAt {}; ///< last fetch or confirmation (304)
    /// When the signature was last found valid; a cached copy is checked again as of this time, so
    /// that a certificate expiring while the file is cached does not drop a policy in force.
    std::chrono::system_clock::time_point verifiedAt {};
    unsigned cacheValidityHours = 48; ///< from the file (RFC 8520 cache-validity)
    bool isSupported = true; ///< false: no longer refreshed, flagged for auditors
    std::optional<SignerIdentity> signer;
    std::vector<std::string> chain; ///< subjects from the signer up to the trust anchor
    /// The warnings of the validation that accepted the file (errors are never cached).
    std::vector<Diagnostic> diagnostics;
};

enum class CacheState {
    Fresh, ///< within cache-validity
    Stale, ///< to be refreshed (conditional request)
    Unsupported, ///< is-supported is false: kept as it is, never refreshed
};

const char* toString(CacheState s);

/// What the trust pipeline reads its last known good copies from and hands new ones to. The
/// file cache below is one; the daemon keeps its copies in its state database instead, written by
/// its loop, and gives the pipeline a view whose store() and confirm() only describe the change.
class DocumentCache {
public:
    virtual ~DocumentCache() = default;

    struct Lookup {
        std::shared_ptr<const CacheEntry> entry; ///< null on a miss
        CacheState state = CacheState::Stale;
        explicit operator bool() const { return entry != nullptr; }
    };
    virtual Lookup lookup(const std::string& url, std::chrono::system_clock::time_point now) const = 0;

    /// Stores (replaces) the entry for entry.url. Throws mudparser::Error on failure, in which case
    /// the previous entry stays.
    virtual std::shared_ptr<const CacheEntry> store(CacheEntry entry) = 0;

    /// After a 304 Not Modified: the cached copy is confirmed at `at` (and, when `verified`, its
    /// signature was found valid at `at`); validators are updated when the server sent new ones.
    /// Returns the updated entry (null when there is none).
    virtual std::shared_ptr<const CacheEntry> confirm(const std::string& url, std::chrono::system_clock::time_point at,
        const std::string& etag = {}, const std::string& lastModified = {}, bool verified = true)
        = 0;

    static CacheState stateOf(const CacheEntry& e, std::chrono::system_clock::time_point now);
};

/// Files in a directory. Thread-safe. Lookups are served from memory; every change is written to
/// disk first.
class MudCache final : public DocumentCache {
public:
    /// Opens (creating) `dir` and loads every entry. Entries whose checksum or structure is wrong
    /// are moved aside (renamed to *.corrupt) and listed by corrupt(), so that they are fetched
    /// again instead of trusted; temporary files of an interrupted write are removed.
    /// Throws mudparser::Error when the directory is unusable.
    explicit MudCache(std::filesystem::path dir);

    Lookup lookup(const std::string& url, std::chrono::system_clock::time_point now) const override;

    /// Throws mudparser::Error on I/O failure, in which case the previous entry stays, on disk and
    /// in memory.
    std::shared_ptr<const CacheEntry> store(CacheEntry entry) override;
    std::shared_ptr<const CacheEntry> confirm(const std::string& url, std::chrono::system_clock::time_point at,
        const std::string& etag = {}, const std::string& lastModified = {}, bool verified = true) override;

    void erase(const std::string& url);

    /// Every entry (for auditors: which files are in force, which are unsupported).
    std::vector<std::shared_ptr<const CacheEntry>> entries() const;

    struct CorruptEntry {
        std::filesystem::path file;
        std::string reason;
    };
    /// Damaged entries found when the cache was opened.
    std::vector<CorruptEntry> corrupt() const;

    const std::filesystem::path& directory() const { return m_dir; }
    /// The file that holds the entry for `url` ("<sha256 of url>.mudcache").
    std::filesystem::path fileFor(const std::string& url) const;

private:
    std::filesystem::path m_dir;
    mutable std::shared_mutex m_mutex;
    std::mutex m_writeMutex;
    std::unordered_map<std::string, std::shared_ptr<const CacheEntry>> m_entries;
    std::vector<CorruptEntry> m_corrupt;
};

/// The on-disk form of an entry, and back (exposed for tests and the fuzzer).
std::string encodeCacheEntry(const CacheEntry& e);
/// nullopt with `why` set when the bytes are not an intact entry.
std::optional<CacheEntry> decodeCacheEntry(const std::string& bytes, std::string* why = nullptr);

} // namespace mudguard::mudparser
