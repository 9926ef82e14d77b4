// Component tests of the HTTPS fetcher against a real TLS server on 127.0.0.x (port 0): transport
// failures, redirects, limits, the deadline, rate limiting, shared fetches, conditional requests
// and the server-side request forgery guard (asserted on the server's connection counter).

#include <thread>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mudguard/Config.h"
#include "mudguard/mudparser/Fetcher.h"

#include "TrustTestSupport.h"

using namespace mudguard::mudparser;
using namespace mudguard::test;
using namespace std::chrono_literals;

namespace {

AddressPolicy allow(const char* prefix)
{
    AddressPolicy p;
    p.allow.push_back(*IpPrefix::parse(prefix));
    return p;
}

HttpReply redirect(int status, const std::string& location)
{
    HttpReply r;
    r.status = status;
    r.headers.emplace_back("Location", location);
    return r;
}

class FetchTest : public ::testing::Test {
protected:
    const TestPki& pki = TestPki::get();
    TlsTestServer server { pki.file("server-chain.pem"), pki.file("server.key") };
    std::shared_ptr<StaticResolver> resolver
        = std::make_shared<StaticResolver>(std::map<std::string, std::vector<IpAddress>> {
            { "mud.test", { *IpAddress::parse("127.0.0.1") } },
            { "wrong.test", { *IpAddress::parse("127.0.0.1") } },
            { "rebind.test", { *IpAddress::parse("203.0.113.7"), *IpAddress::parse("127.0.0.1") } },
            { "third.test", { *IpAddress::parse("127.0.0.3") } },
        });
    const std::string mud = sampleMud("https://mud.test/dev");

    FetchConfig config()
    {
        FetchConfig c;
        c.caFiles = { pki.file("root.pem") };
        c.deadline = 10s;
        c.hostRequestsPerSecond = 0;
        return c;
    }
    std::unique_ptr<Fetcher> fetcher(FetchConfig c, AddressPolicy p = allow("127.0.0.0/8"))
    {
        return std::make_unique<Fetcher>(std::move(c), std::make_shared<AddressGuard>(std::move(p)), resolver);
    }
    FetchResult get(const std::string& target, FetchKind kind = FetchKind::MudFile)
    {
        return fetcher(config())->fetch({ server.url("mud.test", target), kind, std::nullopt, std::nullopt });
    }
};

} // namespace

TEST_F(FetchTest, GoodFetchSendsTheRfc8520Headers)
{
    server.serve("/dev", mud);
    auto r = get("/dev");
    ASSERT_TRUE(r.ok()) << r.code << ": " << r.message;
    EXPECT_EQ(r.status, FetchResult::Status::Ok);
    EXPECT_EQ(r.body, mud);
    EXPECT_EQ(r.httpStatus, 200);
    EXPECT_EQ(r.address, "127.0.0.1");
    EXPECT_TRUE(r.warnings.empty());
    auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].method, "GET");
    EXPECT_EQ(requests[0].header("accept"), "application/mud+json");
    EXPECT_EQ(requests[0].header("accept-language"), "en");
    EXPECT_EQ(requests[0].header("user-agent"), std::string("mudguard/") + mudguard::config::kVersion);
    EXPECT_EQ(requests[0].header("host"), "mud.test:" + std::to_string(server.port()));
    EXPECT_EQ(requests[0].header("accept-encoding"), "identity");
}

TEST_F(FetchTest, UnknownCaIsRefused)
{
    TlsTestServer other(pki.file("other-server.pem"), pki.file("server.key"));
    other.serve("/dev", mud);
    auto r = fetcher(config())->fetch({ other.url("mud.test", "/dev"), FetchKind::MudFile, {}, {} });
    EXPECT_EQ(r.code, "fetch-tls-certificate");
    EXPECT_NE(r.message.find("unable to get local issuer certificate"), std::string::npos) << r.message;
    EXPECT_EQ(other.requestCount("/dev"), 0u);
}

TEST_F(FetchTest, SystemStoreAloneDoesNotTrustAPrivateRoot)
{
    server.serve("/dev", mud);
    auto c = config();
    c.caFiles.clear();
    auto r = fetcher(c)->fetch({ server.url("mud.test", "/dev"), FetchKind::MudFile, {}, {} });
    EXPECT_EQ(r.code, "fetch-tls-certificate");
}

