#include "mudguard/controller/EventLoop.h"

#include <atomic>
#include <csignal>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "mudguard/controller/Error.h"
#include "mudguard/controller/Fd.h"
#include "mudguard/controller/Log.h"

using namespace std::chrono_literals;

namespace mudguard::controller {
namespace {

struct Pipe {
    UniqueFd r, w;
    Pipe()
    {
        int fds[2];
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
            throw std::runtime_error("pipe2");
        r.reset(fds[0]);
        w.reset(fds[1]);
    }
    void put(char c = 'x') const { ASSERT_EQ(::write(w.get(), &c, 1), 1); }
    void drain() const
    {
        char buf[64];
        while (::read(r.get(), buf, sizeof buf) > 0) { }
    }
};

TEST(EventLoop, FdWatchFiresWhileRegistered)
{
    EventLoop loop;
    Pipe p;
    int calls = 0;
    std::uint32_t seen = 0;
    auto h = loop.watchFd(p.r.get(), EPOLLIN, [&](std::uint32_t ev) {
        ++calls;
        seen = ev;
        p.drain();
    });
    EXPECT_EQ(loop.watchCount(), 1u);
    p.put();
    EXPECT_TRUE(loop.runUntil([&] { return calls == 1; }, 5s));
    EXPECT_TRUE(seen & EPOLLIN);
    h.reset();
    EXPECT_EQ(loop.watchCount(), 0u);
    p.put();
    EXPECT_EQ(loop.runOnce(0ms), 0u);
    EXPECT_EQ(calls, 1);
}

TEST(EventLoop, WatchingABadFdThrows)
{
    EventLoop loop;
    EXPECT_THROW((void)loop.watchFd(-1, EPOLLIN, [](std::uint32_t) {}), Error);
    EXPECT_EQ(loop.watchCount(), 0u);
}

TEST(EventLoop, ModifyFdChangesTheEvents)
{
    EventLoop loop;
    Pipe p;
    int writable = 0;
    auto h = loop.watchFd(p.w.get(), 0, [&](std::uint32_t ev) {
        if (ev & EPOLLOUT)
            ++writable;
    });
    EXPECT_EQ(loop.runOnce(0ms), 0u);
    loop.modifyFd(h, EPOLLOUT);
    EXPECT_TRUE(loop.runUntil([&] { return writable > 0; }, 5s));
}

TEST(EventLoop, CallbackMayCancelAnotherReadyWatchOrItself)
{
    EventLoop loop;
    Pipe a, b;
    EventLoop::Handle ha, hb;
    int calls = 0;
    ha = loop.watchFd(a.r.get(), EPOLLIN, [&](std::uint32_t) {
        ++calls;
        hb.reset();
        ha.reset();
    });
    hb = loop.watchFd(b.r.get(), EPOLLIN, [&](std::uint32_t) {
        ++calls;
        ha.reset();
        hb.reset();
    });
    a.put();
    b.put();
    loop.runOnce(1s);
    // Both were ready in one batch; whichever ran first removed the other.
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(loop.watchCount(), 0u);
    EXPECT_EQ(loop.runOnce(0ms), 0u);
}

TEST(EventLoop, TimersFireInDeadlineOrderAndOnce)
{
    EventLoop loop;
    std::vector<int> order;
    auto t3 = loop.addTimer(30ms, [&] { order.push_back(3); });
    auto t1 = loop.addTimer(10ms, [&] { order.push_back(1); });
    auto t2 = loop.addTimer(20ms, [&] { order.push_back(2); });
    EXPECT_EQ(loop.timerCount(), 3u);
    EXPECT_TRUE(loop.runUntil([&] { return order.size() == 3; }, 5s));
    EXPECT_EQ(order, (std::vector<int> { 1, 2, 3 }));
    EXPECT_EQ(loop.timerCount(), 0u);
}

TEST(EventLoop, CancelledTimerNeverFires)
{
    EventLoop loop;
    bool cancelledRan = false, laterRan = false;
    auto cancelled = loop.addTimer(1ms, [&] { cancelledRan = true; });
    auto later = loop.addTimer(20ms, [&] { laterRan = true; });
    cancelled.reset();
    EXPECT_TRUE(loop.runUntil([&] { return laterRan; }, 5s));
    EXPECT_FALSE(cancelledRan);
}

TEST(EventLoop, PeriodicTimerRepeatsUntilCancelled)
{
    EventLoop loop;
    int ticks = 0;
    EventLoop::Handle h;
    h = loop.addPeriodic(2ms, [&] {
        if (++ticks == 5)
            h.reset();
    });
    EXPECT_TRUE(loop.runUntil([&] { return ticks == 5; }, 5s));
    EXPECT_EQ(loop.timerCount(), 0u);
    EXPECT_THROW((void)loop.addPeriodic(0ms, [] {}), std::invalid_argument);
}

TEST(EventLoop, ZeroDelayTimerAddedByATimerWaitsForTheNextRound)
{
    EventLoop loop;
    int fired = 0;
    std::vector<EventLoop::Handle> keep;
    std::function<void()> again = [&] {
        ++fired;
        if (fired < 100)
            keep.push_back(loop.addTimer(0ms, again));
    };
    keep.push_back(loop.addTimer(0ms, again));
    // Each round runs exactly the timers that were due when it started, so one runOnce cannot
    // spin forever on self-rearming timers.
    EXPECT_TRUE(loop.runUntil([&] { return fired >= 1; }, 5s));
    int before = fired;
    loop.runOnce(1s);
    EXPECT_EQ(fired, before + 1);
    EXPECT_TRUE(loop.runUntil([&] { return fired == 100; }, 5s));
}

TEST(EventLoop, SignalsArriveThroughTheLoop)
{
    EventLoop loop;
    std::vector<int> got;
    auto h = loop.onSignals({ SIGHUP, SIGTERM, SIGINT }, [&](int s) { got.push_back(s); });
    // raise() targets this thread, which has the signals blocked, so the signalfd sees them.
    ASSERT_EQ(raise(SIGHUP), 0);
    EXPECT_TRUE(loop.runUntil([&] { return got.size() == 1; }, 5s));
    ASSERT_EQ(raise(SIGTERM), 0);
    ASSERT_EQ(raise(SIGINT), 0);
    EXPECT_TRUE(loop.runUntil([&] { return got.size() == 3; }, 5s));
    EXPECT_EQ(got[0], SIGHUP);
    EXPECT_EQ(std::count(got.begin(), got.end(), SIGTERM), 1);
    EXPECT_EQ(std::count(got.begin(), got.end(), SIGINT), 1);
}

TEST(EventLoop, TasksFromManyThreadsRunInOrderPerThread)
{
    EventLoop loop;
    constexpr int kThreads = 4, kTasks = 1000;
    std::vector<std::vector<int>> seen(kThreads);
    std::atomic<int> total { 0 };
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kTasks; ++i)
                loop.post([&, t, i] {
                    seen[t].push_back(i);
                    ++total;
                });
        });
    EXPECT_TRUE(loop.runUntil([&] { return total == kThreads * kTasks; }, 10s));
    for (auto& th : threads)
        th.join();
    for (int t = 0; t < kThreads; ++t) {
        ASSERT_EQ(seen[t].size(), static_cast<std::size_t>(kTasks));
        for (int i = 0; i < kTasks; ++i)
            ASSERT_EQ(seen[t][i], i);
    }
}

