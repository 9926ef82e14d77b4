#pragma once
// The connection layer under the API: cpp-httplib's Server with its per-connection loop
// replaced. The library keeps parsing vetted request heads, routing and writing responses; this
// layer owns the socket (plain or TLS), the limits and the deadlines:
//   * a bounded pool of worker threads, and a cap on connections being served or waiting for a
//     worker: beyond it a connection gets a canned 503 and is closed at once, unread;
//   * each request head is read and checked here (RequestHead.h) within a deadline from its first
//     byte, so slow or oversized heads end with 408/431 instead of holding a thread;
//   * a body is read only up to its checked Content-Length, within the same deadline;
//   * writes never raise SIGPIPE (MSG_NOSIGNAL; SIGPIPE is blocked in the server's threads for
//     TLS) and each write must progress within the timeout;
//   * idle keep-alive connections give way when other connections wait for a worker.
// Nothing here throws into the library's threads.

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include <httplib.h>

#include "api/RequestHead.h"

namespace mudguard::controller::http {

using Clock = std::chrono::steady_clock;

/// Facts about the request being served on this thread, shared by the transport and the API's
/// handlers (each request runs start to end on one thread).
struct RequestContext {
    Clock::time_point start {};
    std::string method = "-";
    std::string path = "-";
    std::string route = "unmatched"; ///< the route template, set by the router
    std::string tokenName; ///< set once the request is authenticated
    std::string peer;
    bool answered = false; ///< a response was written
};
RequestContext& currentRequest() noexcept;

struct TransportOptions {
    HeadLimits head;
    std::chrono::milliseconds timeout { 10'000 };
    std::chrono::milliseconds keepAliveTimeout { 5'000 };
    unsigned keepAliveMaxRequests = 100;
    unsigned threads = 4;
    unsigned maxConnections = 32;
};

struct TransportHooks {
    /// The library wrote a response for the current request.
    std::function<void(const httplib::Request&, const httplib::Response&)> answered;
    /// The transport answered the current request itself (status), or it ended without a
    /// response (status 0, `message` says why).
    std::function<void(const RequestContext&, int status, std::string_view code, std::string_view message)> finished;
    /// A connection was refused at the connection limit.
    std::function<void()> refused;
    /// The JSON error body for a response the transport writes.
    std::function<std::string(int status, std::string_view code, std::string_view message)> errorBody;
};

class BoundedTaskQueue;

class GuardedServer : public httplib::Server {
public:
    /// `tls`: an SSL_CTX for TLS connections, or nullptr for plain HTTP. Not owned.
    GuardedServer(TransportOptions options, SSL_CTX* tls, TransportHooks hooks);
    ~GuardedServer() override;

    /// Wakes every connection waiting in the transport and stops the accept loop. Idempotent.
    void shutdown();

private:
    bool process_and_close_socket(socket_t sock) override;
    void serve(socket_t sock);
    void refuse(socket_t sock);
    bool othersWaiting() const;

    TransportOptions m_options;
    SSL_CTX* m_tls;
    TransportHooks m_hooks;
    int m_stopFd = -1;
    std::atomic<BoundedTaskQueue*> m_queue { nullptr };
};

} // namespace mudguard::controller::http
