// The resolver against a scripted server on 127.0.0.1 (spoofed, late and truncated answers) and
// against a real dnsmasq serving names with TTLs.

#include "mudguard/controller/Resolver.h"

#include <csignal>
#include <functional>
#include <optional>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mudguard/controller/EventLoop.h"
#include "mudguard/controller/Fd.h"
#include "mudguard/controller/Log.h"

#include "DnsWire.h"
#include "ScriptedDnsServer.h"
#include "TestSupport.h"

using namespace std::chrono_literals;

namespace mudguard::controller {
namespace {

using dns::Bytes;
using dns::kQname;
using dns::kResponse;
using dns::ScriptedServer;
using dns::udpSocketOn;
using dns::Wire;

dns::IpAddress loopback() { return *dns::IpAddress::parse("127.0.0.1"); }

Bytes answerFor(const dns::Message& q, std::optional<std::uint16_t> id = {}, std::string_view name = {},
    unsigned flags = kResponse, Bytes addr = { 192, 0, 2, 1 }, std::uint32_t ttl = 300)
{
    std::string n = name.empty() ? q.questions.at(0).name : std::string(name);
    auto type = static_cast<dns::Type>(q.questions.at(0).type);
    return Wire {}.header(id.value_or(q.id), flags, 1, 1).question(n, type).a(kQname, ttl, addr).b;
}

struct Outcome {
    std::optional<Resolver::Result> result;
    Resolver::Callback cb()
    {
        return [this](const Resolver::Result& r) { result = r; };
    }
};

Resolver::Options optionsFor(std::uint16_t port)
{
    Resolver::Options o;
    o.server = loopback();
    o.port = port;
    o.timeout = 200ms;
    o.attempts = 2;
    return o;
}

TEST(Resolver, IgnoresAnswersWithTheWrongIdOrQuestion)
{
    EventLoop loop;
    ScriptedServer server(loop, [](const dns::Message& q, int) {
        return std::vector<Bytes> {
            answerFor(q, static_cast<std::uint16_t>(q.id ^ 0x5a5a), {}, kResponse, { 6, 6, 6, 6 }), // wrong ID
            answerFor(q, {}, "evil.example", kResponse, { 6, 6, 6, 6 }), // wrong name
            Bytes { 1, 2, 3 }, // garbage
            answerFor(q), // right
        };
    });
    Resolver r(loop, optionsFor(server.port()));
    Outcome out;
    r.resolve("Host.Example", dns::Type::A, out.cb());
    ASSERT_TRUE(loop.runUntil([&] { return out.result.has_value(); }, 5s));
    EXPECT_EQ(out.result->status, Resolver::Status::Ok) << out.result->detail;
    EXPECT_EQ(out.result->name, "host.example");
    ASSERT_EQ(out.result->addresses.size(), 1u);
    EXPECT_EQ(out.result->addresses[0].address.toString(), "192.0.2.1");
    EXPECT_EQ(out.result->ttl, 300u);
    EXPECT_EQ(r.stats().rejected, 3u);
    EXPECT_EQ(r.inFlight(), 0u);
}

TEST(Resolver, RetriesThenTimesOut)
{
    EventLoop loop;
    ScriptedServer silent(loop, [](const dns::Message&, int) { return std::vector<Bytes> {}; });
    Resolver r(loop, optionsFor(silent.port()));
    Outcome out;
    r.resolve("host.example", dns::Type::Aaaa, out.cb());
    ASSERT_TRUE(loop.runUntil([&] { return out.result.has_value(); }, 5s));
    EXPECT_EQ(out.result->status, Resolver::Status::Timeout);
    EXPECT_EQ(silent.queries(), 2);
    EXPECT_EQ(r.stats().sent, 2u);
    EXPECT_EQ(r.stats().retries, 1u);
    EXPECT_EQ(r.stats().timeouts, 1u);
}

TEST(Resolver, ALostQueryIsSentAgain)
{
    EventLoop loop;
    ScriptedServer lossy(loop, [](const dns::Message& q, int n) {
        return n == 0 ? std::vector<Bytes> {} : std::vector<Bytes> { answerFor(q) };
    });
    Resolver r(loop, optionsFor(lossy.port()));
    Outcome out;
    r.resolve("host.example", dns::Type::A, out.cb());
    ASSERT_TRUE(loop.runUntil([&] { return out.result.has_value(); }, 5s));
    EXPECT_EQ(out.result->status, Resolver::Status::Ok);
    EXPECT_EQ(r.stats().retries, 1u);
}

TEST(Resolver, ReportsErrorCodes)
{
    EventLoop loop;
    ScriptedServer server(loop, [](const dns::Message& q, int) {
        unsigned rcode = q.questions[0].name == "refused.example" ? 5 : q.questions[0].name == "fail.example" ? 2 : 3;
        return std::vector<Bytes> {
            Wire {}.header(q.id, 0x8180 | rcode, 1, 0).question(q.questions[0].name, dns::Type::A).b
        };
    });
    Resolver r(loop, optionsFor(server.port()));
    Outcome refused, failed, missing;
    r.resolve("refused.example", dns::Type::A, refused.cb());
    r.resolve("fail.example", dns::Type::A, failed.cb());
    r.resolve("missing.example", dns::Type::A, missing.cb());
    ASSERT_TRUE(loop.runUntil([&] { return refused.result && failed.result && missing.result; }, 5s));
    EXPECT_EQ(refused.result->status, Resolver::Status::Refused);
    EXPECT_EQ(failed.result->status, Resolver::Status::ServerFailure);
    EXPECT_EQ(failed.result->detail, "rcode 2");
    EXPECT_EQ(missing.result->status, Resolver::Status::NxDomain);
}

TEST(Resolver, TruncatedAnswerWithoutTcpIsReportedAsSuch)
{
    EventLoop loop;
    ScriptedServer server(loop,
        [](const dns::Message& q, int) { return std::vector<Bytes> { answerFor(q, {}, {}, kResponse | 0x0200) }; });
    auto o = optionsFor(server.port());
    o.tcpFallback = false;
    Resolver r(loop, o);
    Outcome out;
    r.resolve("big.example", dns::Type::A, out.cb());
    ASSERT_TRUE(loop.runUntil([&] { return out.result.has_value(); }, 5s));
    EXPECT_EQ(out.result->status, Resolver::Status::Truncated);
    EXPECT_EQ(out.result->addresses.size(), 1u);
}

TEST(Resolver, QueuesBeyondTheInFlightLimitAndCancels)
{
    EventLoop loop;
    ScriptedServer server(loop, [](const dns::Message& q, int) { return std::vector<Bytes> { answerFor(q) }; });
    auto o = optionsFor(server.port());
    o.maxInFlight = 1;
    Resolver r(loop, o);
    Outcome a, b, c;
    r.resolve("a.example", dns::Type::A, a.cb());
    auto idB = r.resolve("b.example", dns::Type::A, b.cb());
    r.resolve("c.example", dns::Type::A, c.cb());
    EXPECT_EQ(r.inFlight(), 1u);
    EXPECT_EQ(r.queued(), 2u);
    EXPECT_TRUE(r.cancel(idB));
    EXPECT_FALSE(r.cancel(idB));
    ASSERT_TRUE(loop.runUntil([&] { return a.result && c.result; }, 5s));
    EXPECT_EQ(c.result->status, Resolver::Status::Ok);
    EXPECT_FALSE(b.result);
    EXPECT_EQ(server.queries(), 2);
}

TEST(Resolver, RefusesReverseLookupsAndBadNames)
{
    EventLoop loop;
    Resolver r(loop, optionsFor(53));
    auto ignore = [](const Resolver::Result&) {};
    EXPECT_THROW(r.resolve("1.2.0.192.in-addr.arpa", dns::Type::A, ignore), std::invalid_argument);
    EXPECT_THROW(r.resolve("1.0.0.0.ip6.ARPA.", dns::Type::Aaaa, ignore), std::invalid_argument);
    EXPECT_THROW(r.resolve("host.example", dns::Type::Ptr, ignore), std::invalid_argument);
    EXPECT_THROW(r.resolve("bad name", dns::Type::A, ignore), std::invalid_argument);
    EXPECT_EQ(r.inFlight(), 0u);
}

TEST(Resolver, AThrowingCallbackIsContained)
{
    std::vector<std::string> lines;
    log::setSink([&](std::string_view l) { lines.emplace_back(l); });
    {
        EventLoop loop;
        ScriptedServer server(loop, [](const dns::Message& q, int) { return std::vector<Bytes> { answerFor(q) }; });
        Resolver r(loop, optionsFor(server.port()));
        bool second = false;
        r.resolve("a.example", dns::Type::A, [](const Resolver::Result&) { throw std::runtime_error("bug"); });
        r.resolve("b.example", dns::Type::A, [&](const Resolver::Result&) { second = true; });
        EXPECT_TRUE(loop.runUntil([&] { return second; }, 5s));
    }
    log::setSink({});
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("INTERNAL_ERROR exception escaped a DNS callback name=\"a.example\" reason=\"bug\""),
        std::string::npos)
        << lines[0];
}

// ---- against a real dnsmasq ----

class Dnsmasq {
public:
    Dnsmasq(const std::vector<std::string>& records, const std::filesystem::path& pidFile)
    {
        std::uint16_t port = 0;
        {
            // A free port now; dnsmasq binds it a moment later.
            auto probe = udpSocketOn(0, port);
        }
        m_port = port;
        std::vector<std::string> argv
            = { MUDGUARD_DNSMASQ_PROGRAM, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                  "--no-poll", "--pid-file=" + pidFile.string(), "--listen-address=127.0.0.1", "--bind-interfaces",
                  fmt::format("--port={}", port), "--local-ttl=300", "--local=/test/", "--log-facility=/dev/null" };
        argv.insert(argv.end(), records.begin(), records.end());
        m_pid = fork();
        if (m_pid == 0) {
            std::vector<char*> args;
            for (auto& a : argv)
                args.push_back(a.data());
            args.push_back(nullptr);
            execv(args[0], args.data());
            _exit(127);
        }
    }
    ~Dnsmasq()
    {
        if (m_pid > 0) {
            ::kill(m_pid, SIGTERM);
            int status;
            ::waitpid(m_pid, &status, 0);
        }
    }
    std::uint16_t port() const { return m_port; }
    bool running()
    {
        int status;
        return ::waitpid(m_pid, &status, WNOHANG) == 0;
    }

private:
    pid_t m_pid = -1;
    std::uint16_t m_port = 0;
};

class ResolverDnsmasq : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (std::string(MUDGUARD_DNSMASQ_PROGRAM).empty())
            GTEST_SKIP() << "dnsmasq is not installed";
        std::vector<std::string> records = {
            "--host-record=lamp.test,192.0.2.10,2001:db8::10",
            "--host-record=v4only.test,192.0.2.11",
            "--cname=www.test,cdn.test,120",
            "--cname=cdn.test,edge.test",
            "--host-record=edge.test,198.51.100.20",
        };
        for (int i = 1; i <= 60; ++i)
            records.push_back(fmt::format("--host-record=big.test,203.0.113.{}", i));
        m_dnsmasq.emplace(records, m_dir.path() / "dnsmasq.pid");
        // Ready when it answers; quick attempts while it starts, then generous timeouts so that a
        // busy machine cannot turn a slow answer into a failure.
        m_resolver.emplace(m_loop, optionsFor(m_dnsmasq->port()));
        bool ready = false;
        for (int attempt = 0; attempt < 50 && !ready && m_dnsmasq->running(); ++attempt)
            ready = resolve("lamp.test", dns::Type::A).status == Resolver::Status::Ok;
        m_resolver.emplace(m_loop, patientOptions());
        ASSERT_TRUE(ready) << "dnsmasq did not come up on port " << m_dnsmasq->port();
    }

    Resolver::Options patientOptions()
    {
        auto o = optionsFor(m_dnsmasq->port());
        o.timeout = 3s;
        return o;
    }

    Resolver::Result resolve(std::string_view name, dns::Type type)
    {
        Outcome out;
        m_resolver->resolve(name, type, out.cb());
        EXPECT_TRUE(m_loop.runUntil([&] { return out.result.has_value(); }, 30s));
        return out.result.value_or(Resolver::Result {});
    }

    test::TempDir m_dir { "mudguard-dnsmasq" };
    EventLoop m_loop;
    std::optional<Dnsmasq> m_dnsmasq;
    std::optional<Resolver> m_resolver;
};

