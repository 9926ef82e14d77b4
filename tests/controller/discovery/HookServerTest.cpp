// The hook socket with real UNIX sockets: delivery, credentials, hostile datagrams, the sender's
// behaviour when the daemon is down or its queue is full, and the program's exit status.
#include "mudguard/controller/HookServer.h"

#include <cstring>

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "TestSupport.h"

using namespace mudguard::controller;
using namespace mudguard::test;
using namespace std::chrono_literals;

namespace {

LeaseEvent sample()
{
    LeaseEvent e;
    e.action = LeaseAction::Add;
    e.address = *IpAddress::parse("192.0.2.20");
    e.mac = MacAddress::parse("02:00:5e:00:00:20");
    e.mudUrl = "https://mud.example.com/x.json";
    return e;
}

std::vector<HookMessage> drain(HookServer& s, std::size_t want)
{
    std::vector<HookMessage> all;
    waitFor(
        [&] {
            for (auto& m : s.handleReadable())
                all.push_back(std::move(m));
            return all.size() >= want;
        },
        5s);
    return all;
}

void sendRaw(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes)
{
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa {};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    ASSERT_EQ(::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa),
        static_cast<ssize_t>(bytes.size()));
    ::close(fd);
}

/// Sends from a child process running as `uid`; returns the child's error text (empty: sent).
std::string sendAs(uid_t uid, const std::filesystem::path& path)
{
    int p[2];
    if (::pipe(p) != 0)
        return "pipe";
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(p[0]);
        std::string err = ::setuid(uid) == 0 ? sendHookDatagram(path, encodeHookDatagram(sample()), 500ms) : "setuid";
        (void)!::write(p[1], err.data(), err.size());
        _exit(0);
    }
    ::close(p[1]);
    std::string out;
    char buf[256];
    for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;)
        out.append(buf, static_cast<std::size_t>(n));
    ::close(p[0]);
    ::waitpid(pid, nullptr, 0);
    return out;
}

} // namespace

TEST(HookServer, DeliversEventsWithSenderCredentials)
{
    TempDir dir;
    HookServer server({ .path = dir.path() / "run" / "hook.sock" });
    EXPECT_TRUE(std::filesystem::is_socket(server.path()));
    EXPECT_EQ(std::filesystem::status(server.path()).permissions() & std::filesystem::perms::all,
        std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(sendHookDatagram(server.path(), encodeHookDatagram(sample()), 200ms), "");
    auto got = drain(server, 3);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].event, sample());
    EXPECT_EQ(got[0].senderPid, ::getpid());
    EXPECT_EQ(got[0].senderUid, ::getuid());
    EXPECT_EQ(server.stats().received, 3u);
    EXPECT_TRUE(server.handleReadable().empty());
}

TEST(HookServer, RejectsGarbageAndKeepsServing)
{
    TempDir dir;
    HookServer server({ .path = dir.path() / "hook.sock" });
    std::vector<std::string> reasons;
    server.onRejected([&](const std::string& r) { reasons.push_back(r); });
    sendRaw(server.path(), { 'h', 'e', 'l', 'l', 'o' });
    sendRaw(server.path(), std::vector<std::uint8_t>(kMaxHookDatagram + 100, 'M'));
    EXPECT_EQ(sendHookDatagram(server.path(), encodeHookDatagram(sample()), 200ms), "");
    auto got = drain(server, 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].event, sample());
    EXPECT_EQ(server.stats().rejected, 2u);
    ASSERT_EQ(reasons.size(), 2u);
    EXPECT_NE(reasons[0].find("bad magic"), std::string::npos) << reasons[0];
    EXPECT_NE(reasons[1].find("exceeds the limit"), std::string::npos) << reasons[1];
}

TEST(HookServer, OnlyRootOrConfiguredUidsMaySend)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root to send as another uid";
    TempDir dir;
    std::filesystem::permissions(dir.path(), std::filesystem::perms::all);
    {
        HookServer server({ .path = dir.path() / "hook.sock", .mode = 0666 });
        EXPECT_EQ(sendAs(65534, server.path()), "");
        EXPECT_TRUE(waitFor([&] { return !server.handleReadable().empty() || server.stats().rejected > 0; }, 5s));
        EXPECT_EQ(server.stats().received, 0u);
        EXPECT_EQ(server.stats().rejected, 1u);
        EXPECT_NE(server.stats().lastRejection.find("uid 65534"), std::string::npos);
    }
    HookServer server({ .path = dir.path() / "hook.sock", .allowedUids = { 65534 }, .mode = 0666 });
    EXPECT_EQ(sendAs(65534, server.path()), "");
    auto got = drain(server, 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].senderUid, 65534u);
}