TEST_F(FetchTest, WrongHostNameIsRefused)
{
    server.serve("/dev", mud);
    auto r = fetcher(config())->fetch({ server.url("wrong.test", "/dev"), FetchKind::MudFile, {}, {} });
    EXPECT_EQ(r.code, "fetch-tls-hostname");
    EXPECT_NE(r.message.find("is not valid for the name wrong.test"), std::string::npos) << r.message;
    EXPECT_EQ(server.requestCount("/dev"), 0u);
}

TEST_F(FetchTest, ExpiredServerCertificateIsRefused)
{
    TlsTestServer expired(pki.file("server-expired-chain.pem"), pki.file("server.key"));
    expired.serve("/dev", mud);
    auto r = fetcher(config())->fetch({ expired.url("mud.test", "/dev"), FetchKind::MudFile, {}, {} });
    EXPECT_EQ(r.code, "fetch-tls-certificate");
    EXPECT_NE(r.message.find("certificate has expired on 2020-02-01T00:00:00Z"), std::string::npos) << r.message;
}

TEST_F(FetchTest, Tls11IsRefused)
{
    server.serve("/dev", mud);
    server.allowOnlyTls11();
    auto r = get("/dev");
    EXPECT_EQ(r.code, "fetch-tls-handshake");
    EXPECT_NE(r.message.find("the TLS handshake with mud.test (127.0.0.1 port"), std::string::npos) << r.message;
    EXPECT_EQ(server.requestCount("/dev"), 0u);
}

