#include "mudguard/mudparser/Fetcher.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mudguard/Config.h"

#include "OpensslHandles.h"

namespace mudguard::mudparser {

namespace {

using Clock = std::chrono::steady_clock;

FetchResult refused(std::string code, std::string message)
{
    FetchResult r;
    r.code = std::move(code);
    r.message = std::move(message);
    return r;
}

std::string seconds(std::chrono::milliseconds d)
{
    if (d.count() % 1000 == 0)
        return fmt::format("{} s", d.count() / 1000);
    return fmt::format("{:.1f} s", static_cast<double>(d.count()) / 1000.0);
}

std::string sizeText(std::size_t n)
{
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        return fmt::format("{} MiB", n >> 20);
    if (n >= 1024 && n % 1024 == 0)
        return fmt::format("{} KiB", n >> 10);
    return fmt::format("{} bytes", n);
}

/// One thread that shuts down the sockets of attempts whose deadline has passed. cpp-httplib 0.11.4
/// has no total timeout, and its stop() waits for a TLS handshake to finish, so the watchdog
/// shuts the socket down itself (through a duplicate descriptor the attempt owns).
class Watchdog {
public:
    using Id = std::uint64_t;

    Watchdog()
        : m_thread([this] { run(); })
    {
    }

    ~Watchdog()
    {
        {
            std::lock_guard lock(m_mutex);
            m_stop = true;
        }
        m_cv.notify_all();
        m_thread.join();
    }

    /// `onExpiry` runs on the watchdog thread, under its lock: it must be quick and not block.
    Id arm(Clock::time_point deadline, std::function<void()> onExpiry)
    {
        std::lock_guard lock(m_mutex);
        Id id = ++m_next;
        m_entries.emplace(id, Entry { deadline, std::move(onExpiry) });
        m_cv.notify_all();
        return id;
    }

    /// When this returns, the callback is neither running nor going to run.
    void disarm(Id id)
    {
        std::lock_guard lock(m_mutex);
        m_entries.erase(id);
    }

private:
    struct Entry {
        Clock::time_point deadline;
        std::function<void()> onExpiry;
    };

    void run()
    {
        std::unique_lock lock(m_mutex);
        while (!m_stop) {
            if (m_entries.empty()) {
                m_cv.wait(lock);
                continue;
            }
            auto earliest = std::min_element(m_entries.begin(), m_entries.end(),
                [](const auto& a, const auto& b) { return a.second.deadline < b.second.deadline; });
            if (Clock::now() < earliest->second.deadline) {
                auto until = earliest->second.deadline; // the entry may go while waiting
                m_cv.wait_until(lock, until);
                continue;
            }
            auto fire = std::move(earliest->second.onExpiry);
            m_entries.erase(earliest);
            fire();
        }
    }

    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::map<Id, Entry> m_entries;
    Id m_next = 0;
    bool m_stop = false;
    std::thread m_thread;
};

/// Token bucket per host. A request that would have to wait past its deadline is refused.
class RateLimiter {
public:
    RateLimiter(double rate, unsigned burst)
        : m_rate(rate)
        , m_burst(std::max(1u, burst))
    {
    }

    /// Waits for a token; false when none comes before `deadline`.
    bool acquire(const std::string& host, Clock::time_point deadline)
    {
        if (m_rate <= 0)
            return true;
        Clock::duration wait {};
        {
            std::lock_guard lock(m_mutex);
            auto now = Clock::now();
            if (m_buckets.size() > kMaxHosts)
                evictIdle(now);
            auto [it, inserted] = m_buckets.try_emplace(host, Bucket { static_cast<double>(m_burst), now });
            auto& b = it->second;
            b.tokens
                = std::min<double>(m_burst, b.tokens + std::chrono::duration<double>(now - b.last).count() * m_rate);
            b.last = now;
            if (b.tokens < 1.0) {
                wait = std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>((1.0 - b.tokens) / m_rate));
                if (now + wait > deadline)
                    return false;
            }
            b.tokens -= 1.0; // may go negative: a reservation for a later moment
        }
        if (wait.count() > 0)
            std::this_thread::sleep_for(wait);
        return true;
    }

private:
    struct Bucket {
        double tokens;
        Clock::time_point last;
    };
    static constexpr std::size_t kMaxHosts = 4096;

    void evictIdle(Clock::time_point now)
    {
        std::erase_if(m_buckets, [&](const auto& kv) {
            return kv.second.tokens + std::chrono::duration<double>(now - kv.second.last).count() * m_rate >= m_burst;
        });
    }

