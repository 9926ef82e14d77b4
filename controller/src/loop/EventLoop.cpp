#include "mudguard/controller/EventLoop.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "mudguard/controller/Error.h"
#include "mudguard/controller/Fd.h"
#include "mudguard/controller/Log.h"

namespace mudguard::controller {
namespace {

// epoll_data ids of the loop's own descriptors; registrations count up from 1.
constexpr std::uint64_t kTimerFdId = ~std::uint64_t { 0 };
constexpr std::uint64_t kTaskFdId = ~std::uint64_t { 0 } - 1;

[[noreturn]] void throwErrno(std::string_view what) { throw Error(fmt::format("{}: {}", what, std::strerror(errno))); }

UniqueFd checkedFd(int fd, std::string_view what)
{
    if (fd < 0)
        throwErrno(what);
    return UniqueFd(fd);
}

void defaultErrorHandler(std::string_view where, std::exception_ptr error)
{
    std::string reason = "unknown exception";
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        reason = e.what();
    } catch (...) {
    }
    log::write(log::Category::Controller, log::Level::Error, log::Event::InternalError,
        "exception escaped an event callback", { { "where", where }, { "reason", reason } });
}

int toEpollTimeout(std::optional<EventLoop::Clock::duration> timeout)
{
    if (!timeout)
        return -1;
    if (*timeout <= EventLoop::Clock::duration::zero())
        return 0;
    // Round up, so that a timeout shorter than 1 ms does not spin.
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(*timeout).count();
    return ms > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(ms);
}

} // namespace

struct EventLoop::Impl {
    struct Watch {
        int fd = -1;
        std::string name;
        std::shared_ptr<FdCallback> onReady;
        UniqueFd signalFd; // owned, for onSignals
        std::shared_ptr<SignalCallback> onSignal;
    };
    struct Timer {
        Clock::time_point due;
        Clock::duration period {}; // zero: one-shot
        std::string name;
        std::shared_ptr<Callback> cb;
    };

    UniqueFd epollFd, timerFd, taskFd;
    std::uint64_t nextId = 1;
    std::unordered_map<std::uint64_t, Watch> watches;
    std::unordered_map<std::uint64_t, Timer> timers;
    std::set<std::pair<Clock::time_point, std::uint64_t>> timerQueue;
    Clock::time_point armedFor = Clock::time_point::max();

    std::mutex taskMutex;
    std::vector<Callback> tasks;
    std::atomic<bool> stopRequested { false };
    ErrorHandler errorHandler = defaultErrorHandler;

    // Runs a callback; nothing escapes.
    template <typename F> void guarded(std::string_view where, F&& f) noexcept
    {
        try {
            f();
        } catch (...) {
            try {
                errorHandler(where, std::current_exception());
            } catch (...) {
            }
        }
    }

    void addToEpoll(int fd, std::uint32_t events, std::uint64_t id)
    {
        epoll_event ev {};
        ev.events = events;
        ev.data.u64 = id;
        if (epoll_ctl(epollFd.get(), EPOLL_CTL_ADD, fd, &ev) < 0)
            throwErrno("epoll_ctl(ADD)");
    }

    void cancel(std::uint64_t id) noexcept
    {
        if (auto w = watches.find(id); w != watches.end()) {
            // The fd may already be closed by its owner; epoll then forgot it by itself.
            epoll_ctl(epollFd.get(), EPOLL_CTL_DEL, w->second.fd, nullptr);
            watches.erase(w);
            return;
        }
        if (auto t = timers.find(id); t != timers.end()) {
            timerQueue.erase({ t->second.due, id });
            timers.erase(t);
            // The timerfd may fire for nothing now; fireTimers() then re-arms it.
        }
    }

    void arm(Clock::time_point due)
    {
        itimerspec spec {};
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(due.time_since_epoch()).count();
        if (ns <= 0)
            ns = 1; // zero would disarm; any past time fires at once
        spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
        spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
        // steady_clock is CLOCK_MONOTONIC, the clock the timerfd was created with.
        if (timerfd_settime(timerFd.get(), TFD_TIMER_ABSTIME, &spec, nullptr) < 0)
            throwErrno("timerfd_settime");
        armedFor = due;
    }

    void rearm()
    {
        if (timerQueue.empty()) {
            itimerspec off {};
            timerfd_settime(timerFd.get(), 0, &off, nullptr);
            armedFor = Clock::time_point::max();
            return;
        }
        arm(timerQueue.begin()->first);
    }

