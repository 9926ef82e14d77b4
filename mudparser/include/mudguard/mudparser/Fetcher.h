#pragma once
// Fetching MUD files and signatures over HTTPS (RFC 8520 section 4), safely: https only, TLS 1.2
// or newer with the certificate and host name verified, redirects followed by hand (at most 3,
// https only), a total deadline enforced by a watchdog, a size cap, per-host rate limiting, one
// request per URL in flight, and the server-side request forgery guard.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mudguard/mudparser/AddressGuard.h"
#include "mudguard/mudparser/Diagnostic.h"
#include "mudguard/mudparser/Resolver.h"
#include "mudguard/mudparser/Url.h"

namespace mudguard::mudparser {

/// Thrown by the Fetcher's constructor for an unusable configuration (an unreadable CA file).
class FetchError : public Error {
public:
    using Error::Error;
};

struct FetchConfig {
    std::chrono::milliseconds deadline { 10'000 }; ///< the whole fetch: resolution, redirects, body
    std::chrono::milliseconds connectTimeout { 5'000 }; ///< per connection attempt (within the deadline)
    std::chrono::milliseconds ioTimeout { 5'000 }; ///< per read or write (within the deadline)
    std::size_t maxMudBytes = 1 << 20;
    std::size_t maxSignatureBytes = 64 << 10;
    unsigned maxRedirects = 3;
    std::size_t maxUrlLength = Url::kMaxLength;
    /// PEM files of CAs trusted for the servers' TLS certificates, in addition to the system store.
    std::vector<std::filesystem::path> caFiles;
    bool systemCaStore = true;
    std::string acceptLanguage = "en";
    std::string userAgent; ///< empty: "mudguard/<version>"
    /// Token bucket per host: sustained requests per second and burst. 0 disables the limit.
    double hostRequestsPerSecond = 2.0;
    unsigned hostBurst = 4;
    /// Also accept "application/json" for MUD files (many servers use it); anything else but
    /// "application/mud+json" is refused.
    bool acceptPlainJson = true;
};

enum class FetchKind { MudFile, Signature };

struct FetchRequest {
    std::string url;
    FetchKind kind = FetchKind::MudFile;
    std::optional<std::string> ifNoneMatch; ///< ETag of the copy the caller has
    std::optional<std::string> ifModifiedSince; ///< Last-Modified of the copy the caller has
};

struct FetchResult {
    enum class Status { Ok, NotModified, Refused };
    Status status = Status::Refused;
    /// Why it was refused: a stable code (see docs/trust.md) and a sentence for an admin.
    std::string code;
    std::string message;

    std::string url; ///< the requested URL (normalised)
    std::string finalUrl; ///< after redirects
    std::vector<std::string> redirects;
    std::string address; ///< the address of the last connection made ("" when none was made)
    int httpStatus = 0;
    std::string body;
    std::string contentType, etag, lastModified;
    std::vector<std::string> warnings; ///< for example a MUD file served as application/json

    bool ok() const { return status != Status::Refused; }
};

/// Thread-safe; meant to be shared by all fetch workers. The TLS trust store is built once in the
/// constructor and shared read-only by every connection.
///
/// The process must ignore SIGPIPE (cpp-httplib writes with flags 0); the constructor sets
/// SIGPIPE to SIG_IGN when it still has its default action.
class Fetcher {
public:
    Fetcher(FetchConfig config, std::shared_ptr<const AddressGuard> guard,
        std::shared_ptr<Resolver> resolver = std::make_shared<SystemResolver>());
    ~Fetcher();
    Fetcher(const Fetcher&) = delete;
    Fetcher& operator=(const Fetcher&) = delete;

    /// Never throws: every failure is a Refused result with its reason. Concurrent calls for the
    /// same request share one network fetch.
    FetchResult fetch(const FetchRequest& request);

    const FetchConfig& config() const;

    struct Stats {
        std::uint64_t connections = 0; ///< TCP connections attempted
        std::uint64_t shared = 0; ///< calls answered by another caller's fetch in flight
    };
    Stats stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace mudguard::mudparser
