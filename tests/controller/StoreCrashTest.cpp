// Crash safety of the state database: a child process writes bindings in a loop and reports
// each commit through a pipe; it is killed with SIGKILL at a random point. The database must then
// open cleanly, pass an integrity check, and hold every binding whose commit was reported.

#include <csignal>
#include <cstdio>
#include <random>

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mudguard/controller/Store.h"

#include "TestSupport.h"

namespace mudguard::controller {
namespace {

std::string macOf(int i)
{
    return fmt::format("02:00:00:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
}
std::string urlOf(int i) { return fmt::format("https://maker{}.example/device-{}.json", i % 7, i); }

// The child: writes bindings from `first` on, forever, reporting each committed index. Every
// third index also writes a device and an audit entry in the same transaction.
[[noreturn]] void writeUntilKilled(
    const std::filesystem::path& db, int first, int reportFd, StoreOptions::Synchronous sync)
{
    try {
        StoreOptions o;
        o.synchronous = sync;
        Store s(db, o);
        for (int i = first;; ++i) {
            if (i % 3 == 0) {
                auto tx = s.transaction();
                DeviceRow d;
                d.mac = macOf(i);
                d.mudUrl = urlOf(i);
                s.putDevice(d);
                s.putBinding(macOf(i), urlOf(i), DeviceSource::Dhcp);
                s.appendAudit({ .event = "BINDING_CREATED", .mac = macOf(i), .mudUrl = urlOf(i) });
                tx.commit();
            } else {
                s.putBinding(macOf(i), urlOf(i), DeviceSource::Dhcp);
            }
            // Reported only after the commit returned: the parent may rely on it.
            if (::write(reportFd, &i, sizeof i) != sizeof i)
                _exit(3);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "child: %s\n", e.what());
        _exit(2);
    }
}

TEST(StoreCrash, KilledWriterLosesNoCommittedBinding)
{
    test::TempDir dir("mudguard-crash");
    auto db = dir.path() / "state.db";
    std::random_device rd;
    unsigned seed = rd();
    std::mt19937 rng(seed);
    SCOPED_TRACE(fmt::format("seed {}", seed));

    int next = 0; // the first index of the next round
    constexpr int kRounds = 6;
    for (int round = 0; round < kRounds; ++round) {
        int fds[2];
        ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            ::close(fds[0]);
            // Both durability settings must survive a killed process (they differ on power loss).
            writeUntilKilled(
                db, next, fds[1], round % 2 ? StoreOptions::Synchronous::Normal : StoreOptions::Synchronous::Full);
        }
        ::close(fds[1]);
        // Kill after a random number of reported commits, while the child is in the middle
        // of the next write.
        int killAfter = std::uniform_int_distribution<int>(1, 400)(rng);
        int last = next - 1, value = 0, seen = 0;
        while (seen < killAfter && ::read(fds[0], &value, sizeof value) == sizeof value) {
            last = value;
            ++seen;
        }
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
            << "the writer ended on its own (status " << status << ") after " << seen << " commits";
        // Reports already in the pipe are commits too.
        while (::read(fds[0], &value, sizeof value) == sizeof value)
            last = value;
        ::close(fds[0]);
        ASSERT_GE(last, next) << "round " << round << ": no commit was reported";

        Store s(db);
        ASSERT_EQ(s.integrityCheck(), "ok") << "round " << round;
        auto bindings = s.bindings();
        // Commits are sequential: exactly the indexes up to the last reported one, or one more
        // whose commit completed but whose report did not get out.
        ASSERT_GE(bindings.size(), static_cast<std::size_t>(last + 1)) << "round " << round;
        ASSERT_LE(bindings.size(), static_cast<std::size_t>(last + 2)) << "round " << round;
        for (int i = 0; i <= last; ++i) {
            auto b = s.binding(macOf(i));
            ASSERT_TRUE(b) << "round " << round << ": committed binding " << i << " is lost";
            ASSERT_EQ(b->mudUrl, urlOf(i));
        }
        // Transactions were all or nothing: every device has its binding and its audit entry.
        auto devices = s.devices();
        auto audit = s.audit({ .limit = kMaxAuditPage });
        std::size_t audits = audit.entries.size();
        while (audit.more) {
            audit = s.audit({ .since = audit.next, .limit = kMaxAuditPage });
            audits += audit.entries.size();
        }
        EXPECT_EQ(devices.size(), audits);
        for (const auto& d : devices)
            ASSERT_TRUE(s.binding(d.mac)) << d.mac;
        next = static_cast<int>(bindings.size());
    }
}

} // namespace
} // namespace mudguard::controller
