#pragma once
// The auditors' and admins' HTTP API (docs/api.md, docs/openapi.yaml) on cpp-httplib 0.11.4.
//
// Debian's cpp-httplib has unpatched server-side flaws (chunked bodies ignore the payload limit,
// unbounded header lines, no deadline for slow headers, a body-less POST waits for EOF, Range
// applied to every response). The server therefore reads each request head itself, with limits
// and a deadline, refuses what it does not need (Transfer-Encoding, oversized or malformed
// heads, a Content-Length over the cap) and only then lets the library parse the vetted head and
// read a body of known, capped length. Connections beyond the limit are refused without reading.
// It binds 127.0.0.1 by default; remote access belongs behind a hardened reverse proxy.
//
//   ApiServer server(backend, metrics, options);
//   server.start();            // binds, then serves in its own threads; throws ApiServerError
//   server.port();             // the bound port (useful with options.port = 0)
//   server.stop();             // also done by the destructor
//
// The server never throws from its threads; every request is logged once (category api) and
// counted in the metrics.

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mudguard/controller/Error.h"

namespace mudguard::controller {

class ApiBackend;
class MudguardMetrics;

enum class ApiRole {
    Auditor, ///< every read endpoint and /metrics
    Admin, ///< everything
};
const char* toString(ApiRole r) noexcept; ///< "auditor", "admin"
std::optional<ApiRole> parseApiRole(std::string_view s) noexcept;

/// One configured token: only the SHA-256 of the secret is kept.
struct ApiToken {
    std::string name; ///< [A-Za-z0-9_.-]{1,64}; appears in logs and the audit log
    std::array<unsigned char, 32> sha256 {};
    ApiRole role = ApiRole::Auditor;
};

/// A new random token (32 bytes from the kernel's CSPRNG, base64url, prefixed "mg_").
std::string newApiToken();
/// Lower-case hex SHA-256 of a token, as the configuration stores it.
std::string apiTokenSha256Hex(std::string_view token);
/// The token entry for a configured hex hash; nothing when `hex` is not 64 hex digits.
std::optional<std::array<unsigned char, 32>> parseSha256Hex(std::string_view hex);
/// True for names the configuration accepts ([A-Za-z0-9_.-]{1,64}).
bool validApiTokenName(std::string_view name) noexcept;

struct ApiTlsFiles {
    std::filesystem::path certificate; ///< PEM, the server certificate first, then its chain
    std::filesystem::path key; ///< PEM private key (not encrypted)
};

struct ApiServerOptions {
    std::string listenAddress = "127.0.0.1";
    std::uint16_t port = 8181; ///< 0: any free port (see port())
    std::optional<ApiTlsFiles> tls;
    std::vector<ApiToken> tokens;
    std::size_t maxBodyBytes = 64 * 1024; ///< larger request bodies get 413 before they are read
    std::size_t maxHeadBytes = 16 * 1024; ///< request line plus headers (431 beyond)
    std::size_t maxTargetBytes = 2048; ///< the request target (414 beyond)
    unsigned maxHeaders = 64;
    unsigned maxConnections = 32; ///< connections being served or waiting for a thread
    unsigned threads = 4; ///< worker threads (at most maxConnections)
    /// The whole request (head and body) must arrive within this time of its first byte, and each
    /// response write must progress within it.
    std::chrono::milliseconds timeout { 10'000 };
    std::chrono::milliseconds keepAliveTimeout { 5'000 }; ///< idle time between requests
    unsigned keepAliveMaxRequests = 100; ///< requests per connection
};

/// Start-up failures: the address cannot be bound, the TLS files are unusable.
class ApiServerError : public Error {
public:
    using Error::Error;
};

/// One endpoint, as registered (docs/openapi.yaml lists exactly these).
struct ApiRoute {
    std::string_view method; ///< "GET", "POST", "DELETE"
    std::string_view path; ///< template: "/api/v1/devices/{mac}"
    std::optional<ApiRole> role; ///< the least role allowed; nothing: no authentication
    std::string_view action; ///< short name for logs ("device", "register", "quarantine")
};

class ApiServer {
public:
    /// `backend` and `metrics` must outlive the server.
    ApiServer(ApiBackend& backend, MudguardMetrics& metrics, ApiServerOptions options);
    ~ApiServer();
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    /// Loads TLS material, binds and starts serving in a thread of its own. Throws
    /// ApiServerError. May be called once.
    void start();
    /// Stops accepting, ends open connections at their next step and joins every thread.
    void stop();
    /// The bound port (after start()).
    std::uint16_t port() const noexcept;
    bool tls() const noexcept;

    /// Replaces the tokens (configuration reload); requests in progress keep the old set.
    void setTokens(std::vector<ApiToken> tokens);

    /// Every endpoint the server serves.
    static std::span<const ApiRoute> routes() noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace mudguard::controller
