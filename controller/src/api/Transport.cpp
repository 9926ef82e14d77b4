#include "api/Transport.h"

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mudguard/controller/Log.h"

namespace mudguard::controller::http {

namespace {

thread_local RequestContext t_request;
// Set while the accept thread runs a connection that is over the limit.
thread_local bool t_refuse = false;

using std::chrono::milliseconds;

int remainingMs(Clock::time_point deadline)
{
    // Rounded up: a poll that ends a fraction of a millisecond before the deadline would otherwise
    // look like a failure rather than a timeout.
    auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60'000));
}

const char* reasonPhrase(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

std::string rawResponse(int status, const std::string& body, std::string_view extraHeaders = {})
{
    return fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
                       "Connection: close\r\n{}\r\n{}",
        status, reasonPhrase(status), body.size(), extraHeaders, body);
}

struct SslFree {
    void operator()(SSL* s) const noexcept { SSL_free(s); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

std::string addressText(const sockaddr_storage& ss, int& port)
{
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
        port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
        inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
        port = ntohs(a->sin6_port);
    }
    return buf;
}

} // namespace

RequestContext& currentRequest() noexcept { return t_request; }

// --- the worker pool ------------------------------------------------------------------------------

/// httplib's TaskQueue with a fixed number of workers and a cap on admitted connections (being
/// served or queued). A connection over the cap runs at once on the accepting thread in refuse
/// mode: GuardedServer then writes a canned 503 without reading and closes it.
class BoundedTaskQueue : public httplib::TaskQueue {
public:
    /// `self` points to this queue while it exists (the server asks it how many wait).
    BoundedTaskQueue(unsigned threads, unsigned maxAdmitted, std::atomic<BoundedTaskQueue*>& self)
        : m_maxAdmitted(std::max(1u, maxAdmitted))
        , m_self(self)
    {
        m_self.store(this);
        for (unsigned i = 0; i < std::max(1u, std::min(threads, m_maxAdmitted)); ++i)
            m_workers.emplace_back([this] { work(); });
    }
    ~BoundedTaskQueue() override
    {
        shutdown();
        m_self.store(nullptr);
    }

    void enqueue(std::function<void()> fn) override
    {
        {
            std::lock_guard lock(m_mutex);
            if (m_admitted < m_maxAdmitted && !m_stopping) {
                ++m_admitted;
                m_jobs.push_back(std::move(fn));
                m_ready.notify_one();
                return;
            }
        }
        t_refuse = true;
        fn();
        t_refuse = false;
    }

    void shutdown() override
    {
        {
            std::lock_guard lock(m_mutex);
            if (m_stopping && m_workers.empty())
                return;
            m_stopping = true;
        }
        m_ready.notify_all();
        for (auto& t : m_workers)
            t.join();
        m_workers.clear();
    }

    /// Connections accepted and waiting for a worker.
    std::size_t waiting() const
    {
        std::lock_guard lock(m_mutex);
        return m_jobs.size();
    }

private:
    void work()
    {
        for (;;) {
            std::function<void()> job;
            {
                std::unique_lock lock(m_mutex);
                m_ready.wait(lock, [&] { return m_stopping || !m_jobs.empty(); });
                if (m_jobs.empty())
                    return; // stopping, and every admitted connection has been served
                job = std::move(m_jobs.front());
                m_jobs.pop_front();
            }
            job();
            std::lock_guard lock(m_mutex);
            --m_admitted;
        }
    }

    const unsigned m_maxAdmitted;
    std::atomic<BoundedTaskQueue*>& m_self;
    mutable std::mutex m_mutex;
    std::condition_variable m_ready;
    std::deque<std::function<void()>> m_jobs;
    std::vector<std::thread> m_workers;
    unsigned m_admitted = 0;
    bool m_stopping = false;
};

// --- one connection -------------------------------------------------------------------------------

namespace {

/// The socket (plain or TLS) as httplib's Stream, with a buffer that the transport fills and
/// checks before the library reads from it.
class Connection final : public httplib::Stream {
public:
    Connection(int fd, int stopFd, milliseconds ioTimeout)
        : m_fd(fd)
        , m_stopFd(stopFd)
        , m_ioTimeout(ioTimeout)
    {
        // The library writes a response's head and body in separate sends; with Nagle's algorithm
        // the body would wait for the ACK of the head, which the peer delays (about 40 ms).
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_storage ss {};
        socklen_t len = sizeof ss;
        if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
            m_peerIp = addressText(ss, m_peerPort);
        len = sizeof ss;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
            m_localIp = addressText(ss, m_localPort);
    }

