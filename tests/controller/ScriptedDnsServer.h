#pragma once
// A UDP DNS server on 127.0.0.1 whose answers the test scripts, shared by the resolver and DNS
// name tests.

#include <functional>
#include <span>
#include <stdexcept>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "mudguard/controller/Dns.h"
#include "mudguard/controller/EventLoop.h"
#include "mudguard/controller/Fd.h"

#include "DnsWire.h"

namespace mudguard::controller::dns {

inline UniqueFd udpSocketOn(std::uint16_t port, std::uint16_t& boundPort)
{
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_in a {};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
        throw std::runtime_error("bind");
    socklen_t len = sizeof a;
    getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
    boundPort = ntohs(a.sin_port);
    return fd;
}

// For each query it receives, the handler returns the datagrams to send back to its sender.
class ScriptedServer {
public:
    using Handler = std::function<std::vector<Bytes>(const Message& query, int n)>;
    ScriptedServer(EventLoop& loop, Handler h)
        : m_handler(std::move(h))
    {
        m_fd = udpSocketOn(0, m_port);
        m_watch = loop.watchFd(m_fd.get(), EPOLLIN, [this](std::uint32_t) { onQuery(); });
    }
    std::uint16_t port() const { return m_port; }
    int queries() const { return m_n; }

private:
    void onQuery()
    {
        std::uint8_t buf[4096];
        sockaddr_storage from {};
        socklen_t len = sizeof from;
        ssize_t n = ::recvfrom(m_fd.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n <= 0)
            return;
        auto q = parseMessage(std::span<const std::uint8_t>(buf, static_cast<std::size_t>(n)));
        for (const auto& out : m_handler(q, m_n++))
            ::sendto(m_fd.get(), out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
    UniqueFd m_fd;
    std::uint16_t m_port = 0;
    EventLoop::Handle m_watch;
    Handler m_handler;
    int m_n = 0;
};

} // namespace mudguard::controller::dns
