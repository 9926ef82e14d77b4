#include "mudguard/controller/ApiServer.h"

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <rapidjson/prettywriter.h>

#include "mudguard/controller/ApiBackend.h"
#include "mudguard/controller/Log.h"
#include "mudguard/controller/Metrics.h"

#include "api/ApiJson.h"
#include "api/Transport.h"
#include "discovery/Hex.h"
#include "json/BoundedJson.h"

namespace mudguard::controller {

// --- roles and tokens -----------------------------------------------------------------------------

const char* toString(ApiRole r) noexcept { return r == ApiRole::Admin ? "admin" : "auditor"; }

std::optional<ApiRole> parseApiRole(std::string_view s) noexcept
{
    if (s == "auditor")
        return ApiRole::Auditor;
    if (s == "admin")
        return ApiRole::Admin;
    return std::nullopt;
}

namespace {

std::array<unsigned char, 32> sha256(std::string_view data)
{
    std::array<unsigned char, 32> out {};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 || len != out.size())
        throw std::runtime_error("SHA-256 failed");
    return out;
}

std::string base64url(const unsigned char* p, std::size_t n)
{
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::size_t i = 0; i < n; ++i) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += kAlphabet[(acc >> bits) & 0x3f];
        }
    }
    if (bits > 0)
        out += kAlphabet[(acc << (6 - bits)) & 0x3f];
    return out;
}

} // namespace

std::string newApiToken()
{
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1)
        throw std::runtime_error("the random number generator failed");
    std::string token = "mg_" + base64url(raw, sizeof raw);
    OPENSSL_cleanse(raw, sizeof raw);
    return token;
}

std::string apiTokenSha256Hex(std::string_view token)
{
    auto h = sha256(token);
    std::string out;
    for (unsigned char c : h)
        out += fmt::format("{:02x}", c);
    return out;
}

std::optional<std::array<unsigned char, 32>> parseSha256Hex(std::string_view hex)
{
    if (hex.size() != 64)
        return std::nullopt;
    std::array<unsigned char, 32> out {};
    for (std::size_t i = 0; i < 32; ++i) {
        int hi = discovery::hexDigit(hex[2 * i]), lo = discovery::hexDigit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        out[i] = static_cast<unsigned char>(hi << 4 | lo);
    }
    return out;
}

bool validApiTokenName(std::string_view name) noexcept
{
    if (name.empty() || name.size() > 64)
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.'
            || c == '-';
    });
}

// --- routes ---------------------------------------------------------------------------------------

namespace {

constexpr ApiRoute kRoutes[] = {
    { "GET", "/healthz", std::nullopt, "health" },
    { "GET", "/metrics", ApiRole::Auditor, "metrics" },
    { "GET", "/api/v1/devices", ApiRole::Auditor, "devices" },
    { "POST", "/api/v1/devices", ApiRole::Admin, "register" },
    { "GET", "/api/v1/devices/{mac}", ApiRole::Auditor, "device" },
    { "DELETE", "/api/v1/devices/{mac}", ApiRole::Admin, "remove" },
    { "POST", "/api/v1/devices/{mac}/refresh", ApiRole::Admin, "refresh" },
    { "POST", "/api/v1/devices/{mac}/quarantine", ApiRole::Admin, "quarantine" },
    { "POST", "/api/v1/devices/{mac}/release", ApiRole::Admin, "release" },
    { "GET", "/api/v1/policies", ApiRole::Auditor, "policies" },
    { "GET", "/api/v1/policies/{id}", ApiRole::Auditor, "policy" },
    { "GET", "/api/v1/events", ApiRole::Auditor, "events" },
    { "POST", "/api/v1/signers/{authority}/accept", ApiRole::Admin, "accept-signer" },
    { "POST", "/api/v1/signers/{authority}/refuse", ApiRole::Admin, "refuse-signer" },
    { "POST", "/api/v1/config/reload", ApiRole::Admin, "reload" },
};

using Params = std::map<std::string, std::string, std::less<>>;

/// Matches a decoded path against a template; fills the {name} segments.
bool matchPath(std::string_view pattern, std::string_view path, Params& params)
{
    params.clear();
    for (;;) {
        if (pattern.empty() || path.empty())
            return pattern.empty() && path.empty();
        if (pattern[0] != '/' || path[0] != '/')
            return false;
        pattern.remove_prefix(1);
        path.remove_prefix(1);
        auto pe = pattern.find('/'), se = path.find('/');
        std::string_view ps = pattern.substr(0, pe), ss = path.substr(0, se);
        if (ps.size() > 2 && ps.front() == '{' && ps.back() == '}') {
            if (ss.empty())
                return false;
            params.emplace(std::string(ps.substr(1, ps.size() - 2)), std::string(ss));
        } else if (ps != ss) {
            return false;
        }
        pattern = pe == std::string_view::npos ? std::string_view {} : pattern.substr(pe);
        path = se == std::string_view::npos ? std::string_view {} : path.substr(se);
    }
}

/// The same template as a regular expression for cpp-httplib's router.
std::string routeRegex(std::string_view pattern)
{
    std::string out;
    for (std::size_t i = 0; i < pattern.size();) {
        if (pattern[i] == '{') {
            i = pattern.find('}', i) + 1;
            out += "([^/]+)";
        } else {
            out += pattern[i++];
        }
    }
    return out;
}

/// An error the handlers raise to answer with a status and code; translated in one place.
struct HttpError {
    int status;
    std::string code;
    std::string message;
};

HttpError badRequest(std::string message) { return { 400, "bad-request", std::move(message) }; }

bool validPolicyId(std::string_view id)
{
    return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.'
            || c == '-';
    });
}

