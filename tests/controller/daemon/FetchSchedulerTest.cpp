// The fetch workers' scheduler: one fetch per URL and per host at a time, hosts served in turn, a
// host's rate waited by the scheduler (never by a worker), and bounded queues that refuse at once.

#include "daemon/FetchScheduler.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "mudguard/mudparser/Parser.h"

namespace mudguard::test {
namespace {

using controller::FetchScheduler;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// Jobs that record when they ran, and block while their URL is held.
class Jobs {
public:
    void run(const std::string& url, bool force)
    {
        std::unique_lock lock(m_mutex);
        m_started.push_back(url);
        m_startedAt[url] = Clock::now();
        m_forced[url] = force;
        m_cv.notify_all();
        m_cv.wait(lock, [&] { return !m_held.count(url); });
    }
    void hold(const std::string& url)
    {
        std::lock_guard lock(m_mutex);
        m_held.insert(url);
    }
    void release(const std::string& url)
    {
        std::lock_guard lock(m_mutex);
        m_held.erase(url);
        m_cv.notify_all();
    }
    bool waitStarted(const std::string& url, std::chrono::milliseconds d = 5000ms)
    {
        std::unique_lock lock(m_mutex);
        return m_cv.wait_for(lock, d, [&] { return m_startedAt.count(url) > 0; });
    }
    std::vector<std::string> started()
    {
        std::lock_guard lock(m_mutex);
        return m_started;
    }
    Clock::time_point at(const std::string& url)
    {
        std::lock_guard lock(m_mutex);
        return m_startedAt.at(url);
    }
    bool forced(const std::string& url)
    {
        std::lock_guard lock(m_mutex);
        return m_forced.at(url);
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::set<std::string> m_held;
    std::vector<std::string> m_started;
    std::map<std::string, Clock::time_point> m_startedAt;
    std::map<std::string, bool> m_forced;
};

class Scheduler : public ::testing::Test {
protected:
    std::unique_ptr<FetchScheduler> make(unsigned workers, FetchScheduler::Limits limits)
    {
        return std::make_unique<FetchScheduler>(
            workers, mudparser::Parser::defaultSchemaDir(), limits,
            [this](const std::string& url, bool force, const mudparser::Parser&) {
                if (url.find("throws") != std::string::npos)
                    throw std::runtime_error("boom");
                jobs.run(url, force);
            },
            [this](const std::string& url, const std::string& why) {
                std::lock_guard lock(m_failedMutex);
                failed[url] = why;
            });
    }
    Jobs jobs;
    std::mutex m_failedMutex;
    std::map<std::string, std::string> failed;
};

FetchScheduler::Limits fast()
{
    FetchScheduler::Limits l;
    l.hostInterval = 0ms;
    return l;
}

TEST_F(Scheduler, ASlowHostHoldsOneWorkerAndAnotherHostsFetchStartsAtOnce)
{
    auto s = make(2, fast());
    jobs.hold("https://slow.example/1");
    jobs.hold("https://slow.example/2");
    for (int i = 1; i <= 50; ++i)
        ASSERT_EQ(s->submit("https://slow.example/" + std::to_string(i), "slow.example", false).admission,
            FetchScheduler::Admission::Queued);
    ASSERT_TRUE(jobs.waitStarted("https://slow.example/1"));
    // The good host's file is fetched while the slow host's first fetch still hangs.
    jobs.hold("https://good.example/a");
    ASSERT_EQ(s->submit("https://good.example/a", "good.example", false).admission, FetchScheduler::Admission::Queued);
    EXPECT_TRUE(jobs.waitStarted("https://good.example/a", 2000ms));
    // One fetch per host at a time: the slow host's second file has not started.
    auto started = jobs.started();
    EXPECT_EQ(std::count(started.begin(), started.end(), "https://slow.example/2"), 0);
    auto stats = s->stats();
    EXPECT_EQ(stats.running, 2u);
    EXPECT_EQ(stats.queued, 49u);
    EXPECT_EQ(stats.hosts, 2u);
    jobs.release("https://good.example/a");
    jobs.release("https://slow.example/1");
    jobs.release("https://slow.example/2");
    EXPECT_TRUE(s->waitIdle(10s));
    EXPECT_EQ(jobs.started().size(), 51u);
}

TEST_F(Scheduler, AUrlQueuedOrRunningIsNotQueuedAgainAndARefreshUpgradesIt)
{
    auto s = make(1, fast());
    jobs.hold("https://a.example/x");
    s->submit("https://a.example/x", "a.example", false);
    ASSERT_TRUE(jobs.waitStarted("https://a.example/x"));
    EXPECT_EQ(s->submit("https://a.example/x", "a.example", true).admission, FetchScheduler::Admission::AlreadyQueued);
    s->submit("https://a.example/y", "a.example", false);
    EXPECT_EQ(s->submit("https://a.example/y", "a.example", true).admission, FetchScheduler::Admission::AlreadyQueued);
    jobs.release("https://a.example/x");
    ASSERT_TRUE(s->waitIdle(5s));
    EXPECT_FALSE(jobs.forced("https://a.example/x"));
    EXPECT_TRUE(jobs.forced("https://a.example/y")) << "a refresh asked while queued makes the queued fetch one";
}

TEST_F(Scheduler, QueuesAreBoundedPerHostPerDeviceAndInAll)
{
    FetchScheduler::Limits l = fast();
    l.maxQueued = 10;
    l.maxQueuedPerHost = 4;
    l.maxQueuedPerDevice = 2;
    auto s = make(1, l);
    jobs.hold("https://busy.example/0");
    s->submit("https://busy.example/0", "busy.example", false);
    ASSERT_TRUE(jobs.waitStarted("https://busy.example/0"));
    for (int i = 1; i <= 4; ++i)
        EXPECT_EQ(s->submit("https://h.example/" + std::to_string(i), "h.example", false).admission,
            FetchScheduler::Admission::Queued);
    auto refused = s->submit("https://h.example/5", "h.example", false);
    EXPECT_EQ(refused.admission, FetchScheduler::Admission::Refused);
    EXPECT_NE(refused.reason.find("h.example"), std::string::npos) << refused.reason;
    // Per device: the third file of one device waits for its first two.
    EXPECT_EQ(s->submit("https://d1.example/a", "d1.example", false, "02:00:00:00:00:01").admission,
        FetchScheduler::Admission::Queued);
    EXPECT_EQ(s->submit("https://d2.example/a", "d2.example", false, "02:00:00:00:00:01").admission,
        FetchScheduler::Admission::Queued);
    EXPECT_EQ(s->submit("https://d3.example/a", "d3.example", false, "02:00:00:00:00:01").admission,
        FetchScheduler::Admission::Refused);
    EXPECT_EQ(s->submit("https://d3.example/a", "d3.example", false, "02:00:00:00:00:02").admission,
        FetchScheduler::Admission::Queued);
    // In all: 4 + 2 + 1 = 7 queued; three more fill the queue, the next is refused.
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(s->submit("https://o" + std::to_string(i) + ".example/a", "o" + std::to_string(i) + ".example", false)
                      .admission,
            FetchScheduler::Admission::Queued);
    auto full = s->submit("https://last.example/a", "last.example", false);
    EXPECT_EQ(full.admission, FetchScheduler::Admission::Refused);
    EXPECT_NE(full.reason.find("full"), std::string::npos) << full.reason;
    jobs.release("https://busy.example/0");
    EXPECT_TRUE(s->waitIdle(10s));
}

TEST_F(Scheduler, AHostsRateIsWaitedByTheSchedulerWhileWorkersServeOtherHosts)
{
    FetchScheduler::Limits l;
    l.hostInterval = 300ms;
    auto s = make(1, l);
    s->submit("https://r.example/1", "r.example", false);
    s->submit("https://r.example/2", "r.example", false);
    s->submit("https://other.example/1", "other.example", false);
    ASSERT_TRUE(s->waitIdle(5s));
    auto gap = jobs.at("https://r.example/2") - jobs.at("https://r.example/1");
    EXPECT_GE(gap, 280ms) << "the host's second fetch came too early";
    // The single worker did not sleep through the interval: the other host came in between.
    EXPECT_LT(jobs.at("https://other.example/1"), jobs.at("https://r.example/2"));
}

TEST_F(Scheduler, AJobThatThrowsIsReportedAndTheWorkerGoesOn)
{
    auto s = make(1, fast());
    s->submit("https://x.example/throws", "x.example", false);
    s->submit("https://x.example/fine", "x.example", false);
    ASSERT_TRUE(s->waitIdle(5s));
    std::lock_guard lock(m_failedMutex);
    ASSERT_EQ(failed.count("https://x.example/throws"), 1u);
    EXPECT_EQ(failed["https://x.example/throws"], "boom");
    EXPECT_TRUE(jobs.waitStarted("https://x.example/fine"));
}

} // namespace
} // namespace mudguard::test
