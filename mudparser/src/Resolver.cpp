#include "mudguard/mudparser/Resolver.h"

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <netdb.h>
#include <sys/socket.h>

namespace mudguard::mudparser {

namespace {

Resolution lookup(const std::string& host)
{
    addrinfo hints {};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* list = nullptr;
    Resolution r;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &list);
    if (rc != 0) {
        r.error = gai_strerror(rc);
        return r;
    }
    for (auto* i = list; i; i = i->ai_next) {
        auto a = IpAddress::fromSockaddr(i->ai_addr);
        if (a && std::find(r.addresses.begin(), r.addresses.end(), *a) == r.addresses.end())
            r.addresses.push_back(*a);
    }
    freeaddrinfo(list);
    if (r.addresses.empty())
        r.error = "no IPv4 or IPv6 address";
    return r;
}

} // namespace

Resolution SystemResolver::resolve(const std::string& host, std::chrono::steady_clock::time_point deadline)
{
    // getaddrinfo has no timeout of its own. The lookup runs on a detached thread that owns its
    // share of the state, so giving up at the deadline leaves nothing dangling.
    struct Shared {
        std::mutex mutex;
        std::condition_variable cv;
        bool done = false;
        Resolution result;
    };
    auto shared = std::make_shared<Shared>();
    try {
        std::thread([shared, host] {
            auto r = lookup(host);
            std::lock_guard lock(shared->mutex);
            shared->result = std::move(r);
            shared->done = true;
            shared->cv.notify_all();
        }).detach();
    } catch (const std::system_error&) {
        return lookup(host);
    }
    std::unique_lock lock(shared->mutex);
    if (!shared->cv.wait_until(lock, deadline, [&] { return shared->done; }))
        return Resolution { {}, "name resolution did not finish before the fetch deadline" };
    return shared->result;
}

StaticResolver::StaticResolver(std::map<std::string, std::vector<IpAddress>> answers)
    : m_answers(std::move(answers))
{
}

Resolution StaticResolver::resolve(const std::string& host, std::chrono::steady_clock::time_point)
{
    auto it = m_answers.find(host);
    if (it == m_answers.end() || it->second.empty())
        return Resolution { {}, "unknown host" };
    return Resolution { it->second, {} };
}

} // namespace mudguard::mudparser
