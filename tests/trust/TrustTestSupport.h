#pragma once
// Test fixtures for the trust code: a PKI made with the openssl command line, a real TLS server
// on 127.0.0.x with port 0 that counts connections and logs requests, and MUD documents.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "TestSupport.h"

namespace mudguard::test {

/// The PKI of tests/trust/make-test-pki.sh, made once per test binary in a temporary directory.
class TestPki {
public:
    /// The shared instance (made on first use).
    static const TestPki& get();

    std::filesystem::path dir() const { return m_dir->path(); }
    /// dir() / name, e.g. file("signer.pem").
    std::filesystem::path file(const std::string& name) const { return dir() / name; }

private:
    TestPki();
    std::unique_ptr<TempDir> m_dir;
};

struct HttpRequest {
    std::string method, target;
    std::map<std::string, std::string> headers; ///< names in lower case
    std::string peer; ///< the client's address
    std::string local; ///< the address the client connected to
    std::string header(const std::string& lowerName) const;
};

struct HttpReply {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    /// Send the status line and headers one byte at a time with this pause (a slow server).
    std::chrono::milliseconds trickle { 0 };
    /// Send chunks of this size until the client goes away (an endless body).
    std::size_t endlessChunk = 0;
    /// Send a Content-Length header (off for endless bodies and deliberate lies).
    bool contentLength = true;
};

/// A minimal HTTPS/1.1 server on raw OpenSSL: one thread per connection, exact-target routes,
/// a connection counter and an access log, so that tests can prove that no connection was made.
class TlsTestServer {
public:
    using Handler = std::function<HttpReply(const HttpRequest&)>;

    /// Listens on `address` port 0 with the certificate chain and key (PEM files).
    TlsTestServer(
        const std::filesystem::path& chain, const std::filesystem::path& key, const std::string& address = "127.0.0.1");
    ~TlsTestServer();
    TlsTestServer(const TlsTestServer&) = delete;
    TlsTestServer& operator=(const TlsTestServer&) = delete;

    std::uint16_t port() const { return m_port; }
    /// "https://<host>:<port><target>"
    std::string url(const std::string& host, const std::string& target) const;

    /// Speaks TLS 1.1 only from now on (a server a MUD manager must refuse).
    void allowOnlyTls11();

    void route(const std::string& target, Handler handler);
    /// A 200 reply with this body and content type.
    void serve(const std::string& target, std::string body, std::string contentType = "application/mud+json");

    /// TCP connections accepted so far.
    std::size_t accepted() const { return m_accepted.load(); }
    /// Requests read so far (after a successful handshake).
    std::vector<HttpRequest> requests() const;
    std::size_t requestCount(const std::string& target) const;

private:
    void acceptLoop();
    void serveConnection(int fd);

    void* m_ctx = nullptr; // SSL_CTX
    int m_listen = -1;
    int m_wake[2] = { -1, -1 };
    std::uint16_t m_port = 0;
    std::atomic<std::size_t> m_accepted { 0 };
    mutable std::mutex m_mutex;
    std::condition_variable m_stopCv;
    bool m_stopping = false;
    std::map<std::string, Handler> m_routes;
    std::vector<HttpRequest> m_log;
    std::vector<int> m_clients;
    std::vector<std::thread> m_threads;
    std::thread m_acceptThread;
};

/// A small valid MUD document for `url` (RFC 8520 shape: one from-device ACL allowing TCP 443 to a
/// DNS name), optionally naming a signature and with is-supported.
std::string sampleMud(
    const std::string& url, const std::string& signature = {}, bool supported = true, unsigned cacheValidity = 48);

/// Runs the openssl program; fails the current test on a non-zero exit.
CommandResult openssl(const std::vector<std::string>& args);

/// `openssl cms -sign -binary -outform DER` of `content` with a signer of the test PKI ("signer",
/// "signer2", ...), embedding the intermediate; extra arguments are appended (e.g. "-nodetach").
std::string opensslSign(
    const std::string& content, const std::string& signer, const std::vector<std::string>& extra = {});

} // namespace mudguard::test
