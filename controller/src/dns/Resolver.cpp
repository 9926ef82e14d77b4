#include "mudguard/controller/Resolver.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <random>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "mudguard/controller/Error.h"
#include "mudguard/controller/EventLoop.h"
#include "mudguard/controller/Fd.h"
#include "mudguard/controller/Log.h"

namespace mudguard::controller {
namespace {

constexpr std::size_t kMaxTcpMessage = 65535;

struct SockAddr {
    sockaddr_storage storage {};
    socklen_t len = 0;
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

SockAddr toSockAddr(const dns::IpAddress& ip, std::uint16_t port)
{
    SockAddr a;
    if (ip.family == 4) {
        auto* s = reinterpret_cast<sockaddr_in*>(&a.storage);
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        std::memcpy(&s->sin_addr, ip.bytes.data(), 4);
        a.len = sizeof(sockaddr_in);
    } else {
        auto* s = reinterpret_cast<sockaddr_in6*>(&a.storage);
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(port);
        std::memcpy(&s->sin6_addr, ip.bytes.data(), 16);
        a.len = sizeof(sockaddr_in6);
    }
    return a;
}

bool sameEndpoint(const SockAddr& want, const sockaddr_storage& got, socklen_t gotLen)
{
    if (gotLen != want.len || got.ss_family != want.storage.ss_family)
        return false;
    if (got.ss_family == AF_INET) {
        auto* a = reinterpret_cast<const sockaddr_in*>(&want.storage);
        auto* b = reinterpret_cast<const sockaddr_in*>(&got);
        return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    auto* a = reinterpret_cast<const sockaddr_in6*>(&want.storage);
    auto* b = reinterpret_cast<const sockaddr_in6*>(&got);
    return a->sin6_port == b->sin6_port && std::memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0;
}

bool isReverseName(std::string_view n) { return n == "arpa" || n.ends_with(".arpa"); }

void rejected(std::string_view reason, std::string_view name = {})
{
    log::write(log::Category::Dns, log::Level::Debug, log::Event::DnsAnswerRejected, "DNS answer ignored",
        { { "reason", reason }, { "name", name } });
}

} // namespace

const char* toString(Resolver::Status s) noexcept
{
    switch (s) {
    case Resolver::Status::Ok:
        return "ok";
    case Resolver::Status::NoData:
        return "no-data";
    case Resolver::Status::NxDomain:
        return "nxdomain";
    case Resolver::Status::ServerFailure:
        return "server-failure";
    case Resolver::Status::Refused:
        return "refused";
    case Resolver::Status::Timeout:
        return "timeout";
    case Resolver::Status::Truncated:
        return "truncated";
    case Resolver::Status::NetworkError:
        return "network-error";
    }
    return "?";
}

struct Resolver::Impl {
    struct Query {
        std::uint64_t handle = 0;
        std::string name;
        dns::Type type = dns::Type::A;
        Callback cb;
        std::uint16_t id = 0;
        bool started = false;
        std::vector<std::uint8_t> wire;
        unsigned sent = 0;
        std::string lastError;
        EventLoop::Handle timer;
        // TCP fallback
        bool tcp = false;
        dns::Answer partial; // what the truncated UDP answer held
        UniqueFd tcpFd;
        EventLoop::Handle tcpWatch;
        std::vector<std::uint8_t> tcpOut;
        std::size_t tcpOutDone = 0;
        std::vector<std::uint8_t> tcpIn;
    };

    EventLoop& loop;
    Options opt;
    SockAddr server;
    UniqueFd udp;
    EventLoop::Handle udpWatch;
    std::unordered_map<std::uint64_t, std::unique_ptr<Query>> queries;
    std::unordered_map<std::uint16_t, Query*> byId;
    std::deque<std::uint64_t> waiting;
    std::uint64_t nextHandle = 1;
    Stats stats;
    std::array<std::uint16_t, 64> randomPool {};
    std::size_t randomLeft = 0;