/// A MUD URL authority: a host name (or an IP literal in brackets) with an optional port,
/// returned in lower case.
std::optional<std::string> canonicalAuthority(std::string_view s)
{
    if (s.empty() || s.size() > 260)
        return std::nullopt;
    std::string out;
    std::string_view host = s, port;
    if (s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos)
            return std::nullopt;
        host = s.substr(0, close + 1);
        std::string inner(s.substr(1, close - 1));
        in6_addr a {};
        if (inet_pton(AF_INET6, inner.c_str(), &a) != 1)
            return std::nullopt;
        if (close + 1 < s.size()) {
            if (s[close + 1] != ':')
                return std::nullopt;
            port = s.substr(close + 2);
            if (port.empty())
                return std::nullopt;
        }
    } else {
        auto colon = s.find(':');
        if (colon != std::string_view::npos) {
            host = s.substr(0, colon);
            port = s.substr(colon + 1);
            if (port.empty())
                return std::nullopt;
        }
        if (host.empty() || host.size() > 253 || host.front() == '.' || host.front() == '-')
            return std::nullopt;
        for (char c : host)
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
                return std::nullopt;
    }
    if (!port.empty()) {
        if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })
            || std::stoul(std::string(port)) == 0 || std::stoul(std::string(port)) > 65535)
            return std::nullopt;
    }
    for (char c : host)
        out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (!port.empty())
        out += ":" + std::string(port);
    return out;
}

/// The checks a MUD URL must pass before the backend sees it (RFC 8520 section 1.8: https, at
/// most 255 bytes in DHCP; here the same).
std::optional<std::string> mudUrlProblem(std::string_view url)
{
    if (url.size() > 255)
        return "a MUD URL has at most 255 bytes";
    if (url.substr(0, 8) != "https://")
        return "a MUD URL must start with https://";
    for (char c : url)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
            return "a MUD URL may contain printable ASCII only";
    std::string_view rest = url.substr(8);
    auto hostEnd = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, hostEnd);
    if (authority.find('@') != std::string_view::npos)
        return "a MUD URL may not carry user information";
    if (!canonicalAuthority(authority))
        return "the MUD URL's host is not valid";
    return std::nullopt;
}

bool knownMethod(std::string_view m)
{
    return m == "GET" || m == "POST" || m == "DELETE" || m == "PUT" || m == "PATCH" || m == "HEAD" || m == "OPTIONS";
}

} // namespace

std::span<const ApiRoute> ApiServer::routes() noexcept { return kRoutes; }

// --- the server -----------------------------------------------------------------------------------

struct SslCtxFree {
    void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};

struct ApiServer::Impl {
    using Request = httplib::Request;
    using Response = httplib::Response;

    struct Call {
        const Request& req;
        const ApiRoute& route;
        Params params;
        api::Actor actor;
    };

    Impl(ApiBackend& b, MudguardMetrics& m, ApiServerOptions o)
        : backend(b)
        , metrics(m)
        , options(std::move(o))
    {
        setTokens(options.tokens);
    }

    ApiBackend& backend;
    MudguardMetrics& metrics;
    ApiServerOptions options;
    std::unique_ptr<SSL_CTX, SslCtxFree> sslCtx;
    std::unique_ptr<http::GuardedServer> server;
    std::thread thread;
    std::uint16_t port = 0;

