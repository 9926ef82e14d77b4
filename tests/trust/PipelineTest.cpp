// Component tests of the whole trust pipeline against a real TLS server: signature, validation,
// the mud-url check, the cache (hits, 304 refreshes, last known good), unsupported files, the
// same-signer rule, and concurrent workers.

#include <thread>

#include <gtest/gtest.h>

#include "mudguard/mudparser/TrustPipeline.h"

#include "TrustTestSupport.h"

using namespace mudguard::mudparser;
using namespace mudguard::test;
using namespace std::chrono_literals;

namespace {

bool hasCode(const Verdict& v, const std::string& code, Severity s)
{
    for (const auto& d : v.report.diagnostics)
        if (d.code == code && d.severity == s)
            return true;
    return false;
}

std::string codes(const Verdict& v)
{
    std::string out;
    for (const auto& d : v.report.diagnostics)
        out += std::string(toString(d.severity)) + " " + d.code + ": " + d.message + "\n";
    return out;
}

class PipelineTest : public ::testing::Test {
protected:
    const TestPki& pki = TestPki::get();
    TlsTestServer server { pki.file("server-chain.pem"), pki.file("server.key") };
    TempDir state { "mudguard-state" };
    Parser parser;
    std::shared_ptr<Fetcher> fetcher;
    std::shared_ptr<MudCache> cache;
    std::shared_ptr<FileSignerRegistry> signers;
    const std::chrono::system_clock::time_point now = std::chrono::system_clock::now();

    void SetUp() override
    {
        FetchConfig c;
        c.caFiles = { pki.file("root.pem") };
        c.hostRequestsPerSecond = 0;
        AddressPolicy p;
        p.allow.push_back(*IpPrefix::parse("127.0.0.1"));
        fetcher = std::make_shared<Fetcher>(c, std::make_shared<AddressGuard>(p),
            std::make_shared<StaticResolver>(
                std::map<std::string, std::vector<IpAddress>> { { "mud.test", { *IpAddress::parse("127.0.0.1") } } }));
        cache = std::make_shared<MudCache>(state.path() / "cache");
        signers = std::make_shared<FileSignerRegistry>(state.path());
    }

    TrustPolicy policy(SignatureRequirement r = SignatureRequirement::Require)
    {
        TrustPolicy p;
        p.signature = r;
        p.anchors = TrustAnchors::fromPemFiles({ pki.file("root.pem") });
        return p;
    }
    std::unique_ptr<TrustPipeline> pipeline(TrustPolicy p)
    {
        return std::make_unique<TrustPipeline>(fetcher, std::move(p), cache, signers);
    }
    std::string url(const std::string& target) { return server.url("mud.test", target); }

    /// Serves a MUD file for `target` naming `sigRef`, signed by `signer` at target + ".p7s".
    std::string publish(const std::string& target, const std::string& signer = "signer", bool supported = true)
    {
        auto body = sampleMud(url(target), target.substr(1) + ".p7s", supported);
        server.route(target, [body](const HttpRequest& req) {
            HttpReply r;
            r.headers.emplace_back("ETag", "\"v1\"");
            if (req.header("if-none-match") == "\"v1\"") {
                r.status = 304;
                return r;
            }
            r.headers.emplace_back("Content-Type", "application/mud+json");
            r.body = body;
            return r;
        });
        server.serve(target + ".p7s", opensslSign(body, signer), "application/pkcs7-signature");
        return body;
    }
};

} // namespace