    double m_rate;
    unsigned m_burst;
    std::mutex m_mutex;
    std::map<std::string, Bucket> m_buckets;
};

/// What the verify callback saw, per connection.
struct TlsState {
    int error = X509_V_OK;
    int depth = -1;
    std::string subject;
    std::string notAfter;
};

int tlsStateIndex()
{
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int verifyCallback(int ok, X509_STORE_CTX* x)
{
    if (ok)
        return 1;
    auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* state = ssl ? static_cast<TlsState*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tlsStateIndex())) : nullptr;
    if (state && state->error == X509_V_OK) {
        state->error = X509_STORE_CTX_get_error(x);
        state->depth = X509_STORE_CTX_get_error_depth(x);
        if (auto* cert = X509_STORE_CTX_get_current_cert(x)) {
            state->subject = ossl::nameText(X509_get_subject_name(cert));
            state->notAfter = ossl::timeText(X509_get0_notAfter(cert));
        }
    }
    return 0;
}

/// Socket and expiry of one connection attempt, shared with the watchdog.
struct Attempt {
    std::mutex mutex;
    int fd = -1; ///< a duplicate of the client's socket, owned here
    bool expired = false;

    void adopt(int sock)
    {
        std::lock_guard lock(mutex);
        fd = fcntl(sock, F_DUPFD_CLOEXEC, 0);
        if (expired && fd >= 0)
            ::shutdown(fd, SHUT_RDWR);
    }
    void expire()
    {
        std::lock_guard lock(mutex);
        expired = true;
        if (fd >= 0)
            ::shutdown(fd, SHUT_RDWR);
    }
    bool hasExpired()
    {
        std::lock_guard lock(mutex);
        return expired;
    }
    ~Attempt()
    {
        if (fd >= 0)
            ::close(fd);
    }
};

std::string mediaType(const std::string& contentType)
{
    auto semi = contentType.find(';');
    std::string t = contentType.substr(0, semi);
    t.erase(t.find_last_not_of(" \t") + 1);
    t.erase(0, std::min(t.size(), t.find_first_not_of(" \t")));
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
    return t;
}

const char* reasonPhrase(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 406:
        return "Not Acceptable";
    case 410:
        return "Gone";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "";
    }
}

bool isRedirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

} // namespace

struct Fetcher::Impl {
    FetchConfig config;
    std::shared_ptr<const AddressGuard> guard;
    std::shared_ptr<Resolver> resolver;
    ossl::X509StorePtr store;
    std::string userAgent;
    Watchdog watchdog;
    RateLimiter limiter;
    std::atomic<std::uint64_t> connections { 0 };
    std::atomic<std::uint64_t> shared { 0 };

    std::mutex flightMutex;
    std::map<std::string, std::shared_future<FetchResult>> inFlight;

    Impl(FetchConfig c, std::shared_ptr<const AddressGuard> g, std::shared_ptr<Resolver> r)
        : config(std::move(c))
        , guard(std::move(g))
        , resolver(std::move(r))
        , limiter(config.hostRequestsPerSecond, config.hostBurst)
    {
        if (!guard)
            guard = std::make_shared<AddressGuard>();
        if (!resolver)
            resolver = std::make_shared<SystemResolver>();
        userAgent = config.userAgent.empty() ? fmt::format("mudguard/{}", config::kVersion) : config.userAgent;
        ERR_clear_error();
        store.reset(X509_STORE_new());
        if (!store)
            throw FetchError("cannot create a certificate store: " + ossl::drainErrors());
        if (config.systemCaStore && X509_STORE_set_default_paths(store.get()) != 1)
            throw FetchError("cannot load the system CA store: " + ossl::drainErrors());
        for (const auto& f : config.caFiles) {
            if (X509_STORE_load_file(store.get(), f.c_str()) != 1)
                throw FetchError(fmt::format("cannot load CA file {}: {}", f.string(), ossl::drainErrors()));
        }
        ERR_clear_error();
    }

