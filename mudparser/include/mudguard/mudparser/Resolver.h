#pragma once
// Host name resolution with a deadline. The fetcher resolves once, checks the addresses, and
// connects to a checked address: there is no second resolution an attacker could steer.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "mudguard/mudparser/IpAddress.h"

namespace mudguard::mudparser {

struct Resolution {
    std::vector<IpAddress> addresses; ///< empty on failure
    std::string error; ///< why there are none
};

class Resolver {
public:
    virtual ~Resolver() = default;
    /// Every address of `host`. Returns by `deadline` at the latest (with an error then).
    /// Called from several threads at once.
    virtual Resolution resolve(const std::string& host, std::chrono::steady_clock::time_point deadline) = 0;
};

/// getaddrinfo(3) through the system's resolver configuration, on a helper thread so that a
/// slow resolver cannot hold a fetch past its deadline.
class SystemResolver final : public Resolver {
public:
    Resolution resolve(const std::string& host, std::chrono::steady_clock::time_point deadline) override;
};

/// Fixed answers (tests, and configured overrides); unknown names do not resolve.
class StaticResolver final : public Resolver {
public:
    explicit StaticResolver(std::map<std::string, std::vector<IpAddress>> answers);
    Resolution resolve(const std::string& host, std::chrono::steady_clock::time_point deadline) override;

private:
    std::map<std::string, std::vector<IpAddress>> m_answers;
};

} // namespace mudguard::mudparser