TEST_F(PipelineTest, SignedFileIsAcceptedCachedAndRefreshedConditionally)
{
    publish("/dev");
    auto p = pipeline(policy());
    auto v = p->obtain(url("/dev"), parser, now);
    ASSERT_TRUE(v.accepted) << codes(v);
    EXPECT_EQ(v.source, VerdictSource::Network);
    ASSERT_TRUE(v.profile);
    EXPECT_EQ(v.profile->mfgName, "Example Maker");
    ASSERT_TRUE(v.signer);
    EXPECT_EQ(v.signer->subject, "O=Example Maker, CN=Example Maker MUD signer");
    const std::vector<std::string> chain { "O=Example Maker, CN=Example Maker MUD signer",
        "O=mudguard test, CN=mudguard test intermediate", "O=mudguard test, CN=mudguard test root" };
    EXPECT_EQ(v.chain, chain);
    EXPECT_EQ(v.signatureUrl, url("/dev.p7s"));
    EXPECT_TRUE(hasCode(v, "signer-first-use", Severity::Info)) << codes(v);
    EXPECT_EQ(v.summary(),
        "accepted (network, signed by \"O=Example Maker, CN=Example Maker MUD signer\" issued by \"O=mudguard test, "
        "CN=mudguard test intermediate\")");

    // Within cache-validity (48 h): no network.
    auto hit = p->obtain(url("/dev"), parser, now + 47h);
    ASSERT_TRUE(hit.accepted) << codes(hit);
    EXPECT_EQ(hit.source, VerdictSource::Cache);
    EXPECT_EQ(hit.chain, chain);
    EXPECT_EQ(cache->lookup(url("/dev"), now).entry->chain, chain);
    EXPECT_EQ(server.requestCount("/dev"), 1u);

    // Stale: a conditional request, answered 304; the signature is not fetched again.
    auto refreshed = p->obtain(url("/dev"), parser, now + 49h);
    ASSERT_TRUE(refreshed.accepted) << codes(refreshed);
    EXPECT_EQ(refreshed.source, VerdictSource::NotModified);
    EXPECT_EQ(server.requests().back().header("if-none-match"), "\"v1\"");
    EXPECT_EQ(server.requestCount("/dev"), 2u);
    EXPECT_EQ(server.requestCount("/dev.p7s"), 1u);
    EXPECT_EQ(cache->lookup(url("/dev"), now + 50h).state, CacheState::Fresh);
}

TEST_F(PipelineTest, FailedRefreshKeepsTheLastKnownGoodFile)
{
    auto body = publish("/dev");
    auto p = pipeline(policy());
    ASSERT_TRUE(p->obtain(url("/dev"), parser, now).accepted);

    server.route("/dev", [](const HttpRequest&) {
        HttpReply r;
        r.status = 500;
        return r;
    });
    auto v = p->obtain(url("/dev"), parser, now + 49h);
    EXPECT_TRUE(v.accepted) << codes(v);
    EXPECT_EQ(v.source, VerdictSource::LastKnownGood);
    EXPECT_EQ(v.body, body);
    EXPECT_TRUE(hasCode(v, "refresh-failed", Severity::Warning)) << codes(v);
    EXPECT_TRUE(hasCode(v, "fetch-http-status", Severity::Warning)) << codes(v);

    // A refreshed file that is refused (here: tampered after signing) does not replace it either.
    auto tampered = body;
    tampered.replace(tampered.find("443"), 3, "444");
    server.serve("/dev", tampered);
    auto again = p->obtain(url("/dev"), parser, now + 50h);
    EXPECT_TRUE(again.accepted);
    EXPECT_EQ(again.source, VerdictSource::LastKnownGood);
    EXPECT_TRUE(hasCode(again, "signature-content-mismatch", Severity::Warning)) << codes(again);
    EXPECT_EQ(cache->lookup(url("/dev"), now).entry->body, body);
}

TEST_F(PipelineTest, MudUrlMustBeTheFetchedUrl)
{
    auto body = sampleMud("https://mud.test/elsewhere", "dev.p7s");
    server.serve("/dev", body);
    server.serve("/dev.p7s", opensslSign(body, "signer"));
    auto v = pipeline(policy())->obtain(url("/dev"), parser, now);
    EXPECT_FALSE(v.accepted);
    EXPECT_FALSE(v.profile);
    EXPECT_TRUE(hasCode(v, "mud-url-mismatch", Severity::Error)) << codes(v);
    EXPECT_FALSE(cache->lookup(url("/dev"), now));
}