    const std::string& peer() const { return m_peerIp; }

    /// TLS: the server side of the handshake, within the timeout.
    bool handshake(SSL_CTX* ctx)
    {
        ERR_clear_error();
        m_ssl.reset(SSL_new(ctx));
        if (!m_ssl || SSL_set_fd(m_ssl.get(), m_fd) != 1)
            return false;
        SSL_set_accept_state(m_ssl.get());
        const auto deadline = Clock::now() + m_ioTimeout;
        for (;;) {
            ERR_clear_error();
            int r = SSL_do_handshake(m_ssl.get());
            if (r == 1)
                return true;
            if (!waitTls(SSL_get_error(m_ssl.get(), r), deadline)) {
                ERR_clear_error();
                m_ssl.reset(); // nothing to shut down
                return false;
            }
        }
    }

    /// Waits up to `idle` for the next request. False when the peer closed, the server stops, the
    /// time is up, or `yield()` says other connections need the worker.
    bool waitForRequest(milliseconds idle, const std::function<bool()>& yield)
    {
        if (m_pos < m_in.size() || (m_ssl && SSL_pending(m_ssl.get()) > 0))
            return true;
        const auto deadline = Clock::now() + idle;
        for (;;) {
            int slice = std::min(remainingMs(deadline), 50);
            int r = pollFor(POLLIN, slice);
            if (r > 0)
                return true;
            if (r < 0 || yield() || Clock::now() >= deadline)
                return false;
        }
    }

    enum class HeadStatus { Complete, Refused, Closed, TimedOut, Failed };

    /// Reads until the head is complete or refused, within `deadline`. `received` tells whether
    /// any byte of the request arrived.
    HeadStatus readHead(const HeadLimits& limits, Clock::time_point deadline, HeadCheck& check, bool& received)
    {
        compact();
        for (;;) {
            received = m_in.size() > m_pos;
            if (received) {
                check = checkHead(std::string_view(m_in).substr(m_pos), limits);
                if (check.refusal)
                    return HeadStatus::Refused;
                if (check.head)
                    return HeadStatus::Complete;
            }
            ssize_t n = fill(deadline);
            if (n == 0)
                return HeadStatus::Closed;
            if (n < 0)
                return Clock::now() >= deadline ? HeadStatus::TimedOut : HeadStatus::Failed;
        }
    }

    /// Swaps the checked head for its rewritten form and allows the library to read it and
    /// `contentLength` body bytes until `deadline`.
    void admit(const Head& head, Clock::time_point deadline)
    {
        m_in.replace(m_pos, head.length, head.forLibrary);
        m_allowance = head.forLibrary.size() + head.contentLength;
        m_readDeadline = deadline;
    }

    /// Bytes of the admitted request the library did not read (an unread body).
    std::size_t unread() const { return m_allowance; }

