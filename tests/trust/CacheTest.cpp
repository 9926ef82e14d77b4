// Component tests of the on-disk MUD cache (freshness, confirmation, damage, crash safety with a
// process killed during writes) and of the file-backed signer registry.

#include <csignal>
#include <set>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mudguard/mudparser/MudCache.h"
#include "mudguard/mudparser/SignerRegistry.h"

#include "TrustTestSupport.h"

using namespace mudguard::mudparser;
using namespace mudguard::test;
using namespace std::chrono_literals;

namespace {

using SysClock = std::chrono::system_clock;

CacheEntry entry(const std::string& url, std::string body, SysClock::time_point at, unsigned hours = 48)
{
    CacheEntry e;
    e.url = url;
    e.body = std::move(body);
    e.signature = "sig-of-" + url;
    e.signatureUrl = url + ".p7s";
    e.etag = "\"1\"";
    e.fetchedAt = at;
    e.verifiedAt = at;
    e.cacheValidityHours = hours;
    e.signer = SignerIdentity { "CN=signer", "CN=ca", "00ff", "2030-01-01T00:00:00Z" };
    e.chain = { "CN=signer", "CN=ca" };
    return e;
}

std::size_t countFiles(const std::filesystem::path& dir, const std::string& suffix)
{
    std::size_t n = 0;
    for (const auto& f : std::filesystem::directory_iterator(dir))
        if (f.path().string().ends_with(suffix))
            ++n;
    return n;
}

SignerIdentity signer(const std::string& cn, const std::string& fingerprint)
{
    return SignerIdentity { "CN=" + cn, "CN=Maker CA", fingerprint, "2030-01-01T00:00:00Z" };
}

} // namespace

TEST(MudCache, FreshStaleAndUnsupported)
{
    TempDir dir("mudguard-cache");
    MudCache cache(dir.path());
    auto t0 = SysClock::from_time_t(1714557600);
    cache.store(entry("https://a.example/dev", "{}", t0, 2));
    auto unsupported = entry("https://b.example/old", "{}", t0, 1);
    unsupported.isSupported = false;
    cache.store(unsupported);

    EXPECT_FALSE(cache.lookup("https://c.example/none", t0));
    EXPECT_EQ(cache.lookup("https://a.example/dev", t0 + 1h).state, CacheState::Fresh);
    EXPECT_EQ(cache.lookup("https://a.example/dev", t0 + 2h).state, CacheState::Stale);
    EXPECT_EQ(cache.lookup("https://b.example/old", t0 + 24h * 365).state, CacheState::Unsupported);

    auto confirmed = cache.confirm("https://a.example/dev", t0 + 3h, "\"2\"", "", true);
    ASSERT_TRUE(confirmed);
    EXPECT_EQ(confirmed->etag, "\"2\"");
    EXPECT_EQ(cache.lookup("https://a.example/dev", t0 + 4h).state, CacheState::Fresh);
    EXPECT_FALSE(cache.confirm("https://c.example/none", t0));

    // Everything survives a restart.
    MudCache reopened(dir.path());
    auto a = reopened.lookup("https://a.example/dev", t0 + 4h);
    ASSERT_TRUE(a);
    EXPECT_EQ(a.state, CacheState::Fresh);
    EXPECT_EQ(a.entry->etag, "\"2\"");
    EXPECT_EQ(a.entry->signature, "sig-of-https://a.example/dev");
    EXPECT_EQ(a.entry->signer->subject, "CN=signer");
    EXPECT_EQ(a.entry->chain, (std::vector<std::string> { "CN=signer", "CN=ca" }));
    EXPECT_EQ(reopened.entries().size(), 2u);
    EXPECT_TRUE(reopened.corrupt().empty());

    reopened.erase("https://a.example/dev");
    EXPECT_FALSE(reopened.lookup("https://a.example/dev", t0));
    EXPECT_FALSE(MudCache(dir.path()).lookup("https://a.example/dev", t0));
}

TEST(MudCache, DamagedEntriesAreSetAsideNotTrusted)
{
    TempDir dir("mudguard-cache");
    auto t0 = SysClock::now();
    {
        MudCache cache(dir.path());
        cache.store(entry("https://a.example/dev", std::string(5000, 'a'), t0));
        cache.store(entry("https://b.example/dev", std::string(5000, 'b'), t0));
        cache.store(entry("https://c.example/dev", std::string(5000, 'c'), t0));
        // A flipped byte, a torn write (as a writer without rename would leave), a foreign file.
        auto a = cache.fileFor("https://a.example/dev");
        auto bytes = readFile(a);
        bytes[2500] ^= 0x20;
        writeFile(a, bytes);
        auto b = cache.fileFor("https://b.example/dev");
        writeFile(b, readFile(b).substr(0, 3000));
    }
    MudCache reopened(dir.path());
    EXPECT_FALSE(reopened.lookup("https://a.example/dev", t0));
    EXPECT_FALSE(reopened.lookup("https://b.example/dev", t0));
    EXPECT_TRUE(reopened.lookup("https://c.example/dev", t0));
    auto corrupt = reopened.corrupt();
    ASSERT_EQ(corrupt.size(), 2u);
    std::set<std::string> reasons;
    for (const auto& c : corrupt)
        reasons.insert(c.reason);
    EXPECT_TRUE(reasons.count("checksum mismatch"));
    EXPECT_TRUE(reasons.count("no checksum trailer (truncated or overwritten)"));
    EXPECT_EQ(countFiles(dir.path(), ".corrupt"), 2u);
    // A fresh store replaces them.
    reopened.store(entry("https://a.example/dev", "{}", t0));
    EXPECT_TRUE(MudCache(dir.path()).lookup("https://a.example/dev", t0));
}