TEST(HookServer, ReplacesStaleSocketButNotALiveOne)
{
    TempDir dir;
    auto path = dir.path() / "hook.sock";
    {
        // A socket file whose owner is gone (as after a crash): bound, then closed without unlink.
        int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
        sockaddr_un sa {};
        sa.sun_family = AF_UNIX;
        std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
        ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        ::close(fd);
    }
    HookServer first({ .path = path });
    EXPECT_THROW(HookServer({ .path = path }), DiscoveryError);
    EXPECT_EQ(sendHookDatagram(path, encodeHookDatagram(sample()), 200ms), "");
    EXPECT_EQ(drain(first, 1).size(), 1u);
}

TEST(HookServer, RemovesItsSocketFile)
{
    TempDir dir;
    auto path = dir.path() / "hook.sock";
    {
        HookServer server({ .path = path });
    }
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_THROW(HookServer({ .path = dir.path() / std::string(200, 'x') }), DiscoveryError);
}

TEST(HookSender, ReportsDaemonDownAndFullQueueWithoutHanging)
{
    TempDir dir;
    EXPECT_NE(sendHookDatagram(dir.path() / "none.sock", encodeHookDatagram(sample()), 200ms), "");

    HookServer server({ .path = dir.path() / "hook.sock", .receiveBuffer = 4096 });
    std::string error;
    for (int i = 0; i < 100000 && error.empty(); ++i)
        error = sendHookDatagram(server.path(), encodeHookDatagram(sample()), 50ms);
    EXPECT_NE(error.find("timed out"), std::string::npos) << error;
    // Nothing was lost before the queue filled, and the server drains normally afterwards.
    EXPECT_FALSE(server.handleReadable().empty());
    EXPECT_EQ(server.stats().rejected, 0u);
}

TEST(HookProgram, AlwaysExitsZero)
{
    TempDir dir;
    auto sock = (dir.path() / "none.sock").string();
    auto prog = mudguardProgram().string();
    // Daemon down.
    auto r = runCommand({ prog, "hook", "dnsmasq", "--socket", sock, "add", "02:00:5e:00:00:20", "192.0.2.20", "h" });
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.err.find("not delivered"), std::string::npos) << r.err;
    // Malformed arguments, unknown and lease-less actions.
    for (std::vector<std::string> args :
        std::vector<std::vector<std::string>> { { "add", "02:00:5e:00:00:20", "not-an-address" }, { "add" }, { "init" },
            { "tftp", "10", "192.0.2.1", "/f" }, { "some-future-action", "-x" } }) {
        std::vector<std::string> argv { prog, "hook", "dnsmasq", "--socket", sock };
        argv.insert(argv.end(), args.begin(), args.end());
        r = runCommand(argv);
        EXPECT_EQ(r.exitCode, 0) << args[0] << ": " << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out; // "init" must print no lease database
    }
}

TEST(HookProgram, DeliversThroughSubcommandAndSymlink)
{
    TempDir dir;
    HookServer server({ .path = dir.path() / "hook.sock" });
    ::setenv("DNSMASQ_MUD_URL", "https://mud.example.com/x.json", 1);
    auto r = runCommand({ mudguardProgram().string(), "hook", "dnsmasq", "--socket", server.path().string(), "add",
        "02:00:5e:00:00:20", "192.0.2.20", "-odd-host" });
    EXPECT_EQ(r.exitCode, 0) << r.err;
    ::setenv(kHookSocketEnv, server.path().c_str(), 1);
    r = runCommand({ (binaryDir() / "mudguard-dnsmasq-hook").string(), "del", "02:00:5e:00:00:20", "192.0.2.20" });
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_TRUE(r.err.empty()) << r.err;
    ::unsetenv(kHookSocketEnv);
    ::unsetenv("DNSMASQ_MUD_URL");
    auto got = drain(server, 2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].event.action, LeaseAction::Add);
    EXPECT_EQ(got[0].event.hostname, "-odd-host");
    EXPECT_EQ(got[0].event.mudUrl, "https://mud.example.com/x.json");
    EXPECT_EQ(got[1].event.action, LeaseAction::Del);
}