    FetchResult fetch(const FetchRequest& request)
    {
        std::string key = fmt::format("{}\n{}\n{}\n{}", request.kind == FetchKind::MudFile ? "mud" : "sig", request.url,
            request.ifNoneMatch.value_or(""), request.ifModifiedSince.value_or(""));
        std::promise<FetchResult> promise;
        {
            std::unique_lock lock(flightMutex);
            if (auto it = inFlight.find(key); it != inFlight.end()) {
                auto future = it->second;
                lock.unlock();
                ++shared;
                return future.get();
            }
            inFlight.emplace(key, promise.get_future().share());
        }
        FetchResult result;
        try {
            result = perform(request);
        } catch (const std::exception& e) {
            result = refused("fetch-internal", fmt::format("internal error while fetching: {}", e.what()));
        }
        promise.set_value(result);
        std::lock_guard lock(flightMutex);
        inFlight.erase(key);
        return result;
    }

    FetchResult perform(const FetchRequest& request)
    {
        auto deadline = Clock::now() + config.deadline;
        auto parsed = Url::parse(request.url, config.maxUrlLength);
        if (!parsed)
            return refused(parsed.code, parsed.message);
        Url current = *parsed.url;
        std::vector<std::string> redirects;
        FetchResult r;
        while (true) {
            r = fetchOnce(current, request, deadline);
            r.url = parsed.url->str();
            r.finalUrl = current.str();
            r.redirects = redirects;
            if (r.status == FetchResult::Status::Refused || !isRedirect(r.httpStatus))
                return r;
            auto location = r.body; // fetchOnce leaves the Location header here for redirects
            r.body.clear();
            if (auto hash = location.find('#'); hash != std::string::npos)
                location.erase(hash);
            if (location.empty())
                return fail(r, "fetch-redirect-invalid",
                    fmt::format("{} answered {} without a Location header", current.str(), r.httpStatus));
            auto next = current.resolve(location, config.maxUrlLength);
            if (!next) {
                if (next.code == "url-scheme")
                    return fail(r, "fetch-redirect-insecure",
                        fmt::format(
                            "{} redirects to \"{}\"; only https redirects are followed", current.str(), location));
                return fail(r, "fetch-redirect-invalid",
                    fmt::format(
                        "{} redirects to an unacceptable URL \"{}\": {}", current.str(), location, next.message));
            }
            if (next.url->str() == parsed.url->str()
                || std::find(redirects.begin(), redirects.end(), next.url->str()) != redirects.end())
                return fail(r, "fetch-redirect-loop",
                    fmt::format("redirect loop: {} leads back to {}", current.str(), next.url->str()));
            if (redirects.size() >= config.maxRedirects)
                return fail(r, "fetch-redirect-limit",
                    fmt::format("more than {} redirects (the last one from {} to {})", config.maxRedirects,
                        current.str(), next.url->str()));
            redirects.push_back(next.url->str());
            current = *next.url;
        }
    }

    static FetchResult fail(FetchResult r, std::string code, std::string message)
    {
        r.status = FetchResult::Status::Refused;
        r.code = std::move(code);
        r.message = std::move(message);
        r.body.clear();
        return r;
    }

    FetchResult fetchOnce(const Url& url, const FetchRequest& request, Clock::time_point deadline)
    {
        if (!limiter.acquire(url.host(), deadline))
            return refused("fetch-rate-limited",
                fmt::format("too many requests to {}; the rate limit ({}/s) leaves no slot before the {} deadline",
                    url.host(), config.hostRequestsPerSecond, seconds(config.deadline)));

        std::vector<IpAddress> addresses;
        if (url.hostKind() == Url::HostKind::Name) {
            auto resolution = resolver->resolve(url.host(), deadline);
            if (resolution.addresses.empty())
                return refused("fetch-dns", fmt::format("cannot resolve {}: {}", url.host(), resolution.error));
            addresses = std::move(resolution.addresses);
        } else {
            addresses.push_back(*IpAddress::parse(url.host()));
        }
        // Every address must pass: a name that also resolves to an internal address is refused as a
        // whole, whichever address a connection would have used.
        for (const auto& a : addresses) {
            if (auto why = guard->check(a)) {
                std::string via
                    = url.hostKind() == Url::HostKind::Name ? fmt::format("{} resolves to ", url.host()) : "";
                return refused("fetch-forbidden-address",
                    fmt::format("{}{}: {}; no connection was made (an admin can allow it in the fetch allowlist)", via,
                        a.str(), *why));
            }
        }
        FetchResult r;
        for (std::size_t i = 0; i < addresses.size(); ++i) {
            r = attempt(url, addresses[i], request, deadline);
            bool connectFailed = r.status == FetchResult::Status::Refused && r.code == "fetch-connect";
            if (!connectFailed || Clock::now() >= deadline)
                break;
        }
        return r;
    }

