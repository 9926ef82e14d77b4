#pragma once
// A small single-threaded event loop: epoll for file descriptors, one timerfd for every timer,
// signalfd for signals, and an eventfd through which other threads hand work to the loop.
//
//   EventLoop loop;
//   auto sig = loop.onSignals({SIGTERM, SIGINT}, [&](int) { loop.stop(); });
//   auto sock = loop.watchFd(fd, EPOLLIN, [&](std::uint32_t) { readSocket(); }, "hook socket");
//   auto tick = loop.addPeriodic(30s, [&] { refreshNames(); }, "dns refresh");
//   loop.run();
//
// Everything but post(), poster() and stop() must be called from the loop's thread. Callbacks
// run on that thread; an exception escaping one is caught, handed to the error handler (by
// default an INTERNAL_ERROR log line), and the loop goes on. A registration lives as long as its
// Handle; a Handle may outlive the loop (it then does nothing).

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mudguard::controller {

class EventLoop {
public:
    using Clock = std::chrono::steady_clock;
    using FdCallback = std::function<void(std::uint32_t events)>;
    using Callback = std::function<void()>;
    using SignalCallback = std::function<void(int signo)>;
    /// `where` names the registration (or "task").
    using ErrorHandler = std::function<void(std::string_view where, std::exception_ptr error)>;
    /// Thread-safe: queues a task on the loop; false once the loop is gone.
    using Poster = std::function<bool(Callback task)>;

    struct Impl;

    /// Owns one registration (fd watch, timer or signal set) and cancels it when destroyed.
    class Handle {
    public:
        Handle() noexcept = default;
        Handle(Handle&&) noexcept = default;
        Handle& operator=(Handle&& o) noexcept;
        Handle(const Handle&) = delete;
        Handle& operator=(const Handle&) = delete;
        ~Handle();
        /// Cancels now; safe to call from inside the registration's own callback.
        void reset() noexcept;
        explicit operator bool() const noexcept { return m_id != 0; }

    private:
        friend class EventLoop;
        Handle(std::weak_ptr<Impl> loop, std::uint64_t id) noexcept
            : m_loop(std::move(loop))
            , m_id(id)
        {
        }
        std::weak_ptr<Impl> m_loop;
        std::uint64_t m_id = 0;
    };

    /// Creates the epoll instance, the timerfd and the eventfd. Throws controller::Error.
    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    /// Watches `fd` (not owned) for `events` (EPOLLIN, EPOLLOUT, ...; level-triggered). The
    /// callback receives the ready events, including EPOLLERR/EPOLLHUP.
    [[nodiscard]] Handle watchFd(int fd, std::uint32_t events, FdCallback cb, std::string name = "fd");
    /// Changes the events of a watch made by watchFd.
    void modifyFd(const Handle& watch, std::uint32_t events);

    /// Runs `cb` once after `delay`.
    [[nodiscard]] Handle addTimer(Clock::duration delay, Callback cb, std::string name = "timer");
    /// Runs `cb` every `period` (> 0). Missed periods are not made up.
    [[nodiscard]] Handle addPeriodic(Clock::duration period, Callback cb, std::string name = "timer");

    /// Blocks `signals` in the calling thread (so create worker threads afterwards: they inherit
    /// the mask) and delivers them through a signalfd. The signals stay blocked after the Handle
    /// is gone, so that a late SIGTERM cannot kill the process half-way through shutdown.
    [[nodiscard]] Handle onSignals(std::initializer_list<int> signals, SignalCallback cb);

    /// Thread-safe: queues `task` to run on the loop thread, in order.
    void post(Callback task);
    /// Thread-safe, and safe to keep after the loop is gone (it then returns false).
    Poster poster();

    /// Dispatches events until stop().
    void run();
    /// Waits at most `timeout` (forever when empty) for events and dispatches them. Returns the
    /// number of callbacks and tasks run.
    std::size_t runOnce(std::optional<Clock::duration> timeout = std::nullopt);
    /// Dispatches until `done()` holds (checked after each batch) or `timeout` passes; returns
    /// done(). For shutdown drains and tests.
    bool runUntil(const std::function<bool()>& done, Clock::duration timeout);
    /// Thread-safe: makes run() return after the current batch.
    void stop() noexcept;

    void setErrorHandler(ErrorHandler handler);

    /// Numbers of live registrations, for tests and metrics.
    std::size_t watchCount() const noexcept;
    std::size_t timerCount() const noexcept;

private:
    std::shared_ptr<Impl> m_impl;
};

} // namespace mudguard::controller
