#pragma once
// Worker threads for the slow part of a join: fetching, verifying and parsing MUD files. Each
// worker owns a mudparser::Parser (a libyang context is single-threaded). Jobs never throw out of
// a worker: an exception is caught and handed to the job's error path as data.

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "mudguard/mudparser/Parser.h"

namespace mudguard::controller {

class FetchPool {
public:
    using Job = std::function<void(const mudparser::Parser&)>;

    /// Starts `workers` threads (at least one). Throws when a Parser cannot be built.
    FetchPool(unsigned workers, const std::filesystem::path& schemaDir);
    /// Lets the running jobs finish, drops the queued ones, joins the threads.
    ~FetchPool();
    FetchPool(const FetchPool&) = delete;
    FetchPool& operator=(const FetchPool&) = delete;

    void submit(Job job);
    std::size_t queued() const;

private:
    void work(const mudparser::Parser& parser);

    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    std::deque<Job> m_jobs;
    bool m_stopping = false;
    std::vector<std::unique_ptr<mudparser::Parser>> m_parsers;
    std::vector<std::thread> m_threads;
};

} // namespace mudguard::controller