    FetchResult attempt(const Url& url, const IpAddress& ip, const FetchRequest& request, Clock::time_point deadline)
    {
        auto remaining = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
        if (remaining.count() <= 0)
            return refused("fetch-deadline",
                fmt::format(
                    "the {} deadline passed before {} could be contacted", seconds(config.deadline), url.host()));
        std::size_t cap = request.kind == FetchKind::MudFile ? config.maxMudBytes : config.maxSignatureBytes;

        httplib::SSLClient cli(url.host(), url.port());
        // Connect to the checked address, while SNI and certificate verification use the host name.
        cli.set_hostname_addr_map({ { url.host(), ip.str() } });
        cli.set_keep_alive(false);
        cli.set_follow_location(false);
        cli.set_decompress(false);
        cli.set_connection_timeout(std::min<std::chrono::microseconds>(config.connectTimeout, remaining));
        cli.set_read_timeout(std::min<std::chrono::microseconds>(config.ioTimeout, remaining));
        cli.set_write_timeout(std::min<std::chrono::microseconds>(config.ioTimeout, remaining));

        // Verification by OpenSSL during the handshake, against the shared store, instead of
        // cpp-httplib's own: its set_ca_cert_path() replaces the system store and it cannot share a
        // store between clients. The verify callback records the exact reason.
        TlsState tls;
        cli.enable_server_certificate_verification(false);
        SSL_CTX* ctx = cli.ssl_context();
        if (!ctx)
            return refused("fetch-internal", "cannot create a TLS context: " + ossl::drainErrors());
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set1_cert_store(ctx, store.get());
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verifyCallback);
        SSL_CTX_set_ex_data(ctx, tlsStateIndex(), &tls);
        X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (url.hostKind() == Url::HostKind::Name)
            X509_VERIFY_PARAM_set1_host(param, url.host().c_str(), 0);
        else
            X509_VERIFY_PARAM_set1_ip_asc(param, url.host().c_str());

        auto state = std::make_shared<Attempt>();
        cli.set_socket_options([state](int sock) { state->adopt(sock); });

        httplib::Headers headers {
            { "Host", url.authority() },
            { "Accept",
                request.kind == FetchKind::MudFile ? "application/mud+json"
                                                   : "application/pkcs7-signature, application/octet-stream" },
            { "Accept-Language", config.acceptLanguage },
            { "Accept-Encoding", "identity" },
            { "User-Agent", userAgent },
        };
        if (request.ifNoneMatch)
            headers.emplace("If-None-Match", *request.ifNoneMatch);
        if (request.ifModifiedSince)
            headers.emplace("If-Modified-Since", *request.ifModifiedSince);

        int status = 0;
        bool tooLarge = false;
        std::string encoding, location;
        FetchResult r;
        r.address = ip.str();
        auto onResponse = [&](const httplib::Response& res) {
            status = res.status;
            r.contentType = res.get_header_value("Content-Type");
            r.etag = res.get_header_value("ETag");
            r.lastModified = res.get_header_value("Last-Modified");
            location = res.get_header_value("Location");
            encoding = mediaType(res.get_header_value("Content-Encoding"));
            if (status != 200)
                return false; // the body of anything but a 200 is never needed
            if (!encoding.empty() && encoding != "identity")
                return false;
            if (res.has_header("Content-Length")) {
                auto length = std::strtoull(res.get_header_value("Content-Length").c_str(), nullptr, 10);
                if (length > cap) {
                    tooLarge = true;
                    return false;
                }
            }
            return true;
        };
        auto onData = [&](const char* data, std::size_t n) {
            if (r.body.size() + n > cap) {
                tooLarge = true;
                return false;
            }
            r.body.append(data, n);
            return true;
        };

        ++connections;
        auto watch = watchdog.arm(deadline, [state] { state->expire(); });
        ERR_clear_error();
        auto result = cli.Get(url.target(), headers, onResponse, onData);
        watchdog.disarm(watch);
        std::string sslErrors = ossl::drainErrors();

