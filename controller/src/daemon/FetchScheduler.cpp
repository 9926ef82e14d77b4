#include "daemon/FetchScheduler.h"

#include <algorithm>

#include <fmt/format.h>

#include "mudguard/controller/Log.h"

namespace mudguard::controller {

FetchScheduler::FetchScheduler(
    unsigned workers, const std::filesystem::path& schemaDir, Limits limits, Runner run, Failed failed)
    : m_limits(limits)
    , m_run(std::move(run))
    , m_failed(std::move(failed))
{
    workers = std::max(1u, workers);
    for (unsigned i = 0; i < workers; ++i)
        m_parsers.push_back(std::make_unique<mudparser::Parser>(schemaDir));
    for (unsigned i = 0; i < workers; ++i)
        m_threads.emplace_back([this, p = m_parsers[i].get()] { work(*p); });
}

FetchScheduler::~FetchScheduler()
{
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_cv.notify_all();
    for (auto& t : m_threads)
        t.join();
}

FetchScheduler::Submitted FetchScheduler::submit(
    const std::string& url, const std::string& host, bool force, const std::string& device)
{
    std::unique_lock lock(m_mutex);
    if (m_stopping)
        return { Admission::Refused, "mudguard is stopping" };
    if (m_urls.count(url)) {
        // Queued or running already: a queued one is made a refresh when asked.
        if (force)
            if (auto h = m_hosts.find(host); h != m_hosts.end())
                for (auto& j : h->second.queue)
                    if (j.url == url)
                        j.force = true;
        return { Admission::AlreadyQueued, {} };
    }
    if (m_queued >= m_limits.maxQueued)
        return { Admission::Refused, fmt::format("the fetch queue is full ({} files waiting)", m_queued) };
    if (m_hosts.size() > 4 * m_limits.maxQueued) {
        // Hosts seen once keep their rate limit only as long as it lasts.
        auto now = Clock::now();
        std::erase_if(m_hosts,
            [&](const auto& e) { return !e.second.running && e.second.queue.empty() && e.second.notBefore <= now; });
    }
    Host& h = m_hosts[host];
    if (h.queue.size() >= m_limits.maxQueuedPerHost)
        return { Admission::Refused,
            fmt::format("{} files of {} are already waiting to be fetched", h.queue.size(), host) };
    if (!device.empty() && m_perDevice[device] >= m_limits.maxQueuedPerDevice)
        return { Admission::Refused,
            fmt::format("the device has {} files waiting to be fetched", m_perDevice[device]) };
    if (h.queue.empty() && !h.running)
        m_turn.push_back(host);
    h.queue.push_back(Job { url, force, device });
    m_urls.insert(url);
    if (!device.empty())
        ++m_perDevice[device];
    ++m_queued;
    lock.unlock();
    m_cv.notify_one();
    return { Admission::Queued, {} };
}

std::optional<std::pair<std::string, FetchScheduler::Job>> FetchScheduler::take(
    Clock::time_point now, std::optional<Clock::time_point>& wake)
{
    for (std::size_t i = 0; i < m_turn.size(); ++i) {
        const std::string host = m_turn[i];
        Host& h = m_hosts[host];
        if (h.running || h.queue.empty())
            continue;
        if (h.notBefore > now) {
            if (!wake || h.notBefore < *wake)
                wake = h.notBefore;
            continue;
        }
        Job job = std::move(h.queue.front());
        h.queue.pop_front();
        h.running = true;
        h.notBefore = now + m_limits.hostInterval;
        // The host goes to the back of the turn (it comes back once its fetch is done).
        m_turn.erase(m_turn.begin() + static_cast<std::ptrdiff_t>(i));
        --m_queued;
        ++m_running;
        return std::make_pair(host, std::move(job));
    }
    return std::nullopt;
}

void FetchScheduler::finished(const std::string& host, const Job& job)
{
    std::lock_guard lock(m_mutex);
    --m_running;
    m_urls.erase(job.url);
    if (!job.device.empty())
        if (auto it = m_perDevice.find(job.device); it != m_perDevice.end() && --it->second == 0)
            m_perDevice.erase(it);
    Host& h = m_hosts[host];
    h.running = false;
    if (!h.queue.empty())
        m_turn.push_back(host);
}

void FetchScheduler::work(const mudparser::Parser& parser)
{
    std::unique_lock lock(m_mutex);
    while (!m_stopping) {
        std::optional<Clock::time_point> wake;
        auto next = take(Clock::now(), wake);
        if (!next) {
            if (wake)
                m_cv.wait_until(lock, *wake);
            else
                m_cv.wait(lock);
            continue;
        }
        lock.unlock();
        const auto& [host, job] = *next;
        try {
            m_run(job.url, job.force, parser);
        } catch (const std::exception& e) {
            log::write(log::Category::Fetch, log::Level::Error, log::Event::InternalError,
                "a fetch job failed unexpectedly", { { "where", "fetch worker" }, { "reason", e.what() } });
            if (m_failed)
                m_failed(job.url, e.what());
        }
        finished(host, job);
        m_cv.notify_all();
        lock.lock();
    }
}

FetchScheduler::Stats FetchScheduler::stats() const
{
    std::lock_guard lock(m_mutex);
    std::size_t hosts = 0;
    for (const auto& [name, h] : m_hosts)
        if (h.running || !h.queue.empty())
            ++hosts;
    return { m_queued, m_running, hosts };
}

bool FetchScheduler::waitIdle(std::chrono::milliseconds deadline) const
{
    std::unique_lock lock(m_mutex);
    return m_cv.wait_for(lock, deadline, [&] { return m_queued == 0 && m_running == 0; });
}

} // namespace mudguard::controller