    Impl(EventLoop& l, Options o)
        : loop(l)
        , opt(std::move(o))
        , server(toSockAddr(opt.server, opt.port))
    {
        if (opt.attempts == 0)
            opt.attempts = 1;
        if (opt.maxInFlight == 0)
            opt.maxInFlight = 1;
        int family = opt.server.family == 4 ? AF_INET : AF_INET6;
        udp.reset(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!udp)
            throw Error(fmt::format("DNS resolver: socket: {}", std::strerror(errno)));
        // Connected: the kernel delivers only datagrams from the server, and reports ICMP errors.
        if (::connect(udp.get(), server.get(), server.len) < 0)
            throw Error(fmt::format(
                "DNS resolver: connect to {} port {}: {}", opt.server.toString(), opt.port, std::strerror(errno)));
        udpWatch = loop.watchFd(
            udp.get(), EPOLLIN, [this](std::uint32_t) { onUdpReadable(); }, "dns resolver");
    }

    std::uint16_t randomId()
    {
        for (int tries = 0; tries < 100000; ++tries) {
            if (randomLeft == 0) {
                ssize_t n = getrandom(randomPool.data(), sizeof randomPool, 0);
                if (n != static_cast<ssize_t>(sizeof randomPool)) {
                    std::random_device rd;
                    for (auto& v : randomPool)
                        v = static_cast<std::uint16_t>(rd());
                }
                randomLeft = randomPool.size();
            }
            std::uint16_t id = randomPool[--randomLeft];
            if (!byId.contains(id))
                return id;
        }
        throw std::logic_error("DNS resolver: no free query ID");
    }

    void start(Query& q)
    {
        q.started = true;
        q.id = randomId();
        q.wire = dns::buildQuery(q.id, q.name, q.type, opt.ednsUdpSize);
        byId[q.id] = &q;
        sendUdp(q);
    }

    void armTimer(Query& q, std::chrono::milliseconds after)
    {
        auto h = q.handle;
        q.timer = loop.addTimer(
            after, [this, h] { onTimeout(h); }, "dns query timeout");
    }

    void sendUdp(Query& q)
    {
        if (q.sent > 0)
            ++stats.retries;
        ++q.sent;
        ++stats.sent;
        // A send that fails (EAGAIN, an ICMP error reported late) counts as a lost datagram: the
        // timer retries it.
        if (::send(udp.get(), q.wire.data(), q.wire.size(), 0) < 0)
            q.lastError = fmt::format("send: {}", std::strerror(errno));
        armTimer(q, opt.timeout);
    }

    void onTimeout(std::uint64_t handle)
    {
        auto it = queries.find(handle);
        if (it == queries.end())
            return;
        Query& q = *it->second;
        if (q.tcp) {
            finishTruncated(q, "no TCP answer in time");
            return;
        }
        if (q.sent < opt.attempts) {
            sendUdp(q);
            return;
        }
        ++stats.timeouts;
        Result r;
        r.status = Status::Timeout;
        r.detail = q.lastError.empty() ? fmt::format("no answer after {} attempts", q.sent) : q.lastError;
        finish(q, std::move(r));
    }

    void onUdpReadable()
    {
        std::array<std::uint8_t, 65536> buf;
        // Bounded, so that a flood cannot starve the rest of the loop; the fd stays readable.
        for (int i = 0; i < 256; ++i) {
            sockaddr_storage from {};
            socklen_t fromLen = sizeof from;
            ssize_t n = ::recvfrom(udp.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fromLen);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return;
                if (errno == EINTR)
                    continue;
                // ECONNREFUSED and friends: an ICMP error for some earlier datagram. It cannot be
                // matched to a query; the timers retry.
                continue;
            }
            if (!sameEndpoint(server, from, fromLen)) {
                ++stats.rejected;
                rejected("wrong source");
                continue;
            }
            onDatagram(std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(n)));
        }
    }

    // The query this message answers, or nullptr (counted as rejected).
    Query* match(const dns::Message& m)
    {
        auto it = byId.find(m.id);
        if (!m.response || it == byId.end()) {
            ++stats.rejected;
            rejected(m.response ? "unknown ID" : "not a response");
            return nullptr;
        }
        Query& q = *it->second;
        if (m.questions.size() != 1 || m.questions[0].name != q.name
            || m.questions[0].type != static_cast<std::uint16_t>(q.type) || m.questions[0].qclass != dns::kClassIn) {
            ++stats.rejected;
            rejected("question does not match", q.name);
            return nullptr;
        }
        return &q;
    }

    void onDatagram(std::span<const std::uint8_t> data)
    {
        dns::Message m;
        try {
            m = dns::parseMessage(data);
        } catch (const dns::ParseError& e) {
            ++stats.rejected;
            rejected(e.what());
            return;
        }
        Query* q = match(m);
        if (!q || q->tcp)
            return;
        onAnswer(*q, m, false);
    }

