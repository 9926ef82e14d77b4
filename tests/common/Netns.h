#pragma once
// A small fixture for tests that run real programs inside network namespaces: namespaces that
// remove themselves, veth pairs and bridges, commands run inside a namespace with `ip netns exec`,
// background processes that are always stopped, and entering a namespace from the test process
// (netlink sockets belong to the namespace they were created in).
//
// Every object cleans up in its destructor, so a failing assertion leaves nothing behind. Names
// carry the test's pid; namespaces left by a test process that died are removed by the next one.

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/types.h>

#include "TestSupport.h"

namespace mudguard::test {

/// Runs argv (no shell); throws std::runtime_error with the command's stderr when it fails.
CommandResult runChecked(const std::vector<std::string>& argv);

/// A network namespace created with `ip netns add` and deleted (with every process still inside
/// it) on destruction. The name is "mgt<pid>-<tag>", unique per test process.
class Netns {
public:
    explicit Netns(const std::string& tag);
    ~Netns();
    Netns(const Netns&) = delete;
    Netns& operator=(const Netns&) = delete;

    const std::string& name() const { return m_name; }

    /// `ip netns exec <name> argv...`, throwing on a non-zero exit.
    CommandResult exec(const std::vector<std::string>& argv) const;
    /// The same, returning the result whatever the exit code.
    CommandResult run(const std::vector<std::string>& argv) const;
    /// `ip -n <name> args...`, throwing on failure.
    void ip(const std::vector<std::string>& args) const;

    /// Brings up loopback; creates a bridge and brings it up.
    void addBridge(const std::string& bridge) const;
    /// Moves the local end of a veth into a bridge of this namespace.
    void setMaster(const std::string& ifname, const std::string& bridge) const;
    void addAddress(const std::string& ifname, const std::string& cidr) const;
    void up(const std::string& ifname) const;
    /// Turns off TX checksum offload (veth and bridges hand partially checksummed frames to raw
    /// sockets otherwise, and udhcpc drops them).
    void txChecksumOff(const std::string& ifname) const;

    /// Removes namespaces named "mgt<pid>-..." whose pid no longer runs.
    static void removeStale();

private:
    std::string m_name;
};

/// Creates a veth pair with one end in each namespace (both ends up).
void addVeth(const Netns& a, const std::string& ifA, const Netns& b, const std::string& ifB);

/// Enters a namespace for the calling thread and returns to the original one on destruction.
/// Sockets created meanwhile stay in the entered namespace.
class ScopedNetns {
public:
    explicit ScopedNetns(const Netns& ns);
    ~ScopedNetns();
    ScopedNetns(const ScopedNetns&) = delete;
    ScopedNetns& operator=(const ScopedNetns&) = delete;

private:
    int m_original = -1;
};

/// A program running in the background, optionally inside a namespace, with stdout and stderr
/// going to a log file. Stopped with SIGTERM (then SIGKILL) on destruction.
class BackgroundProcess {
public:
    BackgroundProcess(const std::vector<std::string>& argv, const std::filesystem::path& log, const Netns* ns = nullptr,
        const std::vector<std::string>& extraEnv = {});
    ~BackgroundProcess();
    BackgroundProcess(const BackgroundProcess&) = delete;
    BackgroundProcess& operator=(const BackgroundProcess&) = delete;

    pid_t pid() const { return m_pid; }
    bool running();
    /// SIGTERM, wait up to `grace`, then SIGKILL; returns the exit status (as runCommand's).
    int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
    /// The log so far (stdout and stderr).
    std::string log() const;

private:
    pid_t m_pid = -1;
    int m_status = -1;
    std::filesystem::path m_log;
};

} // namespace mudguard::test
