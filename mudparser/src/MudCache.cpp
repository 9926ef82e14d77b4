#include "mudguard/mudparser/MudCache.h"

#include <mutex>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "mudguard/mudparser/TimeText.h"

#include "AtomicFile.h"
#include "TrustJson.h"

namespace mudguard::mudparser {

namespace {

constexpr std::string_view kMagic = "mudguard-cache 1\n";
constexpr std::string_view kTrailerTag = "sha256 ";
constexpr std::size_t kTrailerSize = 7 + 64 + 1;
constexpr const char* kExtension = ".mudcache";

std::string sha256Hex(std::string_view data)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    std::string hex;
    hex.reserve(len * 2);
    static constexpr char kDigits[] = "0123456789abcdef";
    for (unsigned i = 0; i < len; ++i) {
        hex += kDigits[md[i] >> 4];
        hex += kDigits[md[i] & 0xf];
    }
    return hex;
}

Severity severityFrom(const std::string& s)
{
    if (s == "error")
        return Severity::Error;
    if (s == "info")
        return Severity::Info;
    return Severity::Warning;
}

} // namespace

const char* toString(CacheState s)
{
    switch (s) {
    case CacheState::Fresh:
        return "fresh";
    case CacheState::Stale:
        return "stale";
    case CacheState::Unsupported:
        return "unsupported";
    }
    return "?";
}