    void onAnswer(Query& q, const dns::Message& m, bool viaTcp)
    {
        if (m.truncated && !viaTcp && opt.tcpFallback) {
            q.partial = dns::extractAnswer(m, q.name, q.type);
            startTcp(q);
            return;
        }
        ++stats.answered;
        Result r;
        auto neg = dns::negativeTtl(m);
        switch (static_cast<dns::Rcode>(m.rcode)) {
        case dns::Rcode::NoError: {
            auto a = dns::extractAnswer(m, q.name, q.type);
            r.addresses = std::move(a.addresses);
            r.cnameChain = std::move(a.cnameChain);
            if (m.truncated) {
                r.status = Status::Truncated;
                r.ttl = a.ttl;
                r.detail = "truncated answer";
            } else if (!r.addresses.empty()) {
                r.status = Status::Ok;
                r.ttl = a.ttl;
            } else {
                r.status = Status::NoData;
                r.ttl = neg.value_or(0);
            }
            break;
        }
        case dns::Rcode::NxDomain:
            r.status = Status::NxDomain;
            r.ttl = neg.value_or(0);
            break;
        case dns::Rcode::Refused:
            r.status = Status::Refused;
            r.detail = "rcode 5 (REFUSED)";
            break;
        default:
            r.status = Status::ServerFailure;
            r.detail = fmt::format("rcode {}", m.rcode);
            break;
        }
        finish(q, std::move(r));
    }

    void startTcp(Query& q)
    {
        ++stats.tcpFallbacks;
        q.tcp = true;
        q.timer.reset();
        int family = opt.server.family == 4 ? AF_INET : AF_INET6;
        q.tcpFd.reset(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!q.tcpFd) {
            finishTruncated(q, fmt::format("TCP socket: {}", std::strerror(errno)));
            return;
        }
        if (::connect(q.tcpFd.get(), server.get(), server.len) < 0 && errno != EINPROGRESS) {
            finishTruncated(q, fmt::format("TCP connect: {}", std::strerror(errno)));
            return;
        }
        // RFC 1035 4.2.2: a two-octet length, then the message.
        q.tcpOut.clear();
        q.tcpOut.push_back(static_cast<std::uint8_t>(q.wire.size() >> 8));
        q.tcpOut.push_back(static_cast<std::uint8_t>(q.wire.size() & 0xff));
        q.tcpOut.insert(q.tcpOut.end(), q.wire.begin(), q.wire.end());
        q.tcpOutDone = 0;
        auto h = q.handle;
        q.tcpWatch = loop.watchFd(
            q.tcpFd.get(), EPOLLOUT, [this, h](std::uint32_t ev) { onTcpEvent(h, ev); }, "dns tcp");
        armTimer(q, opt.timeout * 2);
    }

