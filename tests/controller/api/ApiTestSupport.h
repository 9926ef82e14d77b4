#pragma once
// The API under test: a FakeApiBackend behind a real ApiServer on 127.0.0.1, port 0, with one
// auditor and one admin token, its log lines captured; plus a raw socket client for requests no
// well-behaved client would send.

#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mudguard/controller/ApiServer.h"
#include "mudguard/controller/Log.h"
#include "mudguard/controller/Metrics.h"

#include "FakeApiBackend.h"

namespace mudguard::test {

inline constexpr const char* kAuditorToken = "mg_auditor-secret-0123456789";
inline constexpr const char* kAdminToken = "mg_admin-secret-9876543210";

inline ApiToken configuredToken(const std::string& name, const std::string& secret, ApiRole role)
{
    ApiToken t;
    t.name = name;
    t.sha256 = *parseSha256Hex(apiTokenSha256Hex(secret));
    t.role = role;
    return t;
}

/// Owns the backend, the metrics and a started server; captures the api log lines.
class ApiUnderTest {
public:
    /// `ignoreSigpipe`: the test's own clients may write to connections the server closed; a
    /// test that checks the server's own SIGPIPE handling passes false.
    explicit ApiUnderTest(ApiServerOptions options = defaults(), bool ignoreSigpipe = true)
        : metrics(registry, "test")
    {
        if (ignoreSigpipe)
            std::signal(SIGPIPE, SIG_IGN);
        log::setLevel(log::Level::Debug);
        log::setFormat(log::Format::Journal);
        log::setSink([this](std::string_view line) {
            std::lock_guard lock(m_logMutex);
            m_log.emplace_back(line);
        });
        server = std::make_unique<ApiServer>(backend, metrics, std::move(options));
        server->start();
    }
    ~ApiUnderTest()
    {
        server->stop();
        log::setSink({});
        log::setLevel(log::Level::Info);
    }

    static ApiServerOptions defaults()
    {
        ApiServerOptions o;
        o.port = 0;
        o.tokens = { configuredToken("audit-team", kAuditorToken, ApiRole::Auditor),
            configuredToken("netops", kAdminToken, ApiRole::Admin) };
        o.timeout = std::chrono::milliseconds(1500);
        o.keepAliveTimeout = std::chrono::milliseconds(1500);
        o.maxBodyBytes = 8 * 1024;
        o.maxHeadBytes = 4 * 1024;
        o.maxTargetBytes = 512;
        o.maxHeaders = 20;
        return o;
    }

    std::unique_ptr<httplib::Client> client(const char* token = nullptr) const
    {
        auto c = std::make_unique<httplib::Client>("127.0.0.1", server->port());
        c->set_connection_timeout(std::chrono::seconds(5));
        c->set_read_timeout(std::chrono::seconds(10));
        if (token)
            c->set_bearer_token_auth(token);
        return c;
    }

    std::vector<std::string> logLines() const
    {
        std::lock_guard lock(m_logMutex);
        return m_log;
    }

    FakeApiBackend backend;
    Metrics registry;
    MudguardMetrics metrics;
    std::unique_ptr<ApiServer> server;

private:
    mutable std::mutex m_logMutex;
    std::vector<std::string> m_log;
};

/// A plain TCP connection for hand-made requests. Every wait has a deadline; nothing sleeps.
class RawClient {
public:
    explicit RawClient(std::uint16_t port)
    {
        m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a {};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        m_connected = ::connect(m_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~RawClient() { ::close(m_fd); }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    bool connected() const { return m_connected; }

    bool send(const std::string& data)
    {
        std::size_t off = 0;
        while (off < data.size()) {
            ssize_t n = ::send(m_fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
            if (n <= 0)
                return false;
            off += static_cast<std::size_t>(n);
        }
        return true;
    }

    /// Reads until the peer closes or `timeout` passes; returns everything read.
    std::string readUntilClosed(std::chrono::milliseconds timeout = std::chrono::seconds(10))
    {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!m_closed && readSome(deadline)) { }
        return std::exchange(m_buf, {});
    }

    /// Reads one response (head plus Content-Length body); empty when none arrives in time.
    std::string readResponse(std::chrono::milliseconds timeout = std::chrono::seconds(10))
    {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto end = m_buf.find("\r\n\r\n");
            if (end != std::string::npos) {
                std::size_t length = 0;
                auto cl = m_buf.find("Content-Length: ");
                if (cl != std::string::npos && cl < end)
                    length = std::stoul(m_buf.substr(cl + 16));
                if (m_buf.size() >= end + 4 + length) {
                    std::string r = m_buf.substr(0, end + 4 + length);
                    m_buf.erase(0, end + 4 + length);
                    return r;
                }
            }
            if (m_closed || !readSome(deadline))
                return {};
        }
    }

    /// Reads one response head only (for HEAD requests, whose answers have no body).
    std::string readHeadOnly(std::chrono::milliseconds timeout = std::chrono::seconds(10))
    {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto end = m_buf.find("\r\n\r\n");
            if (end != std::string::npos) {
                std::string r = m_buf.substr(0, end + 4);
                m_buf.erase(0, end + 4);
                return r;
            }
            if (m_closed || !readSome(deadline))
                return {};
        }
    }

    /// True when the peer closes the connection within `timeout`.
    bool closedByPeer(std::chrono::milliseconds timeout = std::chrono::seconds(10))
    {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!m_closed && readSome(deadline)) { }
        return m_closed;
    }

private:
    bool readSome(std::chrono::steady_clock::time_point deadline)
    {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return false;
        pollfd p { m_fd, POLLIN, 0 };
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
            return false;
        char buf[8192];
        ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
        if (n <= 0) {
            m_closed = true;
            return false;
        }
        m_buf.append(buf, static_cast<std::size_t>(n));
        return true;
    }

    int m_fd = -1;
    bool m_connected = false;
    bool m_closed = false;
    std::string m_buf;
};

/// The status code of a raw response ("HTTP/1.1 413 ..." -> 413); 0 when there is none.
inline int statusOf(const std::string& response)
{
    if (response.size() < 12 || response.compare(0, 5, "HTTP/") != 0)
        return 0;
    return std::stoi(response.substr(9, 3));
}

inline std::string bodyOf(const std::string& response)
{
    auto end = response.find("\r\n\r\n");
    return end == std::string::npos ? std::string() : response.substr(end + 4);
}

inline rapidjson::Document parseJson(const std::string& text)
{
    rapidjson::Document d;
    d.Parse(text.c_str(), text.size());
    return d;
}

/// The "error" member of a JSON error body, or "" when the body is not one.
inline std::string errorCode(const std::string& body)
{
    auto d = parseJson(body);
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("error") || !d["error"].IsString())
        return {};
    return d["error"].GetString();
}

} // namespace mudguard::test