std::string encodeCacheEntry(const CacheEntry& e)
{
    rapidjson::StringBuffer buf;
    detail::JsonWriter w(buf);
    w.StartObject();
    detail::writeString(w, "url", e.url);
    w.Key("body-bytes");
    w.Uint64(e.body.size());
    w.Key("signature-bytes");
    w.Uint64(e.signature.size());
    detail::writeString(w, "signature-url", e.signatureUrl);
    detail::writeString(w, "etag", e.etag);
    detail::writeString(w, "last-modified", e.lastModified);
    detail::writeString(w, "fetched-at", formatRfc3339(e.fetchedAt));
    w.Key("fetched-at-unix");
    w.Int64(std::chrono::duration_cast<std::chrono::seconds>(e.fetchedAt.time_since_epoch()).count());
    w.Key("verified-at-unix");
    w.Int64(std::chrono::duration_cast<std::chrono::seconds>(e.verifiedAt.time_since_epoch()).count());
    w.Key("cache-validity");
    w.Uint(e.cacheValidityHours);
    w.Key("is-supported");
    w.Bool(e.isSupported);
    if (e.signer) {
        w.Key("signer");
        detail::writeSigner(w, *e.signer);
    }
    if (!e.chain.empty()) {
        w.Key("signer-chain");
        w.StartArray();
        for (const auto& subject : e.chain)
            w.String(subject.data(), static_cast<rapidjson::SizeType>(subject.size()));
        w.EndArray();
    }
    w.Key("diagnostics");
    w.StartArray();
    for (const auto& d : e.diagnostics) {
        w.StartObject();
        detail::writeString(w, "severity", toString(d.severity));
        detail::writeString(w, "code", d.code);
        detail::writeString(w, "message", d.message);
        detail::writeString(w, "path", d.path);
        if (d.line) {
            w.Key("line");
            w.Uint(*d.line);
        }
        if (d.column) {
            w.Key("column");
            w.Uint(*d.column);
        }
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();

    std::string out;
    out.reserve(kMagic.size() + buf.GetSize() + 1 + e.body.size() + e.signature.size() + kTrailerSize);
    out += kMagic;
    out.append(buf.GetString(), buf.GetSize());
    out += '\n';
    out += e.body;
    out += e.signature;
    std::string sum = sha256Hex(out);
    out += kTrailerTag;
    out += sum;
    out += '\n';
    return out;
}

std::optional<CacheEntry> decodeCacheEntry(const std::string& bytes, std::string* why)
{
    auto bad = [&](std::string reason) -> std::optional<CacheEntry> {
        if (why)
            *why = std::move(reason);
        return std::nullopt;
    };
    if (bytes.size() < kMagic.size() + kTrailerSize)
        return bad(fmt::format("truncated ({} bytes)", bytes.size()));
    std::string_view all(bytes);
    auto trailer = all.substr(all.size() - kTrailerSize);
    if (!trailer.starts_with(kTrailerTag) || trailer.back() != '\n')
        return bad("no checksum trailer (truncated or overwritten)");
    auto covered = all.substr(0, all.size() - kTrailerSize);
    if (sha256Hex(covered) != trailer.substr(kTrailerTag.size(), 64))
        return bad("checksum mismatch");
    if (!covered.starts_with(kMagic))
        return bad("not a mudguard cache entry (or another format version)");
    auto headerEnd = covered.find('\n', kMagic.size());
    if (headerEnd == std::string_view::npos)
        return bad("no header line");
    std::string header(covered.substr(kMagic.size(), headerEnd - kMagic.size()));
    rapidjson::Document doc;
    if (!detail::parseJson(doc, header) || !doc.IsObject())
        return bad("unreadable header");
    auto payload = covered.substr(headerEnd + 1);

    CacheEntry e;
    auto url = detail::stringMember(doc, "url");
    if (!url || !doc.HasMember("body-bytes") || !doc["body-bytes"].IsUint64() || !doc.HasMember("signature-bytes")
        || !doc["signature-bytes"].IsUint64() || !doc.HasMember("fetched-at-unix") || !doc["fetched-at-unix"].IsInt64()
        || !doc.HasMember("cache-validity") || !doc["cache-validity"].IsUint() || !doc.HasMember("is-supported")
        || !doc["is-supported"].IsBool())
        return bad("incomplete header");
    auto bodyBytes = doc["body-bytes"].GetUint64();
    auto sigBytes = doc["signature-bytes"].GetUint64();
    if (bodyBytes > payload.size() || sigBytes != payload.size() - bodyBytes)
        return bad("sizes in the header do not match the content");
    e.url = *url;
    e.body = std::string(payload.substr(0, bodyBytes));
    e.signature = std::string(payload.substr(bodyBytes));
    e.signatureUrl = detail::stringMember(doc, "signature-url").value_or("");
    e.etag = detail::stringMember(doc, "etag").value_or("");
    e.lastModified = detail::stringMember(doc, "last-modified").value_or("");
    e.fetchedAt = std::chrono::system_clock::time_point(std::chrono::seconds(doc["fetched-at-unix"].GetInt64()));
    e.verifiedAt = e.fetchedAt;
    if (doc.HasMember("verified-at-unix") && doc["verified-at-unix"].IsInt64())
        e.verifiedAt = std::chrono::system_clock::time_point(std::chrono::seconds(doc["verified-at-unix"].GetInt64()));
    e.cacheValidityHours = doc["cache-validity"].GetUint();
    e.isSupported = doc["is-supported"].GetBool();
    if (doc.HasMember("signer")) {
        e.signer = detail::readSigner(doc["signer"]);
        if (!e.signer)
            return bad("unreadable signer");
    }
    // Entries written before the chain was kept have none; it comes back with the next fetch.
    if (doc.HasMember("signer-chain")) {
        if (!doc["signer-chain"].IsArray())
            return bad("unreadable signer chain");
        for (const auto& subject : doc["signer-chain"].GetArray()) {
            if (!subject.IsString())
                return bad("unreadable signer chain");
            e.chain.emplace_back(subject.GetString(), subject.GetStringLength());
        }
    }
    if (doc.HasMember("diagnostics") && doc["diagnostics"].IsArray()) {
        for (const auto& d : doc["diagnostics"].GetArray()) {
            Diagnostic diag;
            diag.severity = severityFrom(detail::stringMember(d, "severity").value_or("warning"));
            diag.code = detail::stringMember(d, "code").value_or("");
            diag.message = detail::stringMember(d, "message").value_or("");
            diag.path = detail::stringMember(d, "path").value_or("");
            diag.file = e.url;
            if (d.HasMember("line") && d["line"].IsUint())
                diag.line = d["line"].GetUint();
            if (d.HasMember("column") && d["column"].IsUint())
                diag.column = d["column"].GetUint();
            e.diagnostics.push_back(std::move(diag));
        }
    }
    return e;
}

MudCache::MudCache(std::filesystem::path dir)
    : m_dir(std::move(dir))
{
    detail::createDirectories(m_dir, "the cache directory");
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& item : std::filesystem::directory_iterator(m_dir, ec))
        files.push_back(item.path());
    if (ec)
        throw Error(fmt::format("cannot read the cache directory {}: {}", m_dir.string(), ec.message()));
    for (const auto& p : files) {
        if (detail::isTemporaryFile(p)) {
            std::filesystem::remove(p, ec); // an interrupted write: the old entry is still intact
            continue;
        }
        if (p.extension() != kExtension)
            continue;
        std::string why;
        std::optional<CacheEntry> entry;
        try {
            if (auto bytes = detail::readWholeFile(p))
                entry = decodeCacheEntry(*bytes, &why);
        } catch (const Error& e) {
            why = e.what();
        }
        if (entry && fileFor(entry->url).filename() != p.filename()) {
            entry.reset();
            why = "stored under the wrong name";
        }
        if (!entry) {
            auto aside = p;
            aside += ".corrupt";
            std::filesystem::rename(p, aside, ec);
            m_corrupt.push_back({ p, why });
            continue;
        }
        auto url = entry->url;
        m_entries[url] = std::make_shared<const CacheEntry>(std::move(*entry));
    }
}