    void onTcpEvent(std::uint64_t handle, std::uint32_t events)
    {
        auto it = queries.find(handle);
        if (it == queries.end())
            return;
        Query& q = *it->second;
        if (q.tcpOutDone < q.tcpOut.size()) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(q.tcpFd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                finishTruncated(q, fmt::format("TCP connect: {}", std::strerror(err)));
                return;
            }
            ssize_t n
                = ::send(q.tcpFd.get(), q.tcpOut.data() + q.tcpOutDone, q.tcpOut.size() - q.tcpOutDone, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno != EAGAIN && errno != EINTR)
                    finishTruncated(q, fmt::format("TCP send: {}", std::strerror(errno)));
                return;
            }
            q.tcpOutDone += static_cast<std::size_t>(n);
            if (q.tcpOutDone == q.tcpOut.size())
                loop.modifyFd(q.tcpWatch, EPOLLIN);
            return;
        }
        (void)events;
        std::array<std::uint8_t, 16384> buf;
        while (true) {
            ssize_t n = ::recv(q.tcpFd.get(), buf.data(), buf.size(), 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    return;
                finishTruncated(q, fmt::format("TCP receive: {}", std::strerror(errno)));
                return;
            }
            if (n == 0) {
                finishTruncated(q, "the server closed the TCP connection early");
                return;
            }
            q.tcpIn.insert(q.tcpIn.end(), buf.begin(), buf.begin() + n);
            if (q.tcpIn.size() >= 2) {
                std::size_t want = static_cast<std::size_t>(q.tcpIn[0]) << 8 | q.tcpIn[1];
                if (q.tcpIn.size() > 2 + kMaxTcpMessage || want < 12) {
                    finishTruncated(q, "bad TCP length");
                    return;
                }
                if (q.tcpIn.size() >= 2 + want) {
                    onTcpMessage(q, std::span<const std::uint8_t>(q.tcpIn.data() + 2, want));
                    return;
                }
            }
        }
    }

    void onTcpMessage(Query& q, std::span<const std::uint8_t> data)
    {
        dns::Message m;
        try {
            m = dns::parseMessage(data);
        } catch (const dns::ParseError& e) {
            ++stats.rejected;
            finishTruncated(q, e.what());
            return;
        }
        if (match(m) != &q) {
            finishTruncated(q, "the TCP answer does not match the query");
            return;
        }
        onAnswer(q, m, true);
    }

    // TCP did not work out: report the truncated UDP answer for what it is.
    void finishTruncated(Query& q, std::string detail)
    {
        Result r;
        r.status = Status::Truncated;
        r.addresses = q.partial.addresses;
        r.cnameChain = q.partial.cnameChain;
        r.ttl = q.partial.ttl;
        r.detail = std::move(detail);
        finish(q, std::move(r));
    }

    void finish(Query& q, Result r)
    {
        auto it = queries.find(q.handle);
        std::unique_ptr<Query> owned = std::move(it->second);
        queries.erase(it);
        if (owned->started)
            byId.erase(owned->id);
        owned->timer.reset();
        owned->tcpWatch.reset();
        owned->tcpFd.reset();
        r.name = owned->name;
        r.type = owned->type;
        pump();
        try {
            owned->cb(r);
        } catch (const std::exception& e) {
            log::write(log::Category::Dns, log::Level::Error, log::Event::InternalError,
                "exception escaped a DNS callback", { { "name", r.name }, { "reason", e.what() } });
        } catch (...) {
            log::write(log::Category::Dns, log::Level::Error, log::Event::InternalError,
                "exception escaped a DNS callback", { { "name", r.name } });
        }
    }

    void pump()
    {
        while (!waiting.empty() && byId.size() < opt.maxInFlight) {
            auto h = waiting.front();
            waiting.pop_front();
            if (auto it = queries.find(h); it != queries.end())
                start(*it->second);
        }
    }
};

Resolver::Resolver(EventLoop& loop, Options options)
    : m_impl(std::make_unique<Impl>(loop, std::move(options)))
{
}

Resolver::~Resolver() = default;

std::uint64_t Resolver::resolve(std::string_view name, dns::Type type, Callback cb)
{
    if (type != dns::Type::A && type != dns::Type::Aaaa)
        throw std::invalid_argument("the resolver asks for A and AAAA records only");
    if (!dns::isValidHostName(name))
        throw std::invalid_argument(fmt::format("not a valid host name: \"{}\"", name));
    auto normal = dns::normalizeName(name);
    if (isReverseName(normal))
        throw std::invalid_argument(fmt::format("reverse lookups are never made: \"{}\"", name));
    auto& impl = *m_impl;
    auto q = std::make_unique<Impl::Query>();
    q->handle = impl.nextHandle++;
    q->name = std::move(normal);
    q->type = type;
    q->cb = std::move(cb);
    auto handle = q->handle;
    auto* raw = q.get();
    impl.queries.emplace(handle, std::move(q));
    ++impl.stats.queries;
    if (impl.byId.size() < impl.opt.maxInFlight)
        impl.start(*raw);
    else
        impl.waiting.push_back(handle);
    return handle;
}

bool Resolver::cancel(std::uint64_t id)
{
    auto& impl = *m_impl;
    auto it = impl.queries.find(id);
    if (it == impl.queries.end())
        return false;
    if (it->second->started)
        impl.byId.erase(it->second->id);
    impl.queries.erase(it);
    impl.pump();
    return true;
}

std::size_t Resolver::inFlight() const noexcept { return m_impl->byId.size(); }
std::size_t Resolver::queued() const noexcept { return m_impl->waiting.size(); }
Resolver::Stats Resolver::stats() const noexcept { return m_impl->stats; }

} // namespace mudguard::controller