TEST_F(FetchTest, RedirectToHttpIsRefused)
{
    server.route("/r", [&](const HttpRequest&) { return redirect(302, "http://mud.test/dev"); });
    auto r = get("/r");
    EXPECT_EQ(r.code, "fetch-redirect-insecure");
    EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(FetchTest, RedirectLoopIsRefused)
{
    server.route("/a", [&](const HttpRequest&) { return redirect(301, "/b"); });
    server.route("/b", [&](const HttpRequest&) { return redirect(307, "a"); });
    auto r = get("/a");
    EXPECT_EQ(r.code, "fetch-redirect-loop");
    EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(FetchTest, AtMostThreeRedirectsAreFollowed)
{
    server.serve("/dev", mud);
    server.route("/r1", [&](const HttpRequest&) { return redirect(302, "/r2"); });
    server.route("/r2", [&](const HttpRequest&) { return redirect(303, "r3"); });
    server.route("/r3", [&](const HttpRequest&) { return redirect(308, server.url("mud.test", "/r4")); });
    server.route("/r4", [&](const HttpRequest&) { return redirect(301, "./dev"); });

    auto ok = get("/r2");
    ASSERT_TRUE(ok.ok()) << ok.message;
    EXPECT_EQ(ok.body, mud);
    EXPECT_EQ(ok.redirects.size(), 3u);
    EXPECT_EQ(ok.finalUrl, server.url("mud.test", "/dev"));

    auto tooMany = get("/r1");
    EXPECT_EQ(tooMany.code, "fetch-redirect-limit");
    EXPECT_EQ(server.requestCount("/dev"), 1u); // only the first fetch got there
}

TEST_F(FetchTest, OversizedBodiesAreCut)
{
    server.serve("/big", std::string((1 << 20) + 1, ' '));
    auto big = get("/big");
    EXPECT_EQ(big.code, "fetch-too-large");
    EXPECT_EQ(big.message, "the MUD file from mud.test exceeds the size limit of 1 MiB");
    EXPECT_TRUE(big.body.empty());

    server.route("/endless", [](const HttpRequest&) {
        HttpReply r;
        r.headers.emplace_back("Content-Type", "application/mud+json");
        r.endlessChunk = 16384;
        return r;
    });
    EXPECT_EQ(get("/endless").code, "fetch-too-large");

    server.serve("/sig", std::string((64 << 10) + 1, 'x'), "application/pkcs7-signature");
    EXPECT_EQ(get("/sig", FetchKind::Signature).code, "fetch-too-large");
}

TEST_F(FetchTest, DeadlineStopsAServerThatTricklesHeaders)
{
    server.route("/slow", [](const HttpRequest&) {
        HttpReply r;
        r.headers.emplace_back("Content-Type", "application/mud+json");
        r.headers.emplace_back("X-Padding", std::string(200, 'p'));
        r.trickle = 100ms; // a byte every 100 ms: each read succeeds, the whole takes 25 s
        return r;
    });
    auto c = config();
    c.deadline = 1s;
    c.ioTimeout = 5s;
    auto r = fetcher(c)->fetch({ server.url("mud.test", "/slow"), FetchKind::MudFile, {}, {} });
    EXPECT_EQ(r.code, "fetch-deadline");
    EXPECT_EQ(r.message, "no complete answer from mud.test (127.0.0.1) within the 1 s deadline");
}

TEST_F(FetchTest, HttpErrorsAreRefused)
{
    server.route("/500", [](const HttpRequest&) {
        HttpReply r;
        r.status = 500;
        r.body = "oops";
        return r;
    });
    auto notFound = get("/missing");
    EXPECT_EQ(notFound.code, "fetch-http-status");
    EXPECT_EQ(notFound.message, "mud.test answered HTTP 404 Not Found for /missing");
    EXPECT_EQ(notFound.httpStatus, 404);
    auto error = get("/500");
    EXPECT_EQ(error.code, "fetch-http-status");
    EXPECT_EQ(error.httpStatus, 500);
}

TEST_F(FetchTest, ContentTypeIsChecked)
{
    server.serve("/html", mud, "text/html; charset=utf-8");
    server.serve("/json", mud, "application/json");
    server.serve("/mudjson", mud, "Application/MUD+JSON; charset=utf-8");
    server.serve("/none", mud, "");
    auto html = get("/html");
    EXPECT_EQ(html.code, "fetch-content-type");
    EXPECT_EQ(html.message,
        "mud.test serves the file as \"text/html; charset=utf-8\"; a MUD file must be served as application/mud+json");
    auto json = get("/json");
    EXPECT_TRUE(json.ok());
    ASSERT_EQ(json.warnings.size(), 1u);
    EXPECT_TRUE(get("/mudjson").ok());
    EXPECT_EQ(get("/none").code, "fetch-content-type");
    auto strict = config();
    strict.acceptPlainJson = false;
    EXPECT_EQ(fetcher(strict)->fetch({ server.url("mud.test", "/json"), FetchKind::MudFile, {}, {} }).code,
        "fetch-content-type");
    // Signatures come as whatever the server calls DER; their content is verified anyway.
    EXPECT_TRUE(get("/html", FetchKind::Signature).ok());
}

TEST_F(FetchTest, CompressedBodiesAreRefused)
{
    server.route("/gz", [&](const HttpRequest&) {
        HttpReply r;
        r.headers.emplace_back("Content-Type", "application/mud+json");
        r.headers.emplace_back("Content-Encoding", "gzip");
        r.body = mud;
        return r;
    });
    EXPECT_EQ(get("/gz").code, "fetch-content-encoding");
}

TEST_F(FetchTest, PrivateAddressTargetsAreRefusedWithoutConnecting)
{
    server.serve("/dev", mud);
    auto guarded = fetcher(config(), AddressPolicy {});
    auto byName = guarded->fetch({ server.url("mud.test", "/dev"), FetchKind::MudFile, {}, {} });
    EXPECT_EQ(byName.code, "fetch-forbidden-address");
    EXPECT_EQ(byName.message,
        "mud.test resolves to 127.0.0.1: 127.0.0.1 is a loopback address; no connection was made (an admin can allow "
        "it in the fetch allowlist)");
    EXPECT_EQ(guarded->fetch({ server.url("127.0.0.1", "/dev"), FetchKind::MudFile, {}, {} }).code,
        "fetch-forbidden-address");
    EXPECT_EQ(
        guarded->fetch({ server.url("[::1]", "/dev"), FetchKind::MudFile, {}, {} }).code, "fetch-forbidden-address");
    EXPECT_EQ(guarded->fetch({ server.url("[::ffff:127.0.0.1]", "/dev"), FetchKind::MudFile, {}, {} }).code,
        "fetch-forbidden-address");
    // A name with a public and an internal address is refused as a whole.
    auto rebind = fetcher(config(), allow("203.0.113.0/24"));
    EXPECT_EQ(rebind->fetch({ server.url("rebind.test", "/dev"), FetchKind::MudFile, {}, {} }).code,
        "fetch-forbidden-address");
    // The router's LAN counts too.
    LocalNetworks lan;
    lan.lanNetworks.push_back(*IpPrefix::parse("127.0.0.0/8"));
    AddressPolicy open;
    open.refusePrivate = false;
    auto router = std::make_unique<Fetcher>(config(), std::make_shared<AddressGuard>(open, lan), resolver);
    EXPECT_EQ(
        router->fetch({ server.url("mud.test", "/dev"), FetchKind::MudFile, {}, {} }).code, "fetch-forbidden-address");

    EXPECT_EQ(server.accepted(), 0u);
    EXPECT_EQ(guarded->stats().connections, 0u);
}

TEST_F(FetchTest, RedirectToAForbiddenAddressIsRefusedWithoutConnecting)
{
    TlsTestServer internal(pki.file("server-chain.pem"), pki.file("server.key"), "127.0.0.2");
    internal.serve("/dev", mud);
    server.route("/r", [&](const HttpRequest&) { return redirect(302, internal.url("127.0.0.2", "/dev")); });
    auto r
        = fetcher(config(), allow("127.0.0.1/32"))->fetch({ server.url("mud.test", "/r"), FetchKind::MudFile, {}, {} });
    EXPECT_EQ(r.code, "fetch-forbidden-address");
    EXPECT_EQ(server.accepted(), 1u);
    EXPECT_EQ(internal.accepted(), 0u);
}

TEST_F(FetchTest, ConnectsToTheAddressThatWasChecked)
{
    // third.test is known only to the fetcher's resolver; a second lookup by the HTTP library would
    // fail, and a connection anywhere else would not reach this server.
    TlsTestServer third(pki.file("server-chain.pem"), pki.file("server.key"), "127.0.0.3");
    third.serve("/dev", mud);
    auto r = fetcher(config(), allow("127.0.0.3/32"))
                 ->fetch({ third.url("third.test", "/dev"), FetchKind::MudFile, {}, {} });
    // The certificate names mud.test, not third.test: the handshake reached the checked address.
    EXPECT_EQ(r.code, "fetch-tls-hostname");
    EXPECT_EQ(r.address, "127.0.0.3");
    EXPECT_EQ(third.accepted(), 1u);
    EXPECT_EQ(server.accepted(), 0u);

    resolver = std::make_shared<StaticResolver>(
        std::map<std::string, std::vector<IpAddress>> { { "mud.test", { *IpAddress::parse("127.0.0.3") } } });
    auto ok = fetcher(config(), allow("127.0.0.3/32"))
                  ->fetch({ third.url("mud.test", "/dev"), FetchKind::MudFile, {}, {} });
    ASSERT_TRUE(ok.ok()) << ok.message;
    EXPECT_EQ(third.requests().back().local, "127.0.0.3");
}

TEST_F(FetchTest, ConnectionRefusedAndUnknownNames)
{
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa {};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    socklen_t len = sizeof sa;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&sa), &len);
    ::close(s); // nothing listens there now
    auto f = fetcher(config());
    auto refused
        = f->fetch({ "https://mud.test:" + std::to_string(ntohs(sa.sin_port)) + "/dev", FetchKind::MudFile, {}, {} });
    EXPECT_EQ(refused.code, "fetch-connect");
    auto unknown = f->fetch({ "https://nowhere.test/dev", FetchKind::MudFile, {}, {} });
    EXPECT_EQ(unknown.code, "fetch-dns");
    EXPECT_EQ(unknown.message, "cannot resolve nowhere.test: unknown host");
    EXPECT_EQ(f->fetch({ "http://mud.test/dev", FetchKind::MudFile, {}, {} }).code, "url-scheme");
}