    std::uint64_t addTimer(Clock::duration delay, Clock::duration period, Callback cb, std::string name)
    {
        auto id = nextId++;
        auto due = Clock::now() + delay;
        timers.emplace(id, Timer { due, period, std::move(name), std::make_shared<Callback>(std::move(cb)) });
        timerQueue.emplace(due, id);
        if (due < armedFor)
            arm(due);
        return id;
    }

    std::size_t fireTimers()
    {
        std::uint64_t expirations = 0;
        while (read(timerFd.get(), &expirations, sizeof expirations) > 0) { }
        auto now = Clock::now();
        // Take the due set first: timers added by the callbacks wait for the next round.
        std::vector<std::uint64_t> due;
        for (auto it = timerQueue.begin(); it != timerQueue.end() && it->first <= now; ++it)
            due.push_back(it->second);
        std::size_t ran = 0;
        for (auto id : due) {
            auto t = timers.find(id);
            if (t == timers.end())
                continue; // cancelled by an earlier callback
            auto cb = t->second.cb;
            std::string name = t->second.name;
            timerQueue.erase({ t->second.due, id });
            if (t->second.period > Clock::duration::zero()) {
                auto next = t->second.due + t->second.period;
                if (next <= now)
                    next = now + t->second.period;
                t->second.due = next;
                timerQueue.emplace(next, id);
            } else {
                timers.erase(t);
            }
            guarded(name, [&] { (*cb)(); });
            ++ran;
        }
        rearm();
        return ran;
    }

    std::size_t runTasks()
    {
        std::uint64_t count = 0;
        while (read(taskFd.get(), &count, sizeof count) > 0) { }
        std::vector<Callback> batch;
        {
            std::lock_guard lock(taskMutex);
            batch.swap(tasks);
        }
        for (auto& task : batch)
            guarded("task", task);
        return batch.size();
    }

    bool post(Callback task)
    {
        {
            std::lock_guard lock(taskMutex);
            tasks.push_back(std::move(task));
        }
        std::uint64_t one = 1;
        // EAGAIN means the counter is already huge: the loop is woken anyway.
        return write(taskFd.get(), &one, sizeof one) == sizeof one || errno == EAGAIN;
    }
};

EventLoop::Handle& EventLoop::Handle::operator=(Handle&& o) noexcept
{
    if (this != &o) {
        reset();
        m_loop = std::move(o.m_loop);
        m_id = std::exchange(o.m_id, 0);
    }
    return *this;
}

EventLoop::Handle::~Handle() { reset(); }

void EventLoop::Handle::reset() noexcept
{
    if (m_id == 0)
        return;
    if (auto loop = m_loop.lock())
        loop->cancel(m_id);
    m_id = 0;
    m_loop.reset();
}

EventLoop::EventLoop()
    : m_impl(std::make_shared<Impl>())
{
    m_impl->epollFd = checkedFd(epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
    m_impl->timerFd = checkedFd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC), "timerfd_create");
    m_impl->taskFd = checkedFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd");
    m_impl->addToEpoll(m_impl->timerFd.get(), EPOLLIN, kTimerFdId);
    m_impl->addToEpoll(m_impl->taskFd.get(), EPOLLIN, kTaskFdId);
}

EventLoop::~EventLoop() = default;

EventLoop::Handle EventLoop::watchFd(int fd, std::uint32_t events, FdCallback cb, std::string name)
{
    auto id = m_impl->nextId++;
    m_impl->addToEpoll(fd, events, id);
    Impl::Watch w;
    w.fd = fd;
    w.name = std::move(name);
    w.onReady = std::make_shared<FdCallback>(std::move(cb));
    m_impl->watches.emplace(id, std::move(w));
    return Handle(m_impl, id);
}

void EventLoop::modifyFd(const Handle& watch, std::uint32_t events)
{
    auto w = m_impl->watches.find(watch.m_id);
    if (w == m_impl->watches.end() || w->second.onSignal)
        throw std::logic_error("modifyFd: not a live fd watch of this loop");
    epoll_event ev {};
    ev.events = events;
    ev.data.u64 = watch.m_id;
    if (epoll_ctl(m_impl->epollFd.get(), EPOLL_CTL_MOD, w->second.fd, &ev) < 0)
        throwErrno("epoll_ctl(MOD)");
}

