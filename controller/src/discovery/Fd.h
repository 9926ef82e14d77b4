#pragma once
// Owning file descriptor for the discovery sources.

#include <string>
#include <utility>

#include <unistd.h>

namespace mudguard::controller::discovery {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd)
        : m_fd(fd)
    {
    }
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd&& o) noexcept
        : m_fd(std::exchange(o.m_fd, -1))
    {
    }
    UniqueFd& operator=(UniqueFd&& o) noexcept
    {
        if (this != &o)
            reset(std::exchange(o.m_fd, -1));
        return *this;
    }
    int get() const { return m_fd; }
    explicit operator bool() const { return m_fd >= 0; }
    void reset(int fd = -1)
    {
        if (m_fd >= 0)
            ::close(m_fd);
        m_fd = fd;
    }
    int release() { return std::exchange(m_fd, -1); }

private:
    int m_fd = -1;
};

/// strerror(errno) with a prefix, for DiscoveryError messages.
std::string systemError(const std::string& what);

} // namespace mudguard::controller::discovery