TEST_F(PipelineTest, SignatureRequirement)
{
    server.serve("/unsigned", sampleMud(url("/unsigned")));
    auto require = pipeline(policy(SignatureRequirement::Require))->obtain(url("/unsigned"), parser, now);
    EXPECT_FALSE(require.accepted);
    EXPECT_TRUE(hasCode(require, "signature-missing", Severity::Error)) << codes(require);

    auto prefer = pipeline(policy(SignatureRequirement::Prefer))->obtain(url("/unsigned"), parser, now);
    EXPECT_TRUE(prefer.accepted) << codes(prefer);
    EXPECT_TRUE(hasCode(prefer, "signature-missing", Severity::Warning));
    EXPECT_FALSE(prefer.signer);

    // Prefer still refuses a signature that is there but wrong.
    auto body = sampleMud(url("/bad"), "bad.p7s");
    server.serve("/bad", body);
    server.serve("/bad.p7s", opensslSign(body, "signer-untrusted"));
    auto bad = pipeline(policy(SignatureRequirement::Prefer))->obtain(url("/bad"), parser, now);
    EXPECT_FALSE(bad.accepted);
    EXPECT_TRUE(hasCode(bad, "signature-untrusted", Severity::Error)) << codes(bad);

    auto off = pipeline(policy(SignatureRequirement::Off))->obtain(url("/bad"), parser, now + 1s);
    EXPECT_TRUE(off.accepted) << codes(off);
    EXPECT_EQ(server.requestCount("/bad.p7s"), 1u); // off does not even fetch it
}

TEST_F(PipelineTest, SignatureLocations)
{
    // A relative reference into another directory.
    auto body = sampleMud(url("/devices/dev"), "../sigs/dev.p7s");
    server.serve("/devices/dev", body);
    server.serve("/sigs/dev.p7s", opensslSign(body, "signer"));
    auto v = pipeline(policy())->obtain(url("/devices/dev"), parser, now);
    EXPECT_TRUE(v.accepted) << codes(v);
    EXPECT_EQ(v.signatureUrl, url("/sigs/dev.p7s"));

    // No mud-signature: the configured default suffix.
    auto plain = sampleMud(url("/plain"));
    server.serve("/plain", plain);
    server.serve("/plain.p7s", opensslSign(plain, "signer"));
    auto p = policy();
    p.defaultSignatureSuffix = ".p7s";
    auto d = pipeline(p)->obtain(url("/plain"), parser, now);
    EXPECT_TRUE(d.accepted) << codes(d);

    // A signature that cannot be fetched, and one that may not be fetched.
    auto missing = sampleMud(url("/missing"), "missing.p7s");
    server.serve("/missing", missing);
    auto m = pipeline(policy())->obtain(url("/missing"), parser, now);
    EXPECT_FALSE(m.accepted);
    EXPECT_TRUE(hasCode(m, "signature-fetch", Severity::Error)) << codes(m);
    auto insecure = sampleMud(url("/insecure"), "http://mud.test/insecure.p7s");
    server.serve("/insecure", insecure);
    auto i = pipeline(policy())->obtain(url("/insecure"), parser, now);
    EXPECT_TRUE(hasCode(i, "signature-url", Severity::Error)) << codes(i);
}

TEST_F(PipelineTest, AuthorityAnchorsReplaceTheGlobalOnes)
{
    publish("/dev");
    auto p = policy();
    p.authorityAnchors["mud.test"] = TrustAnchors::fromPemFiles({ pki.file("other-root.pem") });
    auto v = pipeline(p)->obtain(url("/dev"), parser, now);
    EXPECT_FALSE(v.accepted);
    EXPECT_TRUE(hasCode(v, "signature-untrusted", Severity::Error)) << codes(v);
}

TEST_F(PipelineTest, SignerChangeIsRefusedUntilAccepted)
{
    publish("/dev");
    publish("/other", "signer2");
    auto p = pipeline(policy());
    ASSERT_TRUE(p->obtain(url("/dev"), parser, now).accepted);
    auto v = p->obtain(url("/other"), parser, now);
    EXPECT_FALSE(v.accepted);
    EXPECT_TRUE(hasCode(v, "signer-changed", Severity::Error)) << codes(v);
    auto it = std::find_if(v.report.diagnostics.begin(), v.report.diagnostics.end(),
        [](const Diagnostic& d) { return d.code == "signer-changed"; });
    EXPECT_NE(it->message.find("signed by \"O=Other Maker, CN=Other Maker MUD signer\""), std::string::npos)
        << it->message;
    EXPECT_NE(it->message.find("the accepted signer for mud.test is \"O=Example Maker, CN=Example Maker MUD signer\""),
        std::string::npos)
        << it->message;
    EXPECT_FALSE(cache->lookup(url("/other"), now));
    auto pending = signers->pendingChanges();
    ASSERT_EQ(pending.size(), 1u);
    EXPECT_EQ(pending[0].seen.subject, "O=Other Maker, CN=Other Maker MUD signer");

    signers->accept("mud.test", pending[0].seen);
    EXPECT_TRUE(p->obtain(url("/other"), parser, now).accepted);
}

