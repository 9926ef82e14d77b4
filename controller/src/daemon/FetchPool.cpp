#include "daemon/FetchPool.h"

#include "mudguard/controller/Log.h"

namespace mudguard::controller {

FetchPool::FetchPool(unsigned workers, const std::filesystem::path& schemaDir)
{
    workers = std::max(1u, workers);
    for (unsigned i = 0; i < workers; ++i)
        m_parsers.push_back(std::make_unique<mudparser::Parser>(schemaDir));
    for (unsigned i = 0; i < workers; ++i)
        m_threads.emplace_back([this, p = m_parsers[i].get()] { work(*p); });
}

FetchPool::~FetchPool()
{
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
        m_jobs.clear();
    }
    m_cv.notify_all();
    for (auto& t : m_threads)
        t.join();
}

void FetchPool::submit(Job job)
{
    {
        std::lock_guard lock(m_mutex);
        if (m_stopping)
            return;
        m_jobs.push_back(std::move(job));
    }
    m_cv.notify_one();
}

std::size_t FetchPool::queued() const
{
    std::lock_guard lock(m_mutex);
    return m_jobs.size();
}

void FetchPool::work(const mudparser::Parser& parser)
{
    while (true) {
        Job job;
        {
            std::unique_lock lock(m_mutex);
            m_cv.wait(lock, [&] { return m_stopping || !m_jobs.empty(); });
            if (m_stopping)
                return;
            job = std::move(m_jobs.front());
            m_jobs.pop_front();
        }
        try {
            job(parser);
        } catch (const std::exception& e) {
            log::write(log::Category::Fetch, log::Level::Error, log::Event::InternalError,
                "a fetch job failed unexpectedly", { { "error", e.what() } });
        }
    }
}

} // namespace mudguard::controller