TEST_F(ResolverDnsmasq, ResolvesAddressesWithTheirTtls)
{
    auto v4 = resolve("LAMP.test", dns::Type::A);
    ASSERT_EQ(v4.status, Resolver::Status::Ok) << v4.detail;
    ASSERT_EQ(v4.addresses.size(), 1u);
    EXPECT_EQ(v4.addresses[0].address.toString(), "192.0.2.10");
    EXPECT_EQ(v4.addresses[0].ttl, 300u);
    EXPECT_EQ(v4.ttl, 300u);
    auto v6 = resolve("lamp.test", dns::Type::Aaaa);
    ASSERT_EQ(v6.status, Resolver::Status::Ok) << v6.detail;
    ASSERT_EQ(v6.addresses.size(), 1u);
    EXPECT_EQ(v6.addresses[0].address.toString(), "2001:db8::10");
}

TEST_F(ResolverDnsmasq, FollowsCnamesAndTakesTheSmallestTtl)
{
    auto r = resolve("www.test", dns::Type::A);
    ASSERT_EQ(r.status, Resolver::Status::Ok) << r.detail;
    EXPECT_EQ(r.cnameChain, (std::vector<std::string> { "cdn.test", "edge.test" }));
    ASSERT_EQ(r.addresses.size(), 1u);
    EXPECT_EQ(r.addresses[0].address.toString(), "198.51.100.20");
    EXPECT_EQ(r.ttl, 120u);
}

TEST_F(ResolverDnsmasq, DistinguishesMissingNamesFromMissingRecords)
{
    auto missing = resolve("nothing.test", dns::Type::A);
    EXPECT_EQ(missing.status, Resolver::Status::NxDomain);
    auto noData = resolve("v4only.test", dns::Type::Aaaa);
    EXPECT_EQ(noData.status, Resolver::Status::NoData);
    EXPECT_TRUE(noData.addresses.empty());
}

TEST_F(ResolverDnsmasq, FallsBackToTcpWhenTheAnswerIsTruncated)
{
    auto o = patientOptions();
    o.ednsUdpSize = 0; // plain 512-octet UDP: 60 addresses do not fit
    m_resolver.emplace(m_loop, o);
    auto r = resolve("big.test", dns::Type::A);
    ASSERT_EQ(r.status, Resolver::Status::Ok) << r.detail;
    EXPECT_EQ(r.addresses.size(), 60u);
    EXPECT_EQ(m_resolver->stats().tcpFallbacks, 1u);
}

} // namespace
} // namespace mudguard::controller
