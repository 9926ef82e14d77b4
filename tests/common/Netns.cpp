#include "Netns.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

namespace mudguard::test {
namespace {

std::string joined(const std::vector<std::string>& argv)
{
    std::string s;
    for (const auto& a : argv)
        s += (s.empty() ? "" : " ") + a;
    return s;
}

std::vector<pid_t> pidsIn(const std::string& ns)
{
    std::vector<pid_t> pids;
    auto r = runCommand({ "ip", "netns", "pids", ns });
    std::istringstream in(r.out);
    for (long p; in >> p;)
        pids.push_back(static_cast<pid_t>(p));
    return pids;
}

void deleteNamespace(const std::string& ns)
{
    // Processes inside keep the namespace alive (and their sockets bound): stop them first.
    for (int round = 0; round < 2; ++round) {
        auto pids = pidsIn(ns);
        if (pids.empty())
            break;
        for (auto p : pids)
            ::kill(p, round == 0 ? SIGTERM : SIGKILL);
        waitFor([&] { return pidsIn(ns).empty(); }, std::chrono::milliseconds(2000), std::chrono::milliseconds(20));
    }
    runCommand({ "ip", "netns", "delete", ns });
}

} // namespace

CommandResult runChecked(const std::vector<std::string>& argv)
{
    auto r = runCommand(argv);
    if (r.exitCode != 0)
        throw std::runtime_error("command failed (" + std::to_string(r.exitCode) + "): " + joined(argv) + ": " + r.err);
    return r;
}

Netns::Netns(const std::string& tag)
{
    static std::atomic<int> counter { 0 };
    static bool swept = false;
    if (!swept) {
        swept = true;
        removeStale();
    }
    m_name = "mgt" + std::to_string(::getpid()) + "-" + tag + std::to_string(counter++);
    runChecked({ "ip", "netns", "add", m_name });
    ip({ "link", "set", "lo", "up" });
}

Netns::~Netns() { deleteNamespace(m_name); }

CommandResult Netns::run(const std::vector<std::string>& argv) const
{
    std::vector<std::string> full { "ip", "netns", "exec", m_name };
    full.insert(full.end(), argv.begin(), argv.end());
    return runCommand(full);
}

CommandResult Netns::exec(const std::vector<std::string>& argv) const
{
    auto r = run(argv);
    if (r.exitCode != 0)
        throw std::runtime_error(
            "in " + m_name + ": command failed (" + std::to_string(r.exitCode) + "): " + joined(argv) + ": " + r.err);
    return r;
}

void Netns::ip(const std::vector<std::string>& args) const
{
    std::vector<std::string> full { "ip", "-n", m_name };
    full.insert(full.end(), args.begin(), args.end());
    runChecked(full);
}

void Netns::addBridge(const std::string& bridge) const
{
    ip({ "link", "add", bridge, "type", "bridge" });
    up(bridge);
}

void Netns::setMaster(const std::string& ifname, const std::string& bridge) const
{
    ip({ "link", "set", ifname, "master", bridge });
}

void Netns::addAddress(const std::string& ifname, const std::string& cidr) const
{
    ip({ "addr", "add", cidr, "dev", ifname });
}

void Netns::up(const std::string& ifname) const { ip({ "link", "set", ifname, "up" }); }

void Netns::txChecksumOff(const std::string& ifname) const { exec({ "ethtool", "-K", ifname, "tx", "off" }); }

void Netns::removeStale()
{
    auto r = runCommand({ "ip", "netns", "list" });
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
        auto name = line.substr(0, line.find(' '));
        if (name.rfind("mgt", 0) != 0)
            continue;
        auto dash = name.find('-');
        if (dash == std::string::npos)
            continue;
        long pid = 0;
        try {
            pid = std::stol(name.substr(3, dash - 3));
        } catch (const std::exception&) {
            continue;
        }
        if (pid > 0 && pid != ::getpid() && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
            deleteNamespace(name);
    }
}

void addVeth(const Netns& a, const std::string& ifA, const Netns& b, const std::string& ifB)
{
    runChecked({ "ip", "link", "add", ifA, "netns", a.name(), "type", "veth", "peer", "name", ifB, "netns", b.name() });
    a.up(ifA);
    b.up(ifB);
}

ScopedNetns::ScopedNetns(const Netns& ns)
{
    m_original = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (m_original < 0)
        throw std::runtime_error("cannot open the current network namespace");
    int target = ::open(("/run/netns/" + ns.name()).c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0 || ::setns(target, CLONE_NEWNET) != 0) {
        int err = errno;
        if (target >= 0)
            ::close(target);
        ::close(m_original);
        throw std::runtime_error("cannot enter namespace " + ns.name() + ": " + std::strerror(err));
    }
    ::close(target);
}

ScopedNetns::~ScopedNetns()
{
    ::setns(m_original, CLONE_NEWNET);
    ::close(m_original);
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv, const std::filesystem::path& log,
    const Netns* ns, const std::vector<std::string>& extraEnv)
    : m_log(log)
{
    std::vector<std::string> full;
    if (ns)
        full = { "ip", "netns", "exec", ns->name() };
    full.insert(full.end(), argv.begin(), argv.end());
    int logFd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logFd < 0)
        throw std::runtime_error("cannot open " + log.string());
    m_pid = ::fork();
    if (m_pid < 0) {
        ::close(logFd);
        throw std::runtime_error("fork failed");
    }
    if (m_pid == 0) {
        // Own process group, so that stop() reaches grandchildren too.
        ::setpgid(0, 0);
        int devNull = ::open("/dev/null", O_RDONLY);
        ::dup2(devNull, 0);
        ::dup2(logFd, 1);
        ::dup2(logFd, 2);
        for (const auto& e : extraEnv)
            ::putenv(const_cast<char*>(e.c_str()));
        std::vector<char*> args;
        for (const auto& a : full)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        _exit(127);
    }
    ::setpgid(m_pid, m_pid);
    ::close(logFd);
}

BackgroundProcess::~BackgroundProcess() { stop(); }

bool BackgroundProcess::running()
{
    if (m_pid <= 0)
        return false;
    int status = 0;
    pid_t r = ::waitpid(m_pid, &status, WNOHANG);
    if (r == m_pid) {
        m_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        m_pid = -1;
        return false;
    }
    return r == 0;
}

int BackgroundProcess::stop(std::chrono::milliseconds grace)
{
    if (!running())
        return m_status;
    ::kill(-m_pid, SIGTERM);
    if (!waitFor([&] { return !running(); }, grace, std::chrono::milliseconds(10))) {
        ::kill(-m_pid, SIGKILL);
        int status = 0;
        ::waitpid(m_pid, &status, 0);
        m_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        m_pid = -1;
    }
    return m_status;
}

std::string BackgroundProcess::log() const
{
    try {
        return readFile(m_log);
    } catch (const std::exception&) {
        return {};
    }
}

} // namespace mudguard::test
