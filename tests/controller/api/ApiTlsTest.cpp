// The API over TLS, with a certificate made by the openssl program at test time.
#include <csignal>

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include "mudguard/Config.h"

#include "ApiTestSupport.h"
#include "TestSupport.h"

namespace mudguard::test {
namespace {

using namespace std::chrono_literals;

/// A self-signed P-256 certificate for 127.0.0.1 and its key, made with the openssl program.
struct TestCert {
    TempDir dir { "mudguard-api-tls" };
    std::filesystem::path cert = dir.path() / "api.crt";
    std::filesystem::path key = dir.path() / "api.key";
    std::filesystem::path otherKey = dir.path() / "other.key";

    TestCert()
    {
        auto r = runCommand({ mudguard::config::kOpensslProgram, "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-days", "1", "-keyout", key.string(), "-out", cert.string() });
        if (r.exitCode != 0)
            throw std::runtime_error("openssl req failed: " + r.err);
        r = runCommand({ mudguard::config::kOpensslProgram, "genpkey", "-algorithm", "EC", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-out", otherKey.string() });
        if (r.exitCode != 0)
            throw std::runtime_error("openssl genpkey failed: " + r.err);
    }
};

class ApiTlsTest : public ::testing::Test {
protected:
    static ApiServerOptions tlsOptions(const TestCert& c)
    {
        auto o = ApiUnderTest::defaults();
        o.tls = ApiTlsFiles { c.cert, c.key };
        return o;
    }

    TestCert certs;
    // SIGPIPE stays at its default here: the server must not raise it on a vanished TLS peer.
    ApiUnderTest api { tlsOptions(certs), false };

    std::unique_ptr<httplib::SSLClient> client(bool trust)
    {
        auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", api.server->port());
        c->set_connection_timeout(5s);
        c->set_read_timeout(10s);
        if (trust)
            c->set_ca_cert_path(certs.cert.c_str());
        c->enable_server_certificate_verification(true);
        c->set_bearer_token_auth(kAuditorToken);
        return c;
    }
};

TEST_F(ApiTlsTest, ServesOverTlsWithTheSameRules)
{
    EXPECT_TRUE(api.server->tls());
    auto c = client(true);
    auto r = c->Get("/api/v1/devices");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(parseJson(r->body)["count"].GetUint(), 2u);
    r = c->Get("/api/v1/devices/02:00:00:00:00:99");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(errorCode(r->body), "not-found");
    r = c->Post("/api/v1/config/reload", "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << "the auditor token over TLS is still an auditor";
}

TEST_F(ApiTlsTest, AnUntrustedCertificateIsRefusedByTheClient)
{
    auto r = client(false)->Get("/healthz");
    EXPECT_FALSE(r);
    EXPECT_EQ(r.error(), httplib::Error::SSLServerVerification);
}

TEST_F(ApiTlsTest, PlainHttpOnTheTlsPortGetsNoHttpAnswer)
{
    RawClient c(api.server->port());
    c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string r = c.readUntilClosed(10s);
    EXPECT_EQ(statusOf(r), 0) << r;
    EXPECT_EQ(api.backend.callCount(), 0u);
}

TEST_F(ApiTlsTest, AStalledHandshakeIsDropped)
{
    RawClient c(api.server->port());
    EXPECT_TRUE(c.closedByPeer(10s)) << "the server gives up after its timeout (1.5 s here)";
}

TEST_F(ApiTlsTest, APeerVanishingMidResponseDoesNotHurtTheServer)
{
    // A response of several megabytes, so that the server is still writing when the peer resets.
    api.backend.deviceList.resize(20'000, api.backend.deviceList[0]);

    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    ASSERT_TRUE(ctx);
    {
        SSL* ssl = SSL_new(ctx);
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a {};
        a.sin_family = AF_INET;
        a.sin_port = htons(api.server->port());
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        SSL_set_fd(ssl, fd);
        ASSERT_EQ(SSL_connect(ssl), 1);
        std::string req = std::string("GET /api/v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ")
            + kAuditorToken + "\r\n\r\n";
        ASSERT_GT(SSL_write(ssl, req.data(), static_cast<int>(req.size())), 0);
        char buf[1024];
        ASSERT_GT(SSL_read(ssl, buf, sizeof buf), 0);
        linger l { 1, 0 }; // close with a reset
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::close(fd);
        SSL_free(ssl);
    }
    SSL_CTX_free(ctx);
    ERR_clear_error();

    // Still alive, still serving.
    api.backend.deviceList.resize(2);
    auto r = client(true)->Get("/api/v1/devices");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
}

TEST_F(ApiTlsTest, TheClientCommandsSpeakTls)
{
    auto tokenFile = certs.dir.path() / "auditor.token";
    writeFile(tokenFile, kAuditorToken);
    ::chmod(tokenFile.c_str(), 0600);
    const std::string url = "https://127.0.0.1:" + std::to_string(api.server->port());
    auto r = runCommand({ mudguardProgram().string(), "devices", "--api", url, "--ca-file", certs.cert.string(),
        "--token-file", tokenFile.string() });
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("2 devices"), std::string::npos) << r.out;

    r = runCommand({ mudguardProgram().string(), "devices", "--api", url, "--token-file", tokenFile.string() });
    EXPECT_EQ(r.exitCode, 2);
    EXPECT_NE(r.err.find("certificate is not trusted (use --ca-file)"), std::string::npos) << r.err;
}

TEST(ApiTlsStart, UnusableKeyMaterialStopsTheStart)
{
    TestCert certs;
    FakeApiBackend backend;
    Metrics registry;
    MudguardMetrics metrics(registry);

    auto o = ApiUnderTest::defaults();
    o.tls = ApiTlsFiles { certs.cert, certs.otherKey };
    ApiServer mismatched(backend, metrics, o);
    try {
        mismatched.start();
        FAIL() << "a key of another certificate was accepted";
    } catch (const ApiServerError& e) {
        EXPECT_NE(std::string(e.what()).find("does not belong to the certificate"), std::string::npos) << e.what();
    }

    o.tls = ApiTlsFiles { certs.dir.path() / "missing.crt", certs.key };
    ApiServer missing(backend, metrics, o);
    try {
        missing.start();
        FAIL() << "a missing certificate was accepted";
    } catch (const ApiServerError& e) {
        EXPECT_NE(std::string(e.what()).find("missing.crt"), std::string::npos) << e.what();
    }
}

TEST(ApiStart, BadAddressesAndBusyPortsStopTheStart)
{
    FakeApiBackend backend;
    Metrics registry;
    MudguardMetrics metrics(registry);
    auto o = ApiUnderTest::defaults();
    o.listenAddress = "localhost";
    ApiServer byName(backend, metrics, o);
    EXPECT_THROW(byName.start(), ApiServerError) << "names are not resolved";

    ApiServer first(backend, metrics, ApiUnderTest::defaults());
    first.start();
    o = ApiUnderTest::defaults();
    o.port = first.port();
    ApiServer second(backend, metrics, o);
    try {
        second.start();
        FAIL() << "a busy port was accepted";
    } catch (const ApiServerError& e) {
        EXPECT_NE(std::string(e.what()).find(std::to_string(first.port())), std::string::npos) << e.what();
    }
}

} // namespace
} // namespace mudguard::test
