#include "mudguard/controller/HookServer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "discovery/Fd.h"

namespace mudguard::controller {
namespace {

using discovery::systemError;
using discovery::UniqueFd;

sockaddr_un unixAddress(const std::filesystem::path& path)
{
    sockaddr_un sa {};
    sa.sun_family = AF_UNIX;
    const auto& s = path.native();
    if (s.empty() || s.size() >= sizeof sa.sun_path)
        throw DiscoveryError("hook socket path '" + s + "' is empty or too long");
    std::memcpy(sa.sun_path, s.c_str(), s.size() + 1);
    return sa;
}

} // namespace

namespace discovery {
std::string systemError(const std::string& what) { return what + ": " + std::strerror(errno); }
} // namespace discovery

HookServer::HookServer(HookServerOptions options)
    : m_options(std::move(options))
{
    auto sa = unixAddress(m_options.path);
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd)
        throw DiscoveryError(systemError("socket(AF_UNIX)"));

    // A socket file left by a crashed daemon is replaced; one that still has a reader is not.
    {
        UniqueFd probe(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (probe && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0)
            throw DiscoveryError("hook socket " + m_options.path.string() + " is served by another process");
    }
    std::error_code ec;
    if (std::filesystem::is_socket(m_options.path, ec))
        std::filesystem::remove(m_options.path, ec);
    if (m_options.path.has_parent_path())
        std::filesystem::create_directories(m_options.path.parent_path(), ec);

    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
        throw DiscoveryError(systemError("bind(" + m_options.path.string() + ")"));
    // The sender's credentials are checked on every datagram as well, so the short window before
    // chmod() is harmless.
    if (::chmod(m_options.path.c_str(), m_options.mode) != 0) {
        auto msg = systemError("chmod(" + m_options.path.string() + ")");
        ::unlink(m_options.path.c_str());
        throw DiscoveryError(msg);
    }
    int on = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
        auto msg = systemError("setsockopt(SO_PASSCRED)");
        ::unlink(m_options.path.c_str());
        throw DiscoveryError(msg);
    }
    // Best effort: a larger queue absorbs dnsmasq's start-up replay.
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &m_options.receiveBuffer, sizeof m_options.receiveBuffer);
    m_fd = fd.release();
}

HookServer::~HookServer()
{
    if (m_fd >= 0) {
        ::close(m_fd);
        ::unlink(m_options.path.c_str());
    }
}

void HookServer::reject(std::string reason)
{
    ++m_stats.rejected;
    m_stats.lastRejection = std::move(reason);
    if (m_onRejected) {
        try {
            m_onRejected(m_stats.lastRejection);
        } catch (...) {
            // A logging callback must not stop the intake.
        }
    }
}

std::vector<HookMessage> HookServer::handleReadable()
{
    std::vector<HookMessage> out;
    std::uint8_t buf[kMaxHookDatagram + 1];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    for (std::size_t i = 0; i < m_options.maxPerCall; ++i) {
        iovec iov { buf, sizeof buf };
        msghdr msg {};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(m_fd, &msg, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break; // EAGAIN: drained (other errors: nothing to read either)
        }
        const ucred* cred = nullptr;
        for (auto* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS
                && c->cmsg_len == CMSG_LEN(sizeof(ucred)))
                cred = reinterpret_cast<const ucred*>(CMSG_DATA(c));
            else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                // Nobody may push descriptors into the daemon: close them.
                auto* fds = reinterpret_cast<const int*>(CMSG_DATA(c));
                std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (std::size_t k = 0; k < count; ++k)
                    ::close(fds[k]);
            }
        }
        if (!cred) {
            reject("datagram without sender credentials");
            continue;
        }
        if (cred->uid != 0
            && std::find(m_options.allowedUids.begin(), m_options.allowedUids.end(), cred->uid)
                == m_options.allowedUids.end()) {
            reject("datagram from uid " + std::to_string(cred->uid) + " (pid " + std::to_string(cred->pid)
                + "), which is not allowed");
            continue;
        }
        if ((msg.msg_flags & MSG_TRUNC) || static_cast<std::size_t>(n) > kMaxHookDatagram) {
            reject("datagram of " + std::to_string(n) + " bytes exceeds the limit");
            continue;
        }
        try {
            HookMessage m;
            m.event = decodeHookDatagram({ buf, static_cast<std::size_t>(n) });
            m.senderPid = cred->pid;
            m.senderUid = cred->uid;
            ++m_stats.received;
            out.push_back(std::move(m));
        } catch (const HookFormatError& e) {
            reject(e.what());
        }
    }
    return out;
}

std::string sendHookDatagram(
    const std::filesystem::path& socket, const std::vector<std::uint8_t>& datagram, std::chrono::milliseconds timeout)
{
    try {
        auto sa = unixAddress(socket);
        UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (!fd)
            return systemError("socket");
        // Connected, so that poll() reports room in the receiver's queue.
        if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
            return systemError("connect(" + socket.string() + ")");
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (true) {
            if (::send(fd.get(), datagram.data(), datagram.size(), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
                return {};
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return systemError("send(" + socket.string() + ")");
            auto left
                = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0)
                return "timed out: the daemon's queue at " + socket.string() + " stayed full";
            pollfd p { fd.get(), POLLOUT, 0 };
            ::poll(&p, 1, static_cast<int>(left.count()));
        }
    } catch (const std::exception& e) {
        return e.what();
    }
}

} // namespace mudguard::controller
