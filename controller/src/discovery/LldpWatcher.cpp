#include "mudguard/controller/LldpWatcher.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mudguard/Config.h"

#include "discovery/Fd.h"

namespace mudguard::controller {

using discovery::systemError;
using discovery::UniqueFd;

namespace {

constexpr std::size_t kStderrTail = 4096;
constexpr std::size_t kReadBudget = 1 << 20; // bytes per handleReadable() and child

enum Tag : std::uint64_t { WatchOut = 1, WatchErr, WatchPid, ShowOut, ShowErr, ShowPid, SnapshotTimer };

int pidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

/// A child process with its stdout and stderr pipes.
struct Child {
    pid_t pid = -1;
    UniqueFd out, err, pidfd;
    std::string errTail;

    bool alive() const { return pid > 0; }
};

Child spawn(const std::vector<std::string>& argv)
{
    int outPipe[2], errPipe[2];
    if (::pipe2(outPipe, O_CLOEXEC) != 0)
        throw DiscoveryError(systemError("pipe"));
    UniqueFd outRead(outPipe[0]), outWrite(outPipe[1]);
    if (::pipe2(errPipe, O_CLOEXEC) != 0)
        throw DiscoveryError(systemError("pipe"));
    UniqueFd errRead(errPipe[0]), errWrite(errPipe[1]);

    // Everything the child needs is prepared before fork(): after it, only async-signal-safe calls.
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    static char kPath[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    static char kLang[] = "LC_ALL=C";
    char* env[] = { kPath, kLang, nullptr };
    pid_t parent = ::getpid();

    pid_t pid = ::fork();
    if (pid < 0)
        throw DiscoveryError(systemError("fork"));
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent)
            _exit(127);
        int devNull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devNull < 0 || ::dup2(devNull, 0) < 0 || ::dup2(outWrite.get(), 1) < 0 || ::dup2(errWrite.get(), 2) < 0)
            _exit(127);
        ::close_range(3, ~0u, 0);
        ::execve(args[0], args.data(), env);
        _exit(127);
    }
    Child c;
    c.pid = pid;
    c.out = std::move(outRead);
    c.err = std::move(errRead);
    ::fcntl(c.out.get(), F_SETFL, O_NONBLOCK);
    ::fcntl(c.err.get(), F_SETFL, O_NONBLOCK);
    c.pidfd.reset(pidfdOpen(pid));
    if (!c.pidfd) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        throw DiscoveryError(systemError("pidfd_open"));
    }
    return c;
}

/// Stops and reaps a child: SIGTERM, up to one second, then SIGKILL.
void terminate(Child& c)
{
    if (!c.alive())
        return;
    ::kill(c.pid, SIGTERM);
    pollfd p { c.pidfd.get(), POLLIN, 0 };
    if (::poll(&p, 1, 1000) <= 0)
        ::kill(c.pid, SIGKILL);
    ::waitpid(c.pid, nullptr, 0);
    c = Child();
}

std::string describeStatus(int status)
{
    if (status == -1)
        return "an unknown status";
    if (WIFEXITED(status))
        return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return std::string("signal ") + ::strsignal(WTERMSIG(status));
    return "status " + std::to_string(status);
}

/// Cuts a stream of concatenated JSON objects into documents (lldpcli watch prints one object
/// per event, pretty-printed). Text between objects is skipped; an oversized object is skipped
/// whole while its nesting is still followed, so the stream stays in step.
class Splitter {
public:
    explicit Splitter(std::size_t max)
        : m_max(max)
    {
    }

    template <typename F> void feed(std::string_view data, F&& onDocument, std::uint64_t& oversized)
    {
        for (char c : data) {
            if (m_depth == 0) {
                if (c != '{')
                    continue;
                m_buf.clear();
                m_oversize = false;
                m_inString = m_escape = false;
            }
            if (!m_oversize) {
                if (m_buf.size() >= m_max) {
                    m_oversize = true;
                    ++oversized;
                    m_buf.clear();
                    m_buf.shrink_to_fit();
                } else {
                    m_buf += c;
                }
            }
            if (m_inString) {
                if (m_escape)
                    m_escape = false;
                else if (c == '\\')
                    m_escape = true;
                else if (c == '"')
                    m_inString = false;
                continue;
            }
            if (c == '"')
                m_inString = true;
            else if (c == '{' || c == '[')
                ++m_depth;
            else if ((c == '}' || c == ']') && --m_depth == 0 && !m_oversize)
                onDocument(std::string_view(m_buf));
        }
    }

private:
    std::size_t m_max;
    std::string m_buf;
    std::size_t m_depth = 0;
    bool m_inString = false, m_escape = false, m_oversize = false;
};

} // namespace