TEST(EventLoop, StopFromAnotherThreadEndsRun)
{
    EventLoop loop;
    std::atomic<bool> ranTask { false };
    std::thread other([&] {
        loop.post([&] { ranTask = true; });
        loop.stop();
    });
    loop.run();
    other.join();
    // The stop may have been seen before or after the task's batch; the task is not lost.
    loop.runUntil([&] { return ranTask.load(); }, 5s);
    EXPECT_TRUE(ranTask);
}

TEST(EventLoop, PosterOutlivesTheLoop)
{
    EventLoop::Poster post;
    {
        EventLoop loop;
        post = loop.poster();
        bool ran = false;
        EXPECT_TRUE(post([&] { ran = true; }));
        EXPECT_TRUE(loop.runUntil([&] { return ran; }, 5s));
    }
    EXPECT_FALSE(post([] {}));
}

TEST(EventLoop, HandleOutlivesTheLoop)
{
    EventLoop::Handle h;
    {
        EventLoop loop;
        h = loop.addTimer(1h, [] {});
    }
    h.reset();
    EXPECT_FALSE(h);
}

TEST(EventLoop, ExceptionsGoToTheErrorHandlerAndTheLoopGoesOn)
{
    EventLoop loop;
    std::vector<std::string> errors;
    loop.setErrorHandler([&](std::string_view where, std::exception_ptr e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            errors.push_back(std::string(where) + ": " + ex.what());
        }
    });
    bool after = false;
    auto t = loop.addTimer(
        0ms, [] { throw std::runtime_error("boom"); }, "refresh");
    loop.post([] { throw std::runtime_error("bang"); });
    loop.post([&] { after = true; });
    EXPECT_TRUE(loop.runUntil([&] { return after && errors.size() == 2; }, 5s));
    EXPECT_NE(std::find(errors.begin(), errors.end(), "refresh: boom"), errors.end());
    EXPECT_NE(std::find(errors.begin(), errors.end(), "task: bang"), errors.end());
}

TEST(EventLoop, DefaultErrorHandlerLogsInternalError)
{
    std::vector<std::string> lines;
    log::setSink([&](std::string_view l) { lines.emplace_back(l); });
    log::setFormat(log::Format::Journal);
    {
        EventLoop loop;
        bool done = false;
        loop.post([] { throw std::runtime_error("bad \"state\""); });
        loop.post([&] { done = true; });
        EXPECT_TRUE(loop.runUntil([&] { return done; }, 5s));
    }
    log::setSink({});
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0],
        "<3>controller: INTERNAL_ERROR exception escaped an event callback where=\"task\" "
        "reason=\"bad \\\"state\\\"\"\n");
}

} // namespace
} // namespace mudguard::controller
