#include "TrustTestSupport.h"

#include <algorithm>
#include <csignal>
#include <stdexcept>

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mudguard/Config.h"

namespace mudguard::test {

// ---- TestPki ----

TestPki::TestPki()
    : m_dir(std::make_unique<TempDir>("mudguard-pki"))
{
    auto script = sourceDir() / "tests/trust/make-test-pki.sh";
    auto r = runCommand({ "bash", script.string(), m_dir->path().string() });
    if (r.exitCode != 0)
        throw std::runtime_error("make-test-pki.sh failed: " + r.err);
}

const TestPki& TestPki::get()
{
    static TestPki pki;
    return pki;
}

// ---- TlsTestServer ----

std::string HttpRequest::header(const std::string& lowerName) const
{
    auto it = headers.find(lowerName);
    return it == headers.end() ? std::string() : it->second;
}

namespace {

std::string addressText(const sockaddr_storage& ss)
{
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, buf, sizeof buf);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, buf, sizeof buf);
    return buf;
}

const char* reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 404:
        return "Not Found";
    case 500:
        return "Internal Server Error";
    default:
        return "Status";
    }
}

bool writeAll(SSL* ssl, const char* data, std::size_t n)
{
    while (n > 0) {
        int w = SSL_write(ssl, data, static_cast<int>(std::min<std::size_t>(n, 16384)));
        if (w <= 0)
            return false;
        data += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

} // namespace

TlsTestServer::TlsTestServer(
    const std::filesystem::path& chain, const std::filesystem::path& key, const std::string& address)
{
    std::signal(SIGPIPE, SIG_IGN);
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, chain.c_str()) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
        throw std::runtime_error("test server: cannot load " + chain.string());
    m_ctx = ctx;

    m_listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa {};
    sa.sin_family = AF_INET;
    inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
    sa.sin_port = 0;
    if (::bind(m_listen, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(m_listen, 64) != 0)
        throw std::runtime_error("test server: cannot listen on " + address);
    socklen_t len = sizeof sa;
    ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&sa), &len);
    m_port = ntohs(sa.sin_port);
    if (::pipe2(m_wake, O_CLOEXEC) != 0)
        throw std::runtime_error("test server: pipe failed");
    m_acceptThread = std::thread([this] { acceptLoop(); });
}

TlsTestServer::~TlsTestServer()
{
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
        for (int fd : m_clients)
            ::shutdown(fd, SHUT_RDWR);
    }
    m_stopCv.notify_all();
    (void)!::write(m_wake[1], "x", 1);
    m_acceptThread.join();
    std::vector<std::thread> threads;
    {
        std::lock_guard lock(m_mutex);
        threads.swap(m_threads);
    }
    for (auto& t : threads)
        t.join();
    ::close(m_listen);
    ::close(m_wake[0]);
    ::close(m_wake[1]);
    SSL_CTX_free(static_cast<SSL_CTX*>(m_ctx));
}

std::string TlsTestServer::url(const std::string& host, const std::string& target) const
{
    return "https://" + host + ":" + std::to_string(m_port) + target;
}

void TlsTestServer::allowOnlyTls11()
{
    auto* ctx = static_cast<SSL_CTX*>(m_ctx);
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0");
    SSL_CTX_set_min_proto_version(ctx, TLS1_1_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION);
}

void TlsTestServer::route(const std::string& target, Handler handler)
{
    std::lock_guard lock(m_mutex);
    m_routes[target] = std::move(handler);
}

void TlsTestServer::serve(const std::string& target, std::string body, std::string contentType)
{
    route(target, [body = std::move(body), contentType = std::move(contentType)](const HttpRequest&) {
        HttpReply r;
        r.headers.emplace_back("Content-Type", contentType);
        r.body = body;
        return r;
    });
}

std::vector<HttpRequest> TlsTestServer::requests() const
{
    std::lock_guard lock(m_mutex);
    return m_log;
}

std::size_t TlsTestServer::requestCount(const std::string& target) const
{
    std::lock_guard lock(m_mutex);
    return static_cast<std::size_t>(
        std::count_if(m_log.begin(), m_log.end(), [&](const HttpRequest& r) { return r.target == target; }));
}

void TlsTestServer::acceptLoop()
{
    while (true) {
        pollfd fds[2] = { { m_listen, POLLIN, 0 }, { m_wake[0], POLLIN, 0 } };
        if (::poll(fds, 2, -1) < 0)
            continue;
        if (fds[1].revents)
            return;
        int fd = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        ++m_accepted;
        std::lock_guard lock(m_mutex);
        if (m_stopping) {
            ::close(fd);
            return;
        }
        m_clients.push_back(fd);
        m_threads.emplace_back([this, fd] { serveConnection(fd); });
    }
}