    std::mutex doneMutex;
    std::condition_variable doneCv;
    bool done = false;

    std::mutex tokenMutex;
    std::shared_ptr<const std::vector<ApiToken>> tokens;

    std::mutex refusedMutex;
    http::Clock::time_point refusedLogged {};
    std::uint64_t refusedSinceLog = 0;

    void setTokens(std::vector<ApiToken> t)
    {
        auto p = std::make_shared<const std::vector<ApiToken>>(std::move(t));
        std::lock_guard lock(tokenMutex);
        tokens = std::move(p);
    }

    std::shared_ptr<const std::vector<ApiToken>> currentTokens()
    {
        std::lock_guard lock(tokenMutex);
        return tokens;
    }

    // --- TLS and start-up -------------------------------------------------------------------

    static std::string opensslErrors()
    {
        std::string out;
        unsigned long e;
        const char* data = nullptr;
        int flags = 0;
        while ((e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
            char buf[256];
            ERR_error_string_n(e, buf, sizeof buf);
            if (!out.empty())
                out += "; ";
            out += buf;
            if ((flags & ERR_TXT_STRING) && data && *data)
                out += std::string(" (") + data + ")";
        }
        return out.empty() ? "unknown OpenSSL error" : out;
    }

    void loadTls()
    {
        const auto& files = *options.tls;
        ERR_clear_error();
        sslCtx.reset(SSL_CTX_new(TLS_server_method()));
        if (!sslCtx)
            throw ApiServerError("cannot create a TLS context: " + opensslErrors());
        SSL_CTX_set_min_proto_version(sslCtx.get(), TLS1_2_VERSION);
        SSL_CTX_set_options(
            sslCtx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
        SSL_CTX_set_mode(sslCtx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE);
        if (SSL_CTX_use_certificate_chain_file(sslCtx.get(), files.certificate.c_str()) != 1)
            throw ApiServerError(
                fmt::format("cannot load the API certificate {}: {}", files.certificate.string(), opensslErrors()));
        const bool keyLoaded = SSL_CTX_use_PrivateKey_file(sslCtx.get(), files.key.c_str(), SSL_FILETYPE_PEM) == 1;
        if (!keyLoaded && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
            throw ApiServerError(fmt::format("cannot load the API key {}: {}", files.key.string(), opensslErrors()));
        if (!keyLoaded || SSL_CTX_check_private_key(sslCtx.get()) != 1) {
            ERR_clear_error();
            throw ApiServerError(fmt::format("the API key {} does not belong to the certificate {}", files.key.string(),
                files.certificate.string()));
        }
    }

    void start()
    {
        if (server)
            throw ApiServerError("the API server was already started");
        in6_addr a6 {};
        in_addr a4 {};
        if (inet_pton(AF_INET, options.listenAddress.c_str(), &a4) != 1
            && inet_pton(AF_INET6, options.listenAddress.c_str(), &a6) != 1)
            throw ApiServerError(
                fmt::format("the API listen address \"{}\" is not an IP address", options.listenAddress));
        if (options.tls)
            loadTls();

        http::TransportOptions t;
        t.head.maxHeadBytes = options.maxHeadBytes;
        t.head.maxTargetBytes = options.maxTargetBytes;
        t.head.maxBodyBytes = options.maxBodyBytes;
        t.head.maxHeaders = options.maxHeaders;
        t.timeout = options.timeout;
        t.keepAliveTimeout = options.keepAliveTimeout;
        t.keepAliveMaxRequests = std::max(1u, options.keepAliveMaxRequests);
        t.threads = std::max(1u, options.threads);
        t.maxConnections = std::max(1u, options.maxConnections);

        http::TransportHooks hooks;
        hooks.answered
            = [this](const Request&, const Response& res) { record(http::currentRequest(), res.status, {}); };
        hooks.finished = [this](const http::RequestContext& ctx, int status, std::string_view,
                             std::string_view message) { record(ctx, status, message); };
        hooks.refused = [this] { connectionRefused(); };
        hooks.errorBody = [](int status, std::string_view code, std::string_view message) {
            return api::errorJson(status, code, message);
        };
        server = std::make_unique<http::GuardedServer>(t, sslCtx.get(), std::move(hooks));
        configure(*server);

        int bound;
        if (options.port == 0) {
            bound = server->bind_to_any_port(options.listenAddress);
        } else {
            bound = server->bind_to_port(options.listenAddress, options.port) ? options.port : -1;
        }
        if (bound <= 0) {
            int err = errno;
            server.reset();
            throw ApiServerError(fmt::format(
                "cannot listen on {}:{} for the API: {}", options.listenAddress, options.port, std::strerror(err)));
        }
        port = static_cast<std::uint16_t>(bound);
        thread = std::thread([this] {
            // A TLS write to a peer that went away raises SIGPIPE; keep it pending in the server's
            // threads (the workers inherit this mask) instead of killing the process.
            sigset_t pipe;
            sigemptyset(&pipe);
            sigaddset(&pipe, SIGPIPE);
            pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
            server->listen_after_bind();
            std::lock_guard lock(doneMutex);
            done = true;
            doneCv.notify_all();
        });
        log::write(log::Category::Api, log::Level::Info, "API listening",
            { { "address", log::Token { options.listenAddress } }, { "port", static_cast<int>(port) },
                { "tls", options.tls.has_value() }, { "tokens", static_cast<int>(currentTokens()->size()) } });
    }

    void stop()
    {
        if (!server)
            return;
        // The accept loop may not have started yet when stop() comes early: repeat until it ends.
        std::unique_lock lock(doneMutex);
        while (!done) {
            lock.unlock();
            server->shutdown();
            lock.lock();
            doneCv.wait_for(lock, std::chrono::milliseconds(20), [&] { return done; });
        }
        lock.unlock();
        thread.join();
        server.reset();
    }

    void configure(http::GuardedServer& s)
    {
        s.set_payload_max_length(options.maxBodyBytes);
        s.set_keep_alive_max_count(std::max(1u, options.keepAliveMaxRequests));
        s.set_pre_routing_handler([this](const Request& req, Response& res) { return preRoute(req, res); });
        // Every response >= 400 passes here, also those the handlers made: fill only empty bodies
        // (the library's own 400/404/413), so that every error is JSON.
        s.set_error_handler([](const Request&, Response& res) {
            if (!res.body.empty())
                return;
            const char* code = res.status == 413 ? "payload-too-large"
                : res.status == 404              ? "not-found"
                : res.status >= 500              ? "internal"
                                                 : "bad-request";
            const char* message = res.status == 413 ? "the request body is too large"
                : res.status == 404                 ? "no such endpoint"
                : res.status >= 500                 ? "internal error"
                                                    : "the request could not be read (malformed or incomplete)";
            res.set_content(api::errorJson(res.status, code, message), "application/json");
        });
        // Never let the library put exception text in a header.
        s.set_exception_handler([](const Request&, Response& res, std::exception_ptr) {
            res.status = 500;
            res.set_content(api::errorJson(500, "internal", "internal error"), "application/json");
        });
        s.set_default_headers({ { "Cache-Control", "no-store" }, { "X-Content-Type-Options", "nosniff" } });
        for (const auto& route : kRoutes) {
            auto handler = [this, &route](const Request& req, Response& res) { handle(route, req, res); };
            std::string pattern = routeRegex(route.path);
            if (route.method == "GET")
                s.Get(pattern, handler);
            else if (route.method == "POST")
                s.Post(pattern, handler);
            else if (route.method == "DELETE")
                s.Delete(pattern, handler);
        }
    }

    // --- request records: one log line and the metrics per request ---------------------------

    void record(const http::RequestContext& ctx, int status, std::string_view problem)
    {
        const double seconds = std::chrono::duration<double>(http::Clock::now() - ctx.start).count();
        const std::string method = knownMethod(ctx.method) ? ctx.method : "other";
        metrics.apiRequest(ctx.route, method, status, seconds);

        const std::string ms = fmt::format("{:.3f}", seconds * 1000);
        const bool admin = status >= 200 && status < 300 && isAdminRoute(ctx.route, method);
        log::Level level = log::Level::Debug;
        log::Event event = log::Event::None;
        std::string_view message = "request";
        if (status == 0) {
            level = log::Level::Warning;
            message = problem;
        } else if (status == 401) {
            level = log::Level::Warning;
            event = log::Event::ApiAuthFailed;
            message = "request without a valid token";
        } else if (status == 403) {
            level = log::Level::Warning;
            message = "request refused: the token's role does not allow it";
        } else if (status == 408 || status == 411 || status == 413 || status == 414 || status == 431) {
            level = log::Level::Warning;
            message = "request refused at a limit";
        } else if (status == 503) {
            level = log::Level::Warning;
            message = "request not served: the daemon is unavailable";
        } else if (status >= 500) {
            level = log::Level::Error;
            event = log::Event::InternalError;
            message = "request failed with an internal error";
        } else if (admin) {
            level = log::Level::Info;
            event = log::Event::AdminAction;
            message = "admin action";
        }
        if (!log::enabled(log::Category::Api, level))
            return;
        if (admin) {
            log::write(log::Category::Api, level, event, message,
                { { "action", log::Token { actionOf(ctx.route, method) } }, { "method", log::Token { method } },
                    { "path", ctx.path }, { "status", status }, { "ms", log::Token { ms } }, { "token", ctx.tokenName },
                    { "peer", log::Token { ctx.peer } } });
            return;
        }
        log::write(log::Category::Api, level, event, message,
            { { "method", log::Token { method } }, { "path", ctx.path }, { "route", log::Token { ctx.route } },
                { "status", status }, { "ms", log::Token { ms } }, { "token", ctx.tokenName },
                { "peer", log::Token { ctx.peer } } });
    }

    static bool isAdminRoute(std::string_view route, std::string_view method)
    {
        for (const auto& r : kRoutes)
            if (r.path == route && r.method == method)
                return r.role == ApiRole::Admin;
        return false;
    }

    static std::string_view actionOf(std::string_view route, std::string_view method)
    {
        for (const auto& r : kRoutes)
            if (r.path == route && r.method == method)
                return r.action;
        return "";
    }

    void connectionRefused()
    {
        metrics.apiConnectionsRefused().inc();
        std::lock_guard lock(refusedMutex);
        ++refusedSinceLog;
        auto now = http::Clock::now();
        if (now - refusedLogged < std::chrono::seconds(10))
            return;
        log::write(log::Category::Api, log::Level::Warning, "connection limit reached, refusing connections",
            { { "limit", static_cast<int>(options.maxConnections) },
                { "refused", static_cast<std::int64_t>(refusedSinceLog) } });
        refusedLogged = now;
        refusedSinceLog = 0;
    }

    // --- routing, authentication, validation (before any body is read) ----------------------

    static void reply(Response& res, int status, const std::string& body)
    {
        res.status = status;
        res.set_content(body, "application/json");
    }

    static void replyError(const Request& req, Response& res, const HttpError& e)
    {
        reply(res, e.status, api::errorJson(e.status, e.code, e.message));
        // A body that will not be read leaves the connection mid-request: end it.
        if (req.get_header_value_count("Content-Length") && req.get_header_value("Content-Length") != "0")
            res.set_header("Connection", "close");
    }

    httplib::Server::HandlerResponse preRoute(const Request& req, Response& res)
    {
        using HR = httplib::Server::HandlerResponse;
        auto& ctx = http::currentRequest();
        try {
            const ApiRoute* route = nullptr;
            std::vector<std::string_view> allowed;
            Params params;
            for (const auto& r : kRoutes) {
                if (!matchPath(r.path, req.path, params))
                    continue;
                allowed.push_back(r.method);
                if (r.method == req.method)
                    route = &r;
            }
            if (allowed.empty())
                throw HttpError { 404, "not-found", "no such endpoint" };
            if (!route) {
                std::string allow;
                for (auto m : allowed)
                    allow += (allow.empty() ? "" : ", ") + std::string(m);
                res.set_header("Allow", allow);
                throw HttpError { 405, "method-not-allowed",
                    fmt::format("{} is not allowed here; allowed: {}", req.method, allow) };
            }
            ctx.route = std::string(route->path);
            if (route->role)
                authenticate(req, res, *route->role, ctx);
            Call call { req, *route, {}, {} };
            validate(call); // throws HttpError; the handler validates again from scratch
            return HR::Unhandled;
        } catch (const HttpError& e) {
            replyError(req, res, e);
            return HR::Handled;
        } catch (const std::exception& e) {
            logInternal("pre-routing", e.what());
            replyError(req, res, { 500, "internal", "internal error" });
            return HR::Handled;
        }
    }

    void authenticate(const Request& req, Response& res, ApiRole needed, http::RequestContext& ctx)
    {
        auto unauthorized = [&](const char* message, bool presented) {
            res.set_header("WWW-Authenticate",
                presented ? "Bearer realm=\"mudguard\", error=\"invalid_token\"" : "Bearer realm=\"mudguard\"");
            return HttpError { 401, "unauthorized", message };
        };
        if (req.get_header_value_count("Authorization") == 0)
            throw unauthorized("a bearer token is required (Authorization: Bearer <token>)", false);
        if (req.get_header_value_count("Authorization") > 1)
            throw unauthorized("more than one Authorization header", true);
        const std::string header = req.get_header_value("Authorization");
        constexpr std::string_view kScheme = "bearer ";
        std::string_view h(header);
        bool schemeOk = h.size() > kScheme.size();
        for (std::size_t i = 0; schemeOk && i < kScheme.size(); ++i)
            schemeOk = static_cast<char>(std::tolower(static_cast<unsigned char>(h[i]))) == kScheme[i];
        if (!schemeOk)
            throw unauthorized("the Authorization header must use the Bearer scheme", true);
        std::string_view token = h.substr(kScheme.size());
        while (!token.empty() && token.front() == ' ')
            token.remove_prefix(1);
        if (token.empty() || token.size() > 512)
            throw unauthorized("the token is missing or too long", true);

        // Compare the token's hash with every configured hash, in constant time and without
        // stopping at a match, so that timing reveals neither the token nor which entry matched.
        const auto presented = sha256(token);
        auto all = currentTokens();
        const ApiToken* match = nullptr;
        for (const auto& t : *all) {
            bool same = CRYPTO_memcmp(presented.data(), t.sha256.data(), presented.size()) == 0;
            if (same && !match)
                match = &t;
        }
        if (!match)
            throw unauthorized("the token is not valid", true);
        ctx.tokenName = match->name;
        if (needed == ApiRole::Admin && match->role != ApiRole::Admin)
            throw HttpError { 403, "forbidden",
                fmt::format("the token \"{}\" has the role auditor; this needs admin", match->name) };
    }

    /// Path and query parameters, checked before the body is read.
    void validate(Call& call)
    {
        matchPath(call.route.path, call.req.path, call.params);
        if (auto it = call.params.find("mac"); it != call.params.end()) {
            auto mac = canonicalMac(it->second);
            if (!mac)
                throw badRequest(
                    fmt::format("\"{}\" is not a MAC address (use 02:00:00:00:00:01)", it->second.substr(0, 64)));
            it->second = *mac;
        }
        if (auto it = call.params.find("id"); it != call.params.end() && !validPolicyId(it->second))
            throw badRequest("a policy id is 1 to 64 of the characters A-Z a-z 0-9 _ . -");
        if (auto it = call.params.find("authority"); it != call.params.end()) {
            auto a = canonicalAuthority(it->second);
            if (!a)
                throw badRequest("the authority must be a host name (with an optional :port), as in the MUD URL");
            it->second = *a;
        }
        const bool events = call.route.path == "/api/v1/events";
        for (const auto& [name, value] : call.req.params) {
            if (!events || (name != "since" && name != "device" && name != "limit"))
                throw badRequest(fmt::format("unknown query parameter \"{}\"", name.substr(0, 64)));
            if (call.req.get_param_value_count(name) > 1)
                throw badRequest(fmt::format("the query parameter \"{}\" is given more than once", name));
        }
        call.actor.tokenName = http::currentRequest().tokenName;
    }

    static std::uint64_t unsignedParam(const Request& req, const char* name, std::uint64_t max)
    {
        const std::string v = req.get_param_value(name);
        if (v.empty() || v.size() > 19 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
            throw badRequest(fmt::format("\"{}\" must be a decimal number", name));
        std::uint64_t n = std::stoull(v);
        if (n > max)
            throw badRequest(fmt::format("\"{}\" may be at most {}", name, max));
        return n;
    }

    // --- handlers ------------------------------------------------------------------------------

    /// The one place where errors become responses.
    void handle(const ApiRoute& route, const Request& req, Response& res)
    {
        try {
            Call call { req, route, {}, {} };
            validate(call);
            dispatch(call, res);
        } catch (const HttpError& e) {
            replyError(req, res, e);
        } catch (const api::NotFound& e) {
            replyError(req, res, { 404, "not-found", e.what() });
        } catch (const api::Conflict& e) {
            replyError(req, res, { 409, "conflict", e.what() });
        } catch (const api::InvalidInput& e) {
            replyError(req, res, { 400, "bad-request", e.what() });
        } catch (const api::InvalidMud& e) {
            reply(res, 422, api::invalidDocumentJson(422, "invalid-mud", e.what(), e.mudUrl(), e.diagnostics()));
        } catch (const api::InvalidConfig& e) {
            reply(res, 422, api::invalidDocumentJson(422, "invalid-config", e.what(), {}, e.diagnostics()));
        } catch (const api::Unavailable& e) {
            res.set_header("Retry-After", "1");
            replyError(req, res, { 503, "unavailable", e.what() });
        } catch (const std::exception& e) {
            logInternal(route.action, e.what());
            replyError(req, res, { 500, "internal", "internal error" });
        } catch (...) {
            logInternal(route.action, "unknown exception");
            replyError(req, res, { 500, "internal", "internal error" });
        }
    }

    static void logInternal(std::string_view where, std::string_view what)
    {
        log::write(log::Category::Api, log::Level::Error, log::Event::InternalError, "API handler failed",
            { { "where", log::Token { where } }, { "reason", what } });
    }

    void dispatch(Call& c, Response& res)
    {
        const std::string_view a = c.route.action;
        if (a == "health") {
            api::Health h;
            try {
                h = backend.health();
            } catch (const std::exception& e) {
                logInternal("health", e.what());
                h.ok = false;
                h.reasons = { "the daemon did not answer" };
            }
            reply(res, h.ok ? 200 : 503, api::healthJson(h));
        } else if (a == "metrics") {
            res.status = 200;
            res.set_content(metrics.registry().render(), Metrics::kContentType);
        } else if (a == "devices") {
            reply(res, 200, api::devicesJson(backend.devices()));
        } else if (a == "device") {
            reply(res, 200, api::deviceDetailJson(backend.device(c.params.at("mac"))));
        } else if (a == "policies") {
            reply(res, 200, api::policiesJson(backend.policies()));
        } else if (a == "policy") {
            reply(res, 200, api::policyDetailJson(backend.policy(c.params.at("id"))));
        } else if (a == "events") {
            AuditQuery q;
            if (c.req.has_param("since"))
                q.since = static_cast<std::int64_t>(unsignedParam(c.req, "since", INT64_MAX));
            if (c.req.has_param("limit")) {
                q.limit = unsignedParam(c.req, "limit", kMaxAuditPage);
                if (q.limit == 0)
                    throw badRequest("\"limit\" must be at least 1");
            }
            if (c.req.has_param("device")) {
                auto mac = canonicalMac(c.req.get_param_value("device"));
                if (!mac)
                    throw badRequest("\"device\" must be a MAC address (02:00:00:00:00:01)");
                q.device = *mac;
            }
            reply(res, 200, api::eventsJson(backend.events(q)));
        } else if (a == "register") {
            outcome(res, backend.registerDevice(registerRequest(c.req), c.actor));
        } else if (a == "remove") {
            noBody(c.req);
            outcome(res, backend.removeDevice(c.params.at("mac"), c.actor));
        } else if (a == "refresh") {
            noBody(c.req);
            outcome(res, backend.refreshDevice(c.params.at("mac"), c.actor));
        } else if (a == "quarantine") {
            std::string reason;
            if (auto doc = optionalBody(c.req, { "reason" })) {
                if (auto* r = json::member(*doc, "reason")) {
                    if (!r->IsString() || r->GetStringLength() > 256)
                        throw badRequest("\"reason\" must be a string of at most 256 bytes");
                    reason = json::str(*r);
                }
            }
            outcome(res, backend.quarantineDevice(c.params.at("mac"), reason, c.actor));
        } else if (a == "release") {
            noBody(c.req);
            outcome(res, backend.releaseDevice(c.params.at("mac"), c.actor));
        } else if (a == "accept-signer" || a == "refuse-signer") {
            std::optional<std::string> signer;
            if (auto doc = optionalBody(c.req, { "signer" })) {
                if (auto* s = json::member(*doc, "signer")) {
                    if (!s->IsString() || s->GetStringLength() == 0 || s->GetStringLength() > 1024)
                        throw badRequest("\"signer\" must be a non-empty string of at most 1024 bytes");
                    signer = json::str(*s);
                }
            }
            if (a == "accept-signer")
                outcome(res, backend.acceptSigner(c.params.at("authority"), signer, c.actor));
            else
                outcome(res, backend.refuseSigner(c.params.at("authority"), signer, c.actor));
        } else if (a == "reload") {
            noBody(c.req);
            outcome(res, backend.reloadConfig(c.actor));
        } else {
            throw std::logic_error("route without a handler");
        }
    }

    static void outcome(Response& res, const api::ActionOutcome& o)
    {
        int status = o.kind == api::ActionOutcome::Kind::Accepted ? 202 : o.created ? 201 : 200;
        reply(res, status, api::outcomeJson(o));
    }

    // --- request bodies ------------------------------------------------------------------------

    rapidjson::Document parseObject(const Request& req, std::initializer_list<std::string_view> allowed)
    {
        rapidjson::Document doc;
        json::Limits limits;
        limits.maxBytes = options.maxBodyBytes;
        std::string problem = json::parse(req.body, doc, limits);
        if (!problem.empty())
            throw HttpError { 400, "invalid-json", "the request body is not valid JSON: " + problem };
        if (!doc.IsObject())
            throw HttpError { 400, "invalid-json", "the request body must be a JSON object" };
        for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
            std::string_view name(it->name.GetString(), it->name.GetStringLength());
            if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
                throw badRequest(
                    fmt::format("unknown member \"{}\" in the request body", json::str(it->name).substr(0, 64)));
        }
        return doc;
    }

    std::optional<rapidjson::Document> optionalBody(const Request& req, std::initializer_list<std::string_view> allowed)
    {
        if (req.body.empty())
            return std::nullopt;
        return parseObject(req, allowed);
    }

    void noBody(const Request& req)
    {
        if (!req.body.empty())
            parseObject(req, {}); // an empty object is fine; anything in it is not
    }

    api::RegisterDevice registerRequest(const Request& req)
    {
        if (req.body.empty())
            throw badRequest("the request body must be a JSON object with \"mac\" and \"mud-url\" or \"mud-file\"");
        auto doc = parseObject(req, { "mac", "mud-url", "mud-file" });
        api::RegisterDevice r;
        const auto* mac = json::member(doc, "mac");
        if (!mac || !mac->IsString())
            throw badRequest("\"mac\" is required and must be a string");
        auto canonical = canonicalMac(json::str(*mac));
        if (!canonical)
            throw badRequest("\"mac\" is not a MAC address (use 02:00:00:00:00:01)");
        r.mac = *canonical;
        const auto* url = json::member(doc, "mud-url");
        const auto* file = json::member(doc, "mud-file");
        if ((url == nullptr) == (file == nullptr))
            throw badRequest("give exactly one of \"mud-url\" and \"mud-file\"");
        if (url) {
            if (!url->IsString())
                throw badRequest("\"mud-url\" must be a string");
            std::string u = json::str(*url);
            if (auto problem = mudUrlProblem(u))
                throw badRequest(*problem);
            r.mudUrl = std::move(u);
        } else if (file->IsString()) {
            // Kept as written (diagnostics then point at the admin's own lines), but it must be a
            // JSON object within the same limits as the request.
            std::string text = json::str(*file);
            rapidjson::Document inner;
            json::Limits limits;
            limits.maxBytes = options.maxBodyBytes;
            if (std::string problem = json::parse(text, inner, limits); !problem.empty())
                throw HttpError { 400, "invalid-json", "\"mud-file\" is not valid JSON: " + problem };
            if (!inner.IsObject())
                throw badRequest("\"mud-file\" must hold a JSON object");
            r.mudDocument = std::move(text);
        } else if (file->IsObject()) {
            // Pretty-printed, so that the line numbers of diagnostics point somewhere readable.
            rapidjson::StringBuffer buf;
            rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
            w.SetIndent(' ', 2);
            file->Accept(w);
            r.mudDocument = std::string(buf.GetString(), buf.GetSize());
        } else {
            throw badRequest("\"mud-file\" must be the MUD file as a JSON object (or its text as a string)");
        }
        return r;
    }
};

ApiServer::ApiServer(ApiBackend& backend, MudguardMetrics& metrics, ApiServerOptions options)
    : m_impl(std::make_unique<Impl>(backend, metrics, std::move(options)))
{
}

ApiServer::~ApiServer() { stop(); }

void ApiServer::start() { m_impl->start(); }
void ApiServer::stop() { m_impl->stop(); }
std::uint16_t ApiServer::port() const noexcept { return m_impl->port; }
bool ApiServer::tls() const noexcept { return m_impl->options.tls.has_value(); }
void ApiServer::setTokens(std::vector<ApiToken> tokens) { m_impl->setTokens(std::move(tokens)); }

} // namespace mudguard::controller