TEST_F(FetchTest, SystemResolverFindsLocalhost)
{
    server.serve("/dev", mud);
    auto f = std::make_unique<Fetcher>(config(), std::make_shared<AddressGuard>(allow("127.0.0.0/8")));
    auto r = f->fetch({ server.url("localhost", "/dev"), FetchKind::MudFile, {}, {} });
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.address, "127.0.0.1");
}

TEST_F(FetchTest, ConcurrentCallersShareOneFetch)
{
    std::mutex m;
    std::condition_variable cv;
    bool release = false;
    server.route("/dev", [&](const HttpRequest&) {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return release; });
        HttpReply r;
        r.headers.emplace_back("Content-Type", "application/mud+json");
        r.body = mud;
        return r;
    });
    auto f = fetcher(config());
    std::vector<FetchResult> results(4);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&, i] {
            results[i] = f->fetch({ server.url("mud.test", "/dev"), FetchKind::MudFile, {}, {} });
        });
    bool joined = waitFor([&] { return f->stats().shared == 3 && server.requestCount("/dev") == 1; }, 10s);
    {
        std::lock_guard lock(m);
        release = true;
    }
    cv.notify_all();
    for (auto& t : threads)
        t.join();
    ASSERT_TRUE(joined) << "shared=" << f->stats().shared << " requests=" << server.requestCount("/dev");
    for (const auto& r : results)
        EXPECT_EQ(r.body, mud);
    EXPECT_EQ(server.requestCount("/dev"), 1u);
    EXPECT_EQ(f->stats().connections, 1u);
}