struct LldpWatcher::Impl {
    LldpWatcherOptions options;
    UniqueFd epoll;
    UniqueFd timer;
    Child watch, show;
    std::string showOutput;
    bool showOversize = false;
    Splitter splitter { 1 << 20 };
    LldpWatcherStats stats;
    std::vector<LldpEvent> out;

    std::vector<std::string> argv(std::initializer_list<const char*> command) const
    {
        std::vector<std::string> a { options.lldpcli };
        if (!options.socket.empty())
            a.insert(a.end(), { "-u", options.socket });
        a.insert(a.end(), { "-f", "json0" });
        for (const char* c : command)
            a.emplace_back(c);
        return a;
    }

    void watchFd(int fd, Tag tag)
    {
        epoll_event ev {};
        ev.events = EPOLLIN;
        ev.data.u64 = tag;
        if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
            throw DiscoveryError(systemError("epoll_ctl"));
    }

    void start()
    {
        splitter = Splitter(options.maxDocument);
        // The watch first, then the snapshot. lldpcli subscribes asynchronously, so a change
        // can still fall between the snapshot and the subscription: a second snapshot after
        // `settleDelay` closes that gap, and later ones (refreshInterval) repair anything missed.
        watch = spawn(argv({ "watch" }));
        watchFd(watch.out.get(), WatchOut);
        watchFd(watch.err.get(), WatchErr);
        watchFd(watch.pidfd.get(), WatchPid);
        startShow();
        arm(options.settleDelay);
    }

    void startShow()
    {
        if (show.alive())
            return;
        showOutput.clear();
        showOversize = false;
        show = spawn(argv({ "show", "neighbors", "details" }));
        watchFd(show.out.get(), ShowOut);
        watchFd(show.err.get(), ShowErr);
        watchFd(show.pidfd.get(), ShowPid);
    }

    void arm(std::chrono::milliseconds after)
    {
        itimerspec spec {};
        if (after.count() > 0) {
            spec.it_value.tv_sec = static_cast<time_t>(after.count() / 1000);
            spec.it_value.tv_nsec = static_cast<long>(after.count() % 1000) * 1000000L;
        }
        ::timerfd_settime(timer.get(), 0, &spec, nullptr);
    }

    void timerExpired()
    {
        std::uint64_t expirations = 0;
        if (::read(timer.get(), &expirations, sizeof expirations) != sizeof expirations)
            return;
        if (watch.alive())
            startShow();
        arm(std::chrono::duration_cast<std::chrono::milliseconds>(options.refreshInterval));
    }

    void stopAll()
    {
        arm(std::chrono::milliseconds(0));
        for (Child* c : { &watch, &show }) {
            for (int fd : { c->out.get(), c->err.get(), c->pidfd.get() })
                if (fd >= 0)
                    ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
            terminate(*c);
        }
    }

    void reject(std::string reason)
    {
        ++stats.rejected;
        stats.lastRejection = std::move(reason);
    }

    void document(std::string_view text)
    {
        try {
            auto events = parseLldpJson(text);
            ++stats.documents;
            for (auto& e : events)
                if (options.interfaces.empty()
                    || std::find(options.interfaces.begin(), options.interfaces.end(), e.neighbour.interface)
                        != options.interfaces.end())
                    out.push_back(std::move(e));
        } catch (const DiscoveryError& e) {
            reject(e.what());
        }
    }

    /// Reads what a pipe has (bounded); returns false at end of file.
    template <typename F> bool drain(UniqueFd& fd, F&& consume)
    {
        char buf[65536];
        std::size_t total = 0;
        while (fd && total < kReadBudget) {
            ssize_t n = ::read(fd.get(), buf, sizeof buf);
            if (n > 0) {
                total += static_cast<std::size_t>(n);
                consume(std::string_view(buf, static_cast<std::size_t>(n)));
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return true;
            ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd.get(), nullptr);
            fd.reset();
            return false;
        }
        return true;
    }

    void readWatchOut()
    {
        drain(watch.out, [&](std::string_view d) {
            std::uint64_t oversized = 0;
            splitter.feed(
                d, [&](std::string_view doc) { document(doc); }, oversized);
            if (oversized)
                reject("lldpcli watch document over " + std::to_string(options.maxDocument) + " bytes skipped");
        });
    }