void TlsTestServer::serveConnection(int fd)
{
    timeval tv { 10, 0 };
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SSL* ssl = SSL_new(static_cast<SSL_CTX*>(m_ctx));
    SSL_set_fd(ssl, fd);
    auto finish = [&] {
        SSL_free(ssl);
        std::lock_guard lock(m_mutex);
        std::erase(m_clients, fd);
        ::close(fd);
    };
    if (SSL_accept(ssl) != 1) {
        ERR_clear_error();
        finish();
        return;
    }
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
        int n = SSL_read(ssl, buf, sizeof buf);
        if (n <= 0)
            break;
        head.append(buf, static_cast<std::size_t>(n));
    }
    auto end = head.find("\r\n\r\n");
    if (end == std::string::npos) {
        finish();
        return;
    }
    HttpRequest req;
    std::size_t lineEnd = head.find("\r\n");
    std::string requestLine = head.substr(0, lineEnd);
    auto sp1 = requestLine.find(' ');
    auto sp2 = requestLine.find(' ', sp1 + 1);
    req.method = requestLine.substr(0, sp1);
    req.target = requestLine.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t pos = lineEnd + 2;
    while (pos < end) {
        auto next = head.find("\r\n", pos);
        auto line = head.substr(pos, next - pos);
        auto colon = line.find(':');
        if (colon != std::string::npos) {
            std::string name = line.substr(0, colon);
            std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            req.headers[name] = value;
        }
        pos = next + 2;
    }
    sockaddr_storage ss {};
    socklen_t len = sizeof ss;
    ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    req.peer = addressText(ss);
    len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    req.local = addressText(ss);

    Handler handler;
    {
        std::lock_guard lock(m_mutex);
        m_log.push_back(req);
        if (auto it = m_routes.find(req.target); it != m_routes.end())
            handler = it->second;
    }
    HttpReply reply;
    if (handler) {
        reply = handler(req);
    } else {
        reply.status = 404;
        reply.body = "not found\n";
        reply.headers.emplace_back("Content-Type", "text/plain");
    }

    std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + reason(reply.status) + "\r\n";
    for (const auto& [name, value] : reply.headers)
        out += name + ": " + value + "\r\n";
    if (reply.endlessChunk)
        out += "Transfer-Encoding: chunked\r\n";
    else if (reply.contentLength)
        out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
    out += "Connection: close\r\n\r\n";

    bool ok = true;
    if (reply.trickle.count() > 0) {
        for (char c : out) {
            if (!writeAll(ssl, &c, 1)) {
                ok = false;
                break;
            }
            std::unique_lock lock(m_mutex);
            if (m_stopCv.wait_for(lock, reply.trickle, [&] { return m_stopping; })) {
                ok = false;
                break;
            }
        }
    } else {
        ok = writeAll(ssl, out.data(), out.size());
    }
    if (ok && reply.endlessChunk) {
        std::string chunk(reply.endlessChunk, 'x');
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
        std::string piece = std::string(size) + chunk + "\r\n";
        while (writeAll(ssl, piece.data(), piece.size())) {
            std::lock_guard lock(m_mutex);
            if (m_stopping)
                break;
        }
    } else if (ok) {
        writeAll(ssl, reply.body.data(), reply.body.size());
        SSL_shutdown(ssl);
    }
    ERR_clear_error();
    finish();
}

// ---- documents and the openssl program ----

std::string sampleMud(const std::string& url, const std::string& signature, bool supported, unsigned cacheValidity)
{
    std::string sig = signature.empty() ? std::string() : "    \"mud-signature\": \"" + signature + "\",\n";
    return "{\n"
           "  \"ietf-mud:mud\": {\n"
           "    \"mud-version\": 1,\n"
           "    \"mud-url\": \""
        + url + "\",\n" + sig + "    \"last-update\": \"2024-05-01T10:00:00+00:00\",\n" + "    \"cache-validity\": "
        + std::to_string(cacheValidity) + ",\n" + "    \"is-supported\": " + (supported ? "true" : "false") + ",\n"
        + "    \"systeminfo\": \"mudguard test device\",\n"
          "    \"mfg-name\": \"Example Maker\",\n"
          "    \"from-device-policy\": {\"access-lists\": {\"access-list\": [{\"name\": \"from-dev\"}]}},\n"
          "    \"to-device-policy\": {\"access-lists\": {\"access-list\": [{\"name\": \"to-dev\"}]}}\n"
          "  },\n"
          "  \"ietf-access-control-list:acls\": {\n"
          "    \"acl\": [\n"
          "      {\"name\": \"from-dev\", \"type\": \"ipv4-acl-type\", \"aces\": {\"ace\": [{\"name\": \"cloud\",\n"
          "        \"matches\": {\"ipv4\": {\"ietf-acldns:dst-dnsname\": \"cloud.example.com\", \"protocol\": 6},\n"
          "                    \"tcp\": {\"destination-port\": {\"operator\": \"eq\", \"port\": 443},\n"
          "                            \"ietf-mud:direction-initiated\": \"from-device\"}},\n"
          "        \"actions\": {\"forwarding\": \"accept\"}}]}},\n"
          "      {\"name\": \"to-dev\", \"type\": \"ipv4-acl-type\", \"aces\": {\"ace\": [{\"name\": \"cloud\",\n"
          "        \"matches\": {\"ipv4\": {\"ietf-acldns:src-dnsname\": \"cloud.example.com\", \"protocol\": 6},\n"
          "                    \"tcp\": {\"source-port\": {\"operator\": \"eq\", \"port\": 443}}},\n"
          "        \"actions\": {\"forwarding\": \"accept\"}}]}}\n"
          "    ]\n"
          "  }\n"
          "}\n";
}

CommandResult openssl(const std::vector<std::string>& args)
{
    std::vector<std::string> argv { config::kOpensslProgram };
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = runCommand(argv);
    EXPECT_EQ(r.exitCode, 0) << "openssl failed: " << r.err;
    return r;
}

std::string opensslSign(const std::string& content, const std::string& signer, const std::vector<std::string>& extra)
{
    const auto& pki = TestPki::get();
    TempDir work("mudguard-sign");
    auto in = work.path() / "content";
    auto out = work.path() / "sig.der";
    writeFile(in, content);
    std::vector<std::string> args { "cms", "-sign", "-binary", "-outform", "DER", "-in", in.string(), "-signer",
        pki.file(signer + ".pem").string(), "-inkey", pki.file(signer + ".key").string(), "-certfile",
        pki.file("signer-chain.pem").string(), "-out", out.string() };
    args.insert(args.end(), extra.begin(), extra.end());
    openssl(args);
    return readFile(out);
}

} // namespace mudguard::test