std::filesystem::path MudCache::fileFor(const std::string& url) const { return m_dir / (sha256Hex(url) + kExtension); }

CacheState DocumentCache::stateOf(const CacheEntry& e, std::chrono::system_clock::time_point now)
{
    if (!e.isSupported)
        return CacheState::Unsupported;
    return now < e.fetchedAt + std::chrono::hours(e.cacheValidityHours) ? CacheState::Fresh : CacheState::Stale;
}

MudCache::Lookup MudCache::lookup(const std::string& url, std::chrono::system_clock::time_point now) const
{
    std::shared_ptr<const CacheEntry> entry;
    {
        std::shared_lock lock(m_mutex);
        auto it = m_entries.find(url);
        if (it == m_entries.end())
            return {};
        entry = it->second;
    }
    return Lookup { entry, stateOf(*entry, now) };
}

std::shared_ptr<const CacheEntry> MudCache::store(CacheEntry entry)
{
    std::lock_guard writer(m_writeMutex);
    auto shared = std::make_shared<const CacheEntry>(std::move(entry));
    detail::writeFileAtomically(fileFor(shared->url), encodeCacheEntry(*shared));
    std::unique_lock lock(m_mutex);
    m_entries[shared->url] = shared;
    return shared;
}

std::shared_ptr<const CacheEntry> MudCache::confirm(const std::string& url, std::chrono::system_clock::time_point at,
    const std::string& etag, const std::string& lastModified, bool verified)
{
    std::lock_guard writer(m_writeMutex);
    std::shared_ptr<const CacheEntry> current;
    {
        std::shared_lock lock(m_mutex);
        auto it = m_entries.find(url);
        if (it == m_entries.end())
            return nullptr;
        current = it->second;
    }
    auto updated = std::make_shared<CacheEntry>(*current);
    updated->fetchedAt = at;
    if (verified)
        updated->verifiedAt = at;
    if (!etag.empty())
        updated->etag = etag;
    if (!lastModified.empty())
        updated->lastModified = lastModified;
    detail::writeFileAtomically(fileFor(url), encodeCacheEntry(*updated));
    std::unique_lock lock(m_mutex);
    m_entries[url] = updated;
    return updated;
}

void MudCache::erase(const std::string& url)
{
    std::lock_guard writer(m_writeMutex);
    std::error_code ec;
    std::filesystem::remove(fileFor(url), ec);
    if (ec)
        throw Error(fmt::format("cannot remove the cache entry for {}: {}", url, ec.message()));
    std::unique_lock lock(m_mutex);
    m_entries.erase(url);
}

std::vector<std::shared_ptr<const CacheEntry>> MudCache::entries() const
{
    std::shared_lock lock(m_mutex);
    std::vector<std::shared_ptr<const CacheEntry>> out;
    out.reserve(m_entries.size());
    for (const auto& [url, e] : m_entries)
        out.push_back(e);
    return out;
}

std::vector<MudCache::CorruptEntry> MudCache::corrupt() const
{
    std::shared_lock lock(m_mutex);
    return m_corrupt;
}

} // namespace mudguard::mudparser