    static void keepTail(Child& c, std::string_view d)
    {
        c.errTail.append(d);
        if (c.errTail.size() > kStderrTail)
            c.errTail.erase(0, c.errTail.size() - kStderrTail);
    }

    void readShowOut()
    {
        bool open = drain(show.out, [&](std::string_view d) {
            if (showOutput.size() + d.size() > options.maxDocument)
                showOversize = true;
            else if (!showOversize)
                showOutput.append(d);
        });
        if (!open) {
            if (showOversize)
                reject("lldpcli show output over " + std::to_string(options.maxDocument) + " bytes");
            else if (!showOutput.empty())
                document(showOutput);
            showOutput.clear();
        }
    }

    /// The child ended: read what it left, reap it.
    void reap(Child& c, bool isWatch)
    {
        int status = 0;
        pid_t r = ::waitpid(c.pid, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno != ECHILD))
            return; // not ended yet (or interrupted): the pidfd stays readable
        if (r < 0)
            status = -1; // already reaped elsewhere (SIGCHLD ignored): the status is unknown
        if (isWatch) {
            readWatchOut();
            drain(c.err, [&](std::string_view d) { keepTail(c, d); });
        } else {
            readShowOut();
            drain(c.err, [&](std::string_view d) { keepTail(c, d); });
        }
        for (int fd : { c.out.get(), c.err.get(), c.pidfd.get() })
            if (fd >= 0)
                ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
        std::string tail = c.errTail;
        while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r'))
            tail.pop_back();
        if (auto nl = tail.rfind('\n'); nl != std::string::npos)
            tail = tail.substr(nl + 1);
        c = Child();
        if (isWatch) {
            LldpEvent e;
            e.kind = LldpEvent::Kind::Stopped;
            e.detail = "lldpcli watch ended with " + describeStatus(status) + (tail.empty() ? "" : ": " + tail);
            out.push_back(std::move(e));
        }
    }
};

LldpWatcher::LldpWatcher(LldpWatcherOptions options)
    : m_impl(std::make_unique<Impl>())
{
    auto& d = *m_impl;
    d.options = std::move(options);
    if (d.options.lldpcli.empty())
        d.options.lldpcli = *config::kLldpcliProgram ? config::kLldpcliProgram : "/usr/sbin/lldpcli";
    if (d.options.lldpcli.front() != '/')
        throw DiscoveryError("lldpcli path must be absolute: " + d.options.lldpcli);
    if (::access(d.options.lldpcli.c_str(), X_OK) != 0)
        throw DiscoveryError(systemError("lldpcli program " + d.options.lldpcli));
    d.epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!d.epoll)
        throw DiscoveryError(systemError("epoll_create1"));
    d.timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!d.timer)
        throw DiscoveryError(systemError("timerfd_create"));
    d.watchFd(d.timer.get(), SnapshotTimer);
    d.start();
}

LldpWatcher::~LldpWatcher() { m_impl->stopAll(); }

int LldpWatcher::fd() const { return m_impl->epoll.get(); }

bool LldpWatcher::running() const { return m_impl->watch.alive(); }

void LldpWatcher::restart()
{
    m_impl->stopAll();
    m_impl->start();
}

const LldpWatcherStats& LldpWatcher::stats() const { return m_impl->stats; }

std::vector<LldpEvent> LldpWatcher::handleReadable()
{
    auto& d = *m_impl;
    epoll_event events[8];
    int n = ::epoll_wait(d.epoll.get(), events, 8, 0);
    for (int i = 0; i < n; ++i) {
        switch (events[i].data.u64) {
        case WatchOut:
            d.readWatchOut();
            break;
        case WatchErr:
            d.drain(d.watch.err, [&](std::string_view s) { Impl::keepTail(d.watch, s); });
            break;
        case WatchPid:
            if (d.watch.alive())
                d.reap(d.watch, true);
            break;
        case ShowOut:
            d.readShowOut();
            break;
        case ShowErr:
            d.drain(d.show.err, [&](std::string_view s) { Impl::keepTail(d.show, s); });
            break;
        case ShowPid:
            if (d.show.alive())
                d.reap(d.show, false);
            break;
        case SnapshotTimer:
            d.timerExpired();
            break;
        }
    }
    return std::exchange(d.out, {});
}

} // namespace mudguard::controller
