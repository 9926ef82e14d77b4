#pragma once
// Worker threads for the slow part of a join: fetching, verifying and parsing MUD files, with a
// bounded queue that is fair between hosts and between devices.
//
//   * One fetch per URL at a time: a URL already queued or running is not queued again.
//   * At most one fetch per host at a time, and hosts are served in turn: a slow or flooded host
//     holds at most one worker, so another host's device never waits behind it (with two workers
//     or more).
//   * A host's fetches are spaced by its rate limit. The wait is the scheduler's, not a worker's:
//     a worker takes another host's fetch meanwhile.
//   * Bounded: so many fetches queued in all, per host and per device; beyond that a fetch is
//     refused at once with the reason, and the device is held.
//
// Each worker owns a mudparser::Parser (a libyang context is single-threaded). Nothing thrown by a
// job leaves a worker: it is logged (INTERNAL_ERROR) and the job's error path runs.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mudguard/mudparser/Parser.h"

namespace mudguard::controller {

class FetchScheduler {
public:
    struct Limits {
        std::size_t maxQueued = 1024; ///< in all
        std::size_t maxQueuedPerHost = 128;
        std::size_t maxQueuedPerDevice = 2;
        std::chrono::milliseconds hostInterval { 200 }; ///< between two fetches from one host
    };
    /// Runs on a worker: obtain `url` (`force`: even a fresh cached copy).
    using Runner = std::function<void(const std::string& url, bool force, const mudparser::Parser& parser)>;
    /// Called on the worker when a job threw (the runner's error path: the URL gets a verdict).
    using Failed = std::function<void(const std::string& url, const std::string& why)>;

    /// Starts `workers` threads (at least one). Throws when a Parser cannot be built.
    FetchScheduler(unsigned workers, const std::filesystem::path& schemaDir, Limits limits, Runner run, Failed failed);
    /// Lets the running jobs finish, drops the queued ones, joins the threads.
    ~FetchScheduler();
    FetchScheduler(const FetchScheduler&) = delete;
    FetchScheduler& operator=(const FetchScheduler&) = delete;

    enum class Admission { Queued, AlreadyQueued, Refused };
    struct Submitted {
        Admission admission = Admission::Queued;
        std::string reason; ///< why it was refused
    };
    /// Queues a fetch of `url` from `host` for `device` (empty: a refresh). Thread-safe.
    Submitted submit(const std::string& url, const std::string& host, bool force, const std::string& device = {});

    struct Stats {
        std::size_t queued = 0, running = 0, hosts = 0;
    };
    Stats stats() const;
    /// Waits until nothing is queued or running (tests), at most `deadline`.
    bool waitIdle(std::chrono::milliseconds deadline) const;

private:
    using Clock = std::chrono::steady_clock;
    struct Job {
        std::string url;
        bool force = false;
        std::string device;
    };
    struct Host {
        std::deque<Job> queue;
        bool running = false;
        Clock::time_point notBefore {};
    };
    void work(const mudparser::Parser& parser);
    /// The next job whose host may start now, or the time the earliest waiting host may.
    std::optional<std::pair<std::string, Job>> take(Clock::time_point now, std::optional<Clock::time_point>& wake);
    void finished(const std::string& host, const Job& job);

    Limits m_limits;
    Runner m_run;
    Failed m_failed;
    mutable std::mutex m_mutex;
    mutable std::condition_variable m_cv;
    bool m_stopping = false;
    std::map<std::string, Host> m_hosts;
    std::deque<std::string> m_turn; ///< hosts with queued jobs, in the order they are served
    std::set<std::string> m_urls; ///< queued or running
    std::map<std::string, std::size_t> m_perDevice; ///< queued or running
    std::size_t m_queued = 0, m_running = 0;
    std::vector<std::unique_ptr<mudparser::Parser>> m_parsers;
    std::vector<std::thread> m_threads;
};

} // namespace mudguard::controller