EventLoop::Handle EventLoop::addTimer(Clock::duration delay, Callback cb, std::string name)
{
    return Handle(m_impl, m_impl->addTimer(delay, Clock::duration::zero(), std::move(cb), std::move(name)));
}

EventLoop::Handle EventLoop::addPeriodic(Clock::duration period, Callback cb, std::string name)
{
    if (period <= Clock::duration::zero())
        throw std::invalid_argument("addPeriodic: the period must be positive");
    return Handle(m_impl, m_impl->addTimer(period, period, std::move(cb), std::move(name)));
}

EventLoop::Handle EventLoop::onSignals(std::initializer_list<int> signals, SignalCallback cb)
{
    sigset_t set;
    sigemptyset(&set);
    std::string name = "signals";
    for (int s : signals) {
        if (sigaddset(&set, s) < 0)
            throwErrno(fmt::format("sigaddset({})", s));
        name += fmt::format(" {}", sigabbrev_np(s) ? sigabbrev_np(s) : "?");
    }
    if (int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
        errno = rc;
        throwErrno("pthread_sigmask");
    }
    auto id = m_impl->nextId++;
    Impl::Watch w;
    w.signalFd = checkedFd(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC), "signalfd");
    w.fd = w.signalFd.get();
    w.name = std::move(name);
    w.onSignal = std::make_shared<SignalCallback>(std::move(cb));
    m_impl->addToEpoll(w.fd, EPOLLIN, id);
    m_impl->watches.emplace(id, std::move(w));
    return Handle(m_impl, id);
}

void EventLoop::post(Callback task) { m_impl->post(std::move(task)); }

EventLoop::Poster EventLoop::poster()
{
    return [weak = std::weak_ptr<Impl>(m_impl)](Callback task) {
        auto impl = weak.lock();
        return impl && impl->post(std::move(task));
    };
}

std::size_t EventLoop::runOnce(std::optional<Clock::duration> timeout)
{
    epoll_event events[64];
    int n = epoll_wait(m_impl->epollFd.get(), events, 64, toEpollTimeout(timeout));
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        throwErrno("epoll_wait");
    }
    std::size_t ran = 0;
    for (int i = 0; i < n; ++i) {
        auto id = events[i].data.u64;
        if (id == kTimerFdId) {
            ran += m_impl->fireTimers();
            continue;
        }
        if (id == kTaskFdId) {
            ran += m_impl->runTasks();
            continue;
        }
        // Looked up per event: an earlier callback of this batch may have cancelled it.
        auto w = m_impl->watches.find(id);
        if (w == m_impl->watches.end())
            continue;
        if (w->second.onSignal) {
            auto cb = w->second.onSignal;
            std::string name = w->second.name;
            signalfd_siginfo info;
            while (true) {
                auto again = m_impl->watches.find(id);
                if (again == m_impl->watches.end()
                    || read(again->second.fd, &info, sizeof info) != static_cast<ssize_t>(sizeof info))
                    break;
                m_impl->guarded(name, [&] { (*cb)(static_cast<int>(info.ssi_signo)); });
                ++ran;
            }
            continue;
        }
        auto cb = w->second.onReady;
        m_impl->guarded(w->second.name, [&] { (*cb)(events[i].events); });
        ++ran;
    }
    return ran;
}

void EventLoop::run()
{
    // A stop() that came before run() counts: run() then returns at once.
    while (!m_impl->stopRequested.load())
        runOnce();
    m_impl->stopRequested.store(false);
}

bool EventLoop::runUntil(const std::function<bool()>& done, Clock::duration timeout)
{
    auto deadline = Clock::now() + timeout;
    while (!done()) {
        auto left = deadline - Clock::now();
        if (left <= Clock::duration::zero())
            return done();
        runOnce(left);
    }
    return true;
}

void EventLoop::stop() noexcept
{
    m_impl->stopRequested.store(true);
    std::uint64_t one = 1;
    (void)!write(m_impl->taskFd.get(), &one, sizeof one);
}

void EventLoop::setErrorHandler(ErrorHandler handler)
{
    m_impl->errorHandler = handler ? std::move(handler) : ErrorHandler(defaultErrorHandler);
}

std::size_t EventLoop::watchCount() const noexcept { return m_impl->watches.size(); }
std::size_t EventLoop::timerCount() const noexcept { return m_impl->timers.size(); }

} // namespace mudguard::controller