TEST_F(PipelineTest, UnsupportedFilesAreKeptAndNotRefreshed)
{
    publish("/old", "signer", false);
    auto p = pipeline(policy());
    auto v = p->obtain(url("/old"), parser, now);
    ASSERT_TRUE(v.accepted) << codes(v);
    EXPECT_TRUE(v.unsupported);
    EXPECT_TRUE(hasCode(v, "mud-unsupported", Severity::Warning));
    auto later = p->obtain(url("/old"), parser, now + 24h * 400);
    EXPECT_TRUE(later.accepted);
    EXPECT_EQ(later.source, VerdictSource::Cache);
    EXPECT_TRUE(later.unsupported);
    EXPECT_EQ(server.requestCount("/old"), 1u);
    EXPECT_EQ(cache->lookup(url("/old"), now).state, CacheState::Unsupported);
}

TEST_F(PipelineTest, CorruptCacheEntryIsFetchedAgain)
{
    publish("/dev");
    ASSERT_TRUE(pipeline(policy())->obtain(url("/dev"), parser, now).accepted);
    auto file = cache->fileFor(url("/dev"));
    auto bytes = readFile(file);
    bytes[bytes.size() / 2] ^= 1;
    writeFile(file, bytes);

    cache = std::make_shared<MudCache>(state.path() / "cache");
    ASSERT_EQ(cache->corrupt().size(), 1u);
    auto v = pipeline(policy())->obtain(url("/dev"), parser, now + 1h);
    EXPECT_TRUE(v.accepted) << codes(v);
    EXPECT_EQ(v.source, VerdictSource::Network);
    EXPECT_EQ(server.requestCount("/dev"), 2u);
}

TEST_F(PipelineTest, RefusedUrlsNeverReachTheNetwork)
{
    auto p = pipeline(policy());
    auto v = p->obtain("http://mud.test/dev", parser, now);
    EXPECT_FALSE(v.accepted);
    EXPECT_TRUE(hasCode(v, "url-scheme", Severity::Error));
    EXPECT_EQ(server.accepted(), 0u);
}

TEST_F(PipelineTest, WorkersShareTheFetcherCacheAndRegistry)
{
    publish("/dev");
    auto p = pipeline(policy());
    std::vector<Verdict> verdicts(4);
    std::vector<std::thread> workers;
    for (int i = 0; i < 4; ++i)
        workers.emplace_back([&, i] {
            Parser own; // a libyang context per worker
            verdicts[i] = p->obtain(url("/dev"), own, now);
        });
    for (auto& w : workers)
        w.join();
    for (const auto& v : verdicts)
        EXPECT_TRUE(v.accepted) << codes(v);
    EXPECT_LE(server.requestCount("/dev"), 4u);
    EXPECT_EQ(cache->entries().size(), 1u);
    EXPECT_TRUE(signers->pendingChanges().empty());
}

TEST(Evaluate, LocalFileWithSignature)
{
    const auto& pki = TestPki::get();
    Parser parser;
    auto body = sampleMud("https://mud.example.com/dev", "dev.p7s");
    auto sig = opensslSign(body, "signer");
    TrustPolicy policy;
    policy.anchors = TrustAnchors::fromPemFiles({ pki.file("root.pem") });
    EvaluateInput in;
    in.url = "https://mud.example.com/dev";
    in.body = body;
    in.signature = sig;
    auto v = evaluate(in, policy, parser);
    EXPECT_TRUE(v.accepted) << codes(v);
    EXPECT_EQ(v.source, VerdictSource::Local);

    in.url = "https://MUD.example.com:443/./dev"; // the same URL, normalised
    EXPECT_TRUE(evaluate(in, policy, parser).accepted);

    policy.anchors.reset();
    auto noAnchors = evaluate(in, policy, parser);
    EXPECT_FALSE(noAnchors.accepted);
    EXPECT_TRUE(hasCode(noAnchors, "signature-no-anchors", Severity::Error));

    in.body = "{\"ietf-mud:mud\": ";
    in.signature.reset();
    policy.signature = SignatureRequirement::Off;
    auto broken = evaluate(in, policy, parser);
    EXPECT_FALSE(broken.accepted);
    EXPECT_TRUE(broken.report.hasErrors());
}