TEST(MudCache, KilledDuringWritesLeavesOnlyIntactEntries)
{
    TempDir dir("mudguard-cache");
    const int kUrls = 4;
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // Rewrite a few entries with large bodies for ever; each generation fills the body with one
        // letter so that a mix of two writes would show.
        MudCache cache(dir.path());
        for (unsigned generation = 0;; ++generation) {
            char letter = static_cast<char>('a' + generation % 26);
            auto url = "https://maker.example/dev" + std::to_string(generation % kUrls);
            cache.store(entry(url, std::string(256 * 1024, letter), SysClock::now()));
            writeFile(dir.path() / "generation", std::to_string(generation));
        }
    }
    // Let it complete a few rounds, then kill it wherever it is.
    bool running = waitFor(
        [&] {
            auto g = dir.path() / "generation";
            return std::filesystem::exists(g) && std::atoi(readFile(g).c_str()) >= 3 * kUrls;
        },
        60s);
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(running) << "the writer made no progress";
    ASSERT_TRUE(WIFSIGNALED(status));

    MudCache reopened(dir.path());
    EXPECT_TRUE(reopened.corrupt().empty()) << reopened.corrupt().front().reason;
    auto entries = reopened.entries();
    EXPECT_EQ(entries.size(), static_cast<std::size_t>(kUrls));
    for (const auto& e : entries) {
        ASSERT_EQ(e->body.size(), 256u * 1024);
        EXPECT_EQ(e->body.find_first_not_of(e->body[0]), std::string::npos) << "mixed generations in " << e->url;
    }
    // Temporary files of the interrupted write are gone.
    for (const auto& f : std::filesystem::directory_iterator(dir.path()))
        EXPECT_EQ(f.path().filename().string().find(".tmp-"), std::string::npos) << f.path();
}

TEST(SignerRegistry, FirstUseSameAndChange)
{
    TempDir dir("mudguard-signers");
    auto maker = signer("Maker signer", "aa");
    auto renewed = signer("Maker signer", "bb");
    auto intruder = signer("Someone else", "cc");
    {
        FileSignerRegistry registry(dir.path());
        EXPECT_EQ(registry.check("mud.example.com", maker, "https://mud.example.com/a").outcome,
            SignerDecision::Outcome::FirstUse);
        EXPECT_EQ(registry.check("mud.example.com", maker, "https://mud.example.com/b").outcome,
            SignerDecision::Outcome::Same);
        // A renewed certificate of the same subject and issuer is the same signer.
        EXPECT_EQ(registry.check("mud.example.com", renewed, "https://mud.example.com/a").outcome,
            SignerDecision::Outcome::Same);
        auto changed = registry.check("mud.example.com", intruder, "https://mud.example.com/a");
        EXPECT_EQ(changed.outcome, SignerDecision::Outcome::Changed);
        ASSERT_TRUE(changed.known);
        EXPECT_EQ(changed.known->subject, "CN=Maker signer");
        // Still refused, and recorded once.
        EXPECT_EQ(registry.check("mud.example.com", intruder, "https://mud.example.com/a").outcome,
            SignerDecision::Outcome::Changed);
        EXPECT_EQ(registry.find("mud.example.com")->fingerprint, "bb");
        // Authorities are independent.
        EXPECT_EQ(registry.check("other.example.com", intruder, "https://other.example.com/x").outcome,
            SignerDecision::Outcome::FirstUse);
    }
    auto log = readFile(dir.path() / "signer-events.jsonl");
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 3); // two first uses, one change
    EXPECT_NE(log.find(R"("event":"change")"), std::string::npos);
    EXPECT_NE(log.find(R"("known":{"subject":"CN=Maker signer")"), std::string::npos) << log;
    EXPECT_NE(log.find(R"("seen":{"subject":"CN=Someone else")"), std::string::npos) << log;

    FileSignerRegistry reopened(dir.path());
    auto pending = reopened.pendingChanges();
    ASSERT_EQ(pending.size(), 1u);
    EXPECT_EQ(pending[0].authority, "mud.example.com");
    EXPECT_EQ(pending[0].known.subject, "CN=Maker signer");
    EXPECT_EQ(pending[0].seen.subject, "CN=Someone else");
    EXPECT_EQ(pending[0].url, "https://mud.example.com/a");

    reopened.accept("mud.example.com", intruder);
    EXPECT_TRUE(reopened.pendingChanges().empty());
    EXPECT_EQ(reopened.check("mud.example.com", intruder, "https://mud.example.com/a").outcome,
        SignerDecision::Outcome::Same);
    FileSignerRegistry again(dir.path());
    EXPECT_TRUE(again.pendingChanges().empty());
    EXPECT_EQ(again.find("mud.example.com")->subject, "CN=Someone else");
}

TEST(SignerRegistry, DamagedFileIsNotSilentlyForgotten)
{
    TempDir dir("mudguard-signers");
    writeFile(dir.path() / "signers.json", "{\"signers\": [ {\"authority\": ");
    EXPECT_THROW(FileSignerRegistry { dir.path() }, Error);
}