    bool sendAll(std::string_view data)
    {
        const auto deadline = Clock::now() + m_ioTimeout;
        while (!data.empty()) {
            ssize_t n;
            if (m_ssl) {
                std::size_t written = 0;
                ERR_clear_error();
                int r = SSL_write_ex(m_ssl.get(), data.data(), data.size(), &written);
                if (r != 1) {
                    if (!waitTls(SSL_get_error(m_ssl.get(), r), deadline)) {
                        m_tlsBroken = true;
                        return false;
                    }
                    continue;
                }
                n = static_cast<ssize_t>(written);
            } else {
                n = ::send(m_fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                    if (errno == EINTR)
                        continue;
                    if ((errno != EAGAIN && errno != EWOULDBLOCK) || pollFor(POLLOUT, remainingMs(deadline)) <= 0)
                        return false;
                    continue;
                }
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    void close()
    {
        if (m_ssl && !m_tlsBroken) {
            ERR_clear_error();
            SSL_shutdown(m_ssl.get()); // one close_notify, without waiting for the peer's
        }
        ERR_clear_error();
        m_ssl.reset();
    }

    // httplib::Stream
    bool is_readable() const override { return m_pos < m_in.size() && m_allowance > 0; }
    bool is_writable() const override { return true; }

    ssize_t read(char* ptr, size_t size) override
    {
        if (m_allowance == 0)
            return -1; // the library never needs more than the admitted head and body
        if (m_pos == m_in.size()) {
            compact();
            if (fill(m_readDeadline) <= 0)
                return -1;
        }
        std::size_t n = std::min({ size, m_in.size() - m_pos, m_allowance });
        std::memcpy(ptr, m_in.data() + m_pos, n);
        m_pos += n;
        m_allowance -= n;
        return static_cast<ssize_t>(n);
    }

    ssize_t write(const char* ptr, size_t size) override
    {
        return sendAll(std::string_view(ptr, size)) ? static_cast<ssize_t>(size) : -1;
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override
    {
        ip = m_peerIp;
        port = m_peerPort;
    }
    void get_local_ip_and_port(std::string& ip, int& port) const override
    {
        ip = m_localIp;
        port = m_localPort;
    }
    socket_t socket() const override { return m_fd; }

private:
    void compact()
    {
        if (m_pos > 0) {
            m_in.erase(0, m_pos);
            m_pos = 0;
        }
    }

    /// poll() on the socket and the stop eventfd: 1 ready, 0 timeout, -1 stopping or error.
    int pollFor(short events, int timeoutMs)
    {
        pollfd fds[2] = { { m_fd, events, 0 }, { m_stopFd, POLLIN, 0 } };
        for (;;) {
            int r = ::poll(fds, 2, timeoutMs);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 || (fds[1].revents & POLLIN))
                return -1;
            if (r == 0)
                return 0;
            return 1; // readable, writable, or an error/hang-up that the next call reports
        }
    }

    bool waitTls(int sslError, Clock::time_point deadline)
    {
        if (sslError == SSL_ERROR_WANT_READ)
            return pollFor(POLLIN, remainingMs(deadline)) > 0;
        if (sslError == SSL_ERROR_WANT_WRITE)
            return pollFor(POLLOUT, remainingMs(deadline)) > 0;
        return false;
    }

    /// Appends what the peer sent: > 0 bytes, 0 closed, -1 timeout, stop or error.
    ssize_t fill(Clock::time_point deadline)
    {
        char buf[16 * 1024];
        for (;;) {
            if (m_ssl) {
                std::size_t got = 0;
                ERR_clear_error();
                int r = SSL_read_ex(m_ssl.get(), buf, sizeof buf, &got);
                if (r == 1) {
                    m_in.append(buf, got);
                    return static_cast<ssize_t>(got);
                }
                int e = SSL_get_error(m_ssl.get(), r);
                if (e == SSL_ERROR_ZERO_RETURN)
                    return 0;
                if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL)
                    m_tlsBroken = true;
                if (!waitTls(e, deadline))
                    return -1;
                continue;
            }
            ssize_t n = ::recv(m_fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                m_in.append(buf, static_cast<std::size_t>(n));
                return n;
            }
            if (n == 0)
                return 0;
            if (errno == EINTR)
                continue;
            if ((errno != EAGAIN && errno != EWOULDBLOCK) || pollFor(POLLIN, remainingMs(deadline)) <= 0)
                return -1;
        }
    }

    int m_fd;
    int m_stopFd;
    milliseconds m_ioTimeout;
    SslPtr m_ssl;
    bool m_tlsBroken = false;
    std::string m_in;
    std::size_t m_pos = 0;
    std::size_t m_allowance = 0;
    Clock::time_point m_readDeadline {};
    std::string m_peerIp, m_localIp;
    int m_peerPort = 0, m_localPort = 0;
};

} // namespace

// --- the server -----------------------------------------------------------------------------------

GuardedServer::GuardedServer(TransportOptions options, SSL_CTX* tls, TransportHooks hooks)
    : m_options(options)
    , m_tls(tls)
    , m_hooks(std::move(hooks))
{
    m_stopFd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m_stopFd < 0)
        throw std::system_error(errno, std::generic_category(), "eventfd");
    new_task_queue = [this] { return new BoundedTaskQueue(m_options.threads, m_options.maxConnections, m_queue); };
    // The listening socket: address reuse as the library's default, and close-on-exec so that
    // programs the daemon runs do not inherit it.
    set_socket_options([](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        ::fcntl(sock, F_SETFD, FD_CLOEXEC);
    });
    set_logger([this](const httplib::Request& req, const httplib::Response& res) {
        t_request.answered = true;
        if (m_hooks.answered)
            m_hooks.answered(req, res);
    });
}

GuardedServer::~GuardedServer()
{
    shutdown();
    ::close(m_stopFd);
}

void GuardedServer::shutdown()
{
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(m_stopFd, &one, sizeof one);
    stop();
}

bool GuardedServer::othersWaiting() const
{
    auto* q = m_queue.load();
    return q && q->waiting() > 0;
}

bool GuardedServer::process_and_close_socket(socket_t sock)
{
    ::fcntl(sock, F_SETFD, FD_CLOEXEC);
    ::fcntl(sock, F_SETFL, ::fcntl(sock, F_GETFL) | O_NONBLOCK);
    try {
        if (t_refuse)
            refuse(sock);
        else
            serve(sock);
    } catch (const std::exception& e) {
        log::write(log::Category::Api, log::Level::Error, log::Event::InternalError, "connection handler failed",
            { { "where", "api-connection" }, { "reason", e.what() } });
    } catch (...) {
        log::write(log::Category::Api, log::Level::Error, log::Event::InternalError, "connection handler failed",
            { { "where", "api-connection" } });
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return true;
}

void GuardedServer::refuse(socket_t sock)
{
    if (m_hooks.refused)
        m_hooks.refused();
    // A TLS client cannot read a plain answer; it only sees the connection close.
    if (m_tls)
        return;
    std::string response
        = rawResponse(503, m_hooks.errorBody(503, "unavailable", "too many connections to the API; try again later"),
            "Retry-After: 1\r\n");
    [[maybe_unused]] auto n = ::send(sock, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void GuardedServer::serve(socket_t sock)
{
    Connection conn(sock, m_stopFd, m_options.timeout);
    if (m_tls && !conn.handshake(m_tls)) {
        log::write(
            log::Category::Api, log::Level::Debug, "TLS handshake failed", { { "peer", log::Token { conn.peer() } } });
        return;
    }
    for (unsigned served = 0; served < m_options.keepAliveMaxRequests; ++served) {
        const auto idle = served == 0 ? m_options.timeout : m_options.keepAliveTimeout;
        if (!conn.waitForRequest(idle, [this] { return othersWaiting(); }))
            break;

        t_request = RequestContext {};
        t_request.start = Clock::now();
        t_request.peer = conn.peer();
        const auto deadline = t_request.start + m_options.timeout;

        HeadCheck check;
        bool received = false;
        auto status = conn.readHead(m_options.head, deadline, check, received);
        if (status == Connection::HeadStatus::Refused || status == Connection::HeadStatus::TimedOut) {
            Refusal r = status == Connection::HeadStatus::TimedOut
                ? Refusal { 408, "request-timeout", "the request head did not arrive in time" }
                : *check.refusal;
            if (status == Connection::HeadStatus::TimedOut && !received)
                break; // an idle connection, not a request
            conn.sendAll(rawResponse(r.status, m_hooks.errorBody(r.status, r.code, r.message)));
            m_hooks.finished(t_request, r.status, r.code, r.message);
            break;
        }
        if (status != Connection::HeadStatus::Complete) {
            if (received)
                m_hooks.finished(t_request, 0, "", "the connection ended during the request head");
            break;
        }
        t_request.method = check.head->method;
        t_request.path = check.head->target.substr(0, check.head->target.find('?'));
        conn.admit(*check.head, deadline);

        const bool last = served + 1 == m_options.keepAliveMaxRequests;
        bool closedByRequest = false;
        bool ok = process_request(conn, last, closedByRequest, nullptr);
        if (!t_request.answered)
            m_hooks.finished(
                t_request, 0, "", "the request ended without a response (body incomplete or write failed)");
        // An unread body (a request refused before its body) leaves the stream mid-request.
        if (!ok || closedByRequest || conn.unread() > 0)
            break;
    }
    conn.close();
}

} // namespace mudguard::controller::http