        if (status == 0 && result)
            status = result->status;
        r.httpStatus = status;
        if (state->hasExpired())
            return fail(r, "fetch-deadline",
                fmt::format("no complete answer from {} ({}) within the {} deadline", url.host(), ip.str(),
                    seconds(config.deadline)));
        if (tooLarge)
            return fail(r, "fetch-too-large",
                fmt::format("the {} from {} exceeds the size limit of {}",
                    request.kind == FetchKind::MudFile ? "MUD file" : "signature", url.host(), sizeText(cap)));
        if (status == 0)
            return transportFailure(r, result.error(), url, ip, tls, sslErrors);
        if (isRedirect(status)) {
            r.status = FetchResult::Status::Ok;
            r.body = location;
            return r;
        }
        if (status == 304) {
            if (!request.ifNoneMatch && !request.ifModifiedSince)
                return fail(
                    r, "fetch-http-status", fmt::format("{} answered 304 to an unconditional request", url.host()));
            r.status = FetchResult::Status::NotModified;
            return r;
        }
        if (status != 200)
            return fail(r, "fetch-http-status",
                fmt::format("{} answered HTTP {} {} for {}", url.host(), status, reasonPhrase(status), url.target()));
        if (!encoding.empty() && encoding != "identity")
            return fail(r, "fetch-content-encoding",
                fmt::format("{} sent the body with Content-Encoding \"{}\" although only identity was accepted",
                    url.host(), encoding));
        if (!result)
            return transportFailure(r, result.error(), url, ip, tls, sslErrors);
        if (request.kind == FetchKind::MudFile) {
            auto type = mediaType(r.contentType);
            if (type == "application/json" && config.acceptPlainJson) {
                r.warnings.push_back(fmt::format(
                    "{} serves the MUD file as application/json; RFC 8520 asks for application/mud+json", url.host()));
            } else if (type != "application/mud+json") {
                return fail(r, "fetch-content-type",
                    fmt::format("{} serves the file as \"{}\"; a MUD file must be served as application/mud+json",
                        url.host(), r.contentType.empty() ? std::string("(no Content-Type)") : r.contentType));
            }
        }
        r.status = FetchResult::Status::Ok;
        return r;
    }

    FetchResult transportFailure(FetchResult r, httplib::Error error, const Url& url, const IpAddress& ip,
        const TlsState& tls, const std::string& sslErrors)
    {
        std::string where = fmt::format("{} ({} port {})", url.host(), ip.str(), url.port());
        switch (error) {
        case httplib::Error::Connection:
            return fail(r, "fetch-connect", fmt::format("cannot connect to {}", where));
        case httplib::Error::SSLConnection:
        case httplib::Error::SSLServerVerification:
            if (tls.error == X509_V_ERR_HOSTNAME_MISMATCH || tls.error == X509_V_ERR_IP_ADDRESS_MISMATCH)
                return fail(r, "fetch-tls-hostname",
                    fmt::format(
                        "the TLS certificate of {} ({}) is not valid for the name {}", where, tls.subject, url.host()));
            if (tls.error != X509_V_OK) {
                std::string detail = X509_verify_cert_error_string(tls.error);
                if (tls.error == X509_V_ERR_CERT_HAS_EXPIRED)
                    detail += fmt::format(" on {}", tls.notAfter);
                return fail(r, "fetch-tls-certificate",
                    fmt::format("the TLS certificate of {} was rejected: {} (certificate \"{}\" at depth {})", where,
                        detail, tls.subject, tls.depth));
            }
            return fail(r, "fetch-tls-handshake",
                fmt::format(
                    "the TLS handshake with {} failed{}", where, sslErrors.empty() ? std::string() : ": " + sslErrors));
        case httplib::Error::Read:
            return fail(r, "fetch-read", fmt::format("the connection to {} broke while reading the answer", where));
        case httplib::Error::Write:
            return fail(r, "fetch-write", fmt::format("the connection to {} broke while sending the request", where));
        default:
            return fail(
                r, "fetch-failed", fmt::format("fetching from {} failed: {}", where, httplib::to_string(error)));
        }
    }
};

Fetcher::Fetcher(FetchConfig config, std::shared_ptr<const AddressGuard> guard, std::shared_ptr<Resolver> resolver)
{
    struct sigaction current { };
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL)
        std::signal(SIGPIPE, SIG_IGN);
    m_impl = std::make_unique<Impl>(std::move(config), std::move(guard), std::move(resolver));
}

Fetcher::~Fetcher() = default;

FetchResult Fetcher::fetch(const FetchRequest& request) { return m_impl->fetch(request); }

const FetchConfig& Fetcher::config() const { return m_impl->config; }

Fetcher::Stats Fetcher::stats() const { return Stats { m_impl->connections.load(), m_impl->shared.load() }; }

} // namespace mudguard::mudparser