TEST_F(FetchTest, RequestsToOneHostAreRateLimited)
{
    server.serve("/a", mud);
    server.serve("/b", mud);
    auto c = config();
    c.hostRequestsPerSecond = 0.1; // one request per 10 s
    c.hostBurst = 1;
    c.deadline = 1s;
    auto f = fetcher(c);
    EXPECT_TRUE(f->fetch({ server.url("mud.test", "/a"), FetchKind::MudFile, {}, {} }).ok());
    auto second = f->fetch({ server.url("mud.test", "/b"), FetchKind::MudFile, {}, {} });
    EXPECT_EQ(second.code, "fetch-rate-limited");
    EXPECT_EQ(server.requestCount("/b"), 0u);
    // Another host has its own budget.
    EXPECT_FALSE(f->fetch({ server.url("wrong.test", "/b"), FetchKind::MudFile, {}, {} }).code == "fetch-rate-limited");
}

TEST_F(FetchTest, ConditionalRequests)
{
    server.route("/dev", [&](const HttpRequest& req) {
        HttpReply r;
        if (req.header("if-none-match") == "\"v1\""
            || req.header("if-modified-since") == "Wed, 01 May 2024 10:00:00 GMT") {
            r.status = 304;
            r.headers.emplace_back("ETag", "\"v1\"");
            return r;
        }
        r.headers.emplace_back("Content-Type", "application/mud+json");
        r.headers.emplace_back("ETag", "\"v1\"");
        r.headers.emplace_back("Last-Modified", "Wed, 01 May 2024 10:00:00 GMT");
        r.body = mud;
        return r;
    });
    auto f = fetcher(config());
    auto first = f->fetch({ server.url("mud.test", "/dev"), FetchKind::MudFile, {}, {} });
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first.etag, "\"v1\"");
    EXPECT_EQ(first.lastModified, "Wed, 01 May 2024 10:00:00 GMT");
    auto again = f->fetch({ server.url("mud.test", "/dev"), FetchKind::MudFile, first.etag, std::nullopt });
    EXPECT_EQ(again.status, FetchResult::Status::NotModified);
    EXPECT_TRUE(again.body.empty());
    auto since = f->fetch({ server.url("mud.test", "/dev"), FetchKind::MudFile, std::nullopt, first.lastModified });
    EXPECT_EQ(since.status, FetchResult::Status::NotModified);
    EXPECT_EQ(server.requests().back().header("if-modified-since"), first.lastModified);
}

TEST_F(FetchTest, UnreadableCaFileIsAConfigurationError)
{
    auto c = config();
    c.caFiles = { pki.file("does-not-exist.pem") };
    EXPECT_THROW(fetcher(c), FetchError);
}
