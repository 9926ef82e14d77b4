// The HTTP API under load: `GET /api/v1/devices/{mac}` over N keep-alive connections from a second
// process, against an ApiServer with its shipped defaults (4 workers, 32 connections, 100 requests
// per connection) and an in-memory backend of 10,000 devices, while a writer thread changes
// devices (simulated joins) under the backend's lock. Run from a release build:
//
//   bench/run api [-- --devices 10000 --connections 1,4,8,16 --seconds 5 --joins 1000]
//
// The load generator is this program again (`--client`, started with posix_spawn), so that client
// and server do not share a process, an allocator or a scheduler queue. It speaks HTTP/1.1 over
// plain sockets, reconnects when the server ends a connection (after 100 requests, or when an idle
// connection gives way to a waiting one) and counts the reconnection in that request's latency.
// Figures are recorded in docs/benchmarks.md.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mudguard/controller/ApiBackend.h"
#include "mudguard/controller/ApiServer.h"
#include "mudguard/controller/Log.h"
#include "mudguard/controller/Metrics.h"

#include "Harness.h"
#include "api/ApiJson.h"

extern char** environ;

using namespace mudguard::controller;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kTokenVariable = "MUDGUARD_BENCH_TOKEN";

std::string macOf(int i)
{
    return fmt::format("02:00:00:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
}

Timestamp now() { return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()); }

/// A device as the daemon would describe it: history, two addresses, signed MUD file, a policy of
/// a few rules with its nft text, counters and violations (about 3 KB of JSON).
api::DeviceDetail makeDevice(int i)
{
    api::DeviceDetail d;
    const Timestamp t = now();
    d.device.mac = macOf(i);
    d.device.state = DeviceState::Enforced;
    d.device.mudUrl = fmt::format("https://mud.maker{}.example/lamp-{}.json", i % 50, i % 7);
    d.device.addresses
        = { fmt::format("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff), fmt::format("2001:db8::{:x}", i) };
    d.device.policyId = fmt::format("p{}", i % 350);
    d.device.createdAt = d.device.stateSince = d.device.updatedAt = t;
    d.history = { { d.device.mac, t, std::nullopt, DeviceState::Pending, "announced by DHCP" },
        { d.device.mac, t, DeviceState::Pending, DeviceState::Fetching, "" },
        { d.device.mac, t, DeviceState::Fetching, DeviceState::Enforced, "policy applied" } };
    for (const auto& a : d.device.addresses)
        d.addresses.push_back({ d.device.mac, a, a.find(':') == std::string::npos ? 4 : 6, t, t });
    api::MudMetadata m;
    m.mudUrl = d.device.mudUrl;
    m.lastUpdate = "2024-05-01T10:00:00+00:00";
    m.systeminfo = "A lamp that talks to its maker's cloud";
    m.mfgName = fmt::format("Maker {}", i % 50);
    m.modelName = "Lamp";
    m.mudSignature = d.device.mudUrl.substr(0, d.device.mudUrl.size() - 4) + "p7s";
    d.mud = m;
    api::Signer s;
    s.status = api::Signer::Status::Verified;
    s.subject = fmt::format("CN=Maker {} MUD signer", i % 50);
    s.issuer = "CN=Maker root";
    s.fingerprint = std::string(64, 'a');
    s.chain = { s.subject, s.issuer };
    d.signer = s;
    d.fetchedAt = t;
    d.validUntil = t + std::chrono::hours(48);
    d.policySummary = { "may connect to cloud.maker.example on tcp port 443",
        "may be reached from cloud.maker.example on tcp port 443", "may use NTP (udp 123) with ntp.maker.example",
        "everything else is dropped" };
    for (int k = 0; k < 3; ++k)
        d.nftRules += fmt::format(
            "ip daddr @mud_p{}_{} tcp dport 443 counter accept comment \"acl from-dev ace {}\"\n", i % 350, k, k);
    d.counters.aces = { { "from-dev", "cl0", "from-device", 120, 48000 }, { "to-dev", "cl0", "to-device", 118, 52000 },
        { "from-dev", "ntp0", "from-device", 4, 304 } };
    d.counters.dropPackets = 3;
    d.counters.dropBytes = 180;
    d.counters.readAt = t;
    d.violations
        = { { t, "from-device", "198.51.100.7", "tcp", 23, 2 }, { t, "from-device", "203.0.113.9", "udp", 53, 1 } };
    return d;
}

/// Reads from a map under a shared lock; "joins" change devices under the exclusive lock.
class MemoryBackend : public ApiBackend {
public:
    explicit MemoryBackend(int devices)
    {
        m_devices.reserve(static_cast<std::size_t>(devices));
        for (int i = 0; i < devices; ++i)
            m_devices.emplace(macOf(i), makeDevice(i));
    }

    /// One simulated join: the device goes through pending to enforced again.
    void join(int i)
    {
        const Timestamp t = now();
        std::unique_lock lock(m_mutex);
        auto& d = m_devices.at(macOf(i));
        d.device.stateSince = d.device.updatedAt = t;
        d.history.push_back({ d.device.mac, t, DeviceState::Enforced, DeviceState::Enforced, "joined again" });
        if (d.history.size() > 8)
            d.history.erase(d.history.begin());
    }

    std::vector<api::Device> devices() override
    {
        std::shared_lock lock(m_mutex);
        std::vector<api::Device> out;
        for (const auto& [mac, d] : m_devices)
            out.push_back(d.device);
        return out;
    }
    api::DeviceDetail device(const std::string& mac) override
    {
        std::shared_lock lock(m_mutex);
        auto it = m_devices.find(mac);
        if (it == m_devices.end())
            throw api::NotFound("no device with MAC " + mac);
        return it->second;
    }
    std::vector<api::Policy> policies() override { return {}; }
    api::PolicyDetail policy(const std::string& id) override { throw api::NotFound("no policy " + id); }
    AuditPage events(const AuditQuery&) override { return {}; }
    api::Health health() override { return { true, {}, now(), m_devices.size() }; }

    api::ActionOutcome registerDevice(const api::RegisterDevice&, const api::Actor&) override { return readOnly(); }
    api::ActionOutcome removeDevice(const std::string&, const api::Actor&) override { return readOnly(); }
    api::ActionOutcome refreshDevice(const std::string&, const api::Actor&) override { return readOnly(); }
    api::ActionOutcome quarantineDevice(const std::string&, const std::string&, const api::Actor&) override
    {
        return readOnly();
    }
    api::ActionOutcome releaseDevice(const std::string&, const api::Actor&) override { return readOnly(); }
    api::ActionOutcome acceptSigner(const std::string&, const std::optional<std::string>&, const api::Actor&) override
    {
        return readOnly();
    }
    api::ActionOutcome refuseSigner(const std::string&, const std::optional<std::string>&, const api::Actor&) override
    {
        return readOnly();
    }
    api::ActionOutcome reloadConfig(const api::Actor&) override { return readOnly(); }

private:
    static api::ActionOutcome readOnly() { throw api::Unavailable("the benchmark backend is read-only"); }

    std::shared_mutex m_mutex;
    std::unordered_map<std::string, api::DeviceDetail> m_devices;
};

// --- the load generator (the second process) ------------------------------------------------------

struct ClientResult {
    std::vector<double> micros; ///< per request, after the warm-up
    std::uint64_t errors = 0; ///< answers other than 200, or a connection that failed twice in a row
    std::uint64_t reconnects = 0;
};

int connectTo(std::uint16_t port)
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a {};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// Sends `request` and reads one response. Returns the status, or 0 when the connection ended
/// first. `close` is set when the server said `Connection: close`.
int exchange(int fd, const std::string& request, std::string& buf, bool& close)
{
    for (std::size_t sent = 0; sent < request.size();) {
        ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n <= 0)
            return 0;
        sent += static_cast<std::size_t>(n);
    }
    buf.clear();
    std::size_t headEnd = std::string::npos, total = std::string::npos;
    char chunk[16384];
    for (;;) {
        if (headEnd == std::string::npos && (headEnd = buf.find("\r\n\r\n")) != std::string::npos) {
            std::string head = buf.substr(0, headEnd);
            for (auto& c : head)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            auto cl = head.find("\r\ncontent-length:");
            total = headEnd + 4 + (cl == std::string::npos ? 0 : std::strtoul(head.c_str() + cl + 17, nullptr, 10));
            close = head.find("\r\nconnection: close") != std::string::npos;
        }
        if (total != std::string::npos && buf.size() >= total)
            return buf.size() > 12 ? std::atoi(buf.c_str() + 9) : 0;
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0)
            return 0;
        buf.append(chunk, static_cast<std::size_t>(n));
    }
}

ClientResult clientThread(std::uint16_t port, const std::string& token, int devices, unsigned seed,
    Clock::time_point measureFrom, Clock::time_point end)
{
    ClientResult r;
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pick(0, devices - 1);
    std::string buf;
    int fd = -1;
    while (Clock::now() < end) {
        const std::string request = "GET /api/v1/devices/" + macOf(pick(rng))
            + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token + "\r\n\r\n";
        const auto t0 = Clock::now();
        int status = 0;
        bool close = false;
        // A keep-alive connection the server ended while idle is not an error: connect again.
        for (int attempt = 0; attempt < 2 && status == 0; ++attempt) {
            if (fd < 0) {
                fd = connectTo(port);
                ++r.reconnects;
            }
            if (fd >= 0)
                status = exchange(fd, request, buf, close);
            if (status == 0 || close) {
                if (fd >= 0)
                    ::close(fd);
                fd = -1;
            }
        }
        if (t0 < measureFrom)
            continue;
        r.micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        if (status != 200)
            ++r.errors;
    }
    if (fd >= 0)
        ::close(fd);
    return r;
}

/// `--client PORT CONNECTIONS SECONDS DEVICES`: prints "requests errors reconnects seconds p50 p99 max".
int runClient(char** argv)
{
    const auto port = static_cast<std::uint16_t>(std::atoi(argv[2]));
    const int connections = std::atoi(argv[3]);
    const double seconds = std::atof(argv[4]);
    const int devices = std::atoi(argv[5]);
    const char* token = std::getenv(kTokenVariable);
    if (!token || connections < 1 || devices < 1) {
        std::fprintf(stderr, "bench_api --client: bad arguments\n");
        return 2;
    }
    const auto start = Clock::now();
    const auto measureFrom = start + std::chrono::milliseconds(500);
    const auto end = measureFrom + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    std::vector<ClientResult> results(static_cast<std::size_t>(connections));
    std::vector<std::thread> threads;
    for (int c = 0; c < connections; ++c)
        threads.emplace_back([&, c] {
            results[static_cast<std::size_t>(c)]
                = clientThread(port, token, devices, 1000u + static_cast<unsigned>(c), measureFrom, end);
        });
    for (auto& t : threads)
        t.join();
    ClientResult all;
    for (auto& r : results) {
        all.micros.insert(all.micros.end(), r.micros.begin(), r.micros.end());
        all.errors += r.errors;
        all.reconnects += r.reconnects;
    }
    std::sort(all.micros.begin(), all.micros.end());
    auto at = [&](double p) {
        return all.micros.empty() ? 0.0
                                  : all.micros[std::min(all.micros.size() - 1,
                                      static_cast<std::size_t>(p * static_cast<double>(all.micros.size())))];
    };
    std::printf("%zu %llu %llu %.3f %.1f %.1f %.1f\n", all.micros.size(), static_cast<unsigned long long>(all.errors),
        static_cast<unsigned long long>(all.reconnects), seconds, at(0.5), at(0.99),
        all.micros.empty() ? 0.0 : all.micros.back());
    return 0;
}

// --- the server side ------------------------------------------------------------------------------

/// Starts this program as the load generator and returns its result line.
std::string runLoad(std::uint16_t port, int connections, double seconds, int devices, const std::string& token)
{
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    std::vector<std::string> args = { "bench_api", "--client", std::to_string(port), std::to_string(connections),
        fmt::format("{}", seconds), std::to_string(devices) };
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    ::setenv(kTokenVariable, token.c_str(), 1);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) {
        ::close(out[0]);
        throw std::runtime_error(std::string("cannot start the load generator: ") + std::strerror(rc));
    }
    std::string line;
    char buf[256];
    ssize_t n;
    while ((n = ::read(out[0], buf, sizeof buf)) > 0)
        line.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("the load generator failed");
    return line;
}

std::vector<int> parseList(const std::string& s)
{
    std::vector<int> out;
    for (std::size_t pos = 0; pos <= s.size();) {
        auto comma = s.find(',', pos);
        out.push_back(std::atoi(s.substr(pos, comma - pos).c_str()));
        if (comma == std::string::npos)
            break;
        pos = comma + 1;
    }
    return out;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc == 6 && std::string(argv[1]) == "--client")
        return runClient(argv);

    int devices = 10'000, joinsPerSecond = 1000;
    double seconds = 5;
    std::vector<int> connections = { 1, 4, 8, 16 };
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string opt = argv[i], value = argv[i + 1];
        if (opt == "--devices")
            devices = std::max(1, std::atoi(value.c_str()));
        else if (opt == "--connections")
            connections = parseList(value);
        else if (opt == "--seconds")
            seconds = std::max(0.5, std::atof(value.c_str()));
        else if (opt == "--joins")
            joinsPerSecond = std::max(0, std::atoi(value.c_str()));
        else {
            std::fprintf(stderr, "usage: bench_api [--devices N] [--connections 1,4,8,16] [--seconds S] [--joins R]\n");
            return 2;
        }
    }
    log::setLevel(log::Level::Warning);

    std::printf("machine: %s\n", mudguard::bench::machine().c_str());
    std::printf(
        "%d devices, %.1f s per run after 0.5 s warm-up, %d simulated joins/s\n\n", devices, seconds, joinsPerSecond);
    MemoryBackend backend(devices);

    // The same work without HTTP: backend lookup (a copy under the shared lock) and the JSON.
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> pick(0, devices - 1);
    std::size_t bytes = 0;
    auto inProcess = mudguard::bench::measure("in process: device(mac) + JSON", [&] {
        bytes = api::deviceDetailJson(backend.device(macOf(pick(rng)))).size();
        return 1;
    });
    mudguard::bench::print(inProcess, "req");
    std::printf("JSON answer: %zu bytes\n\n", bytes);

    Metrics registry;
    MudguardMetrics metrics(registry, "bench");
    ApiServerOptions options;
    options.port = 0;
    const std::string token = newApiToken();
    options.tokens = { { "bench", *parseSha256Hex(apiTokenSha256Hex(token)), ApiRole::Auditor } };
    ApiServer server(backend, metrics, options);
    server.start();

    std::atomic<bool> stop { false };
    std::atomic<std::uint64_t> joins { 0 };
    std::thread joiner([&] {
        if (joinsPerSecond == 0)
            return;
        const auto period = std::chrono::nanoseconds(1'000'000'000 / joinsPerSecond);
        auto next = Clock::now();
        std::mt19937 r(11);
        while (!stop.load()) {
            backend.join(pick(r));
            joins.fetch_add(1);
            next += period;
            std::this_thread::sleep_until(next);
        }
    });

    std::printf("%-12s %10s %10s %10s %10s %8s %11s %9s %12s\n", "connections", "req/s", "p50 ms", "p99 ms", "max ms",
        "errors", "reconnects", "joins/s", "p50/in-proc");
    int status = 0;
    for (int n : connections) {
        const auto before = joins.load();
        const auto t0 = Clock::now();
        std::string line;
        try {
            line = runLoad(server.port(), n, seconds, devices, token);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "bench_api: %s\n", e.what());
            status = 1;
            break;
        }
        const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
        unsigned long long requests = 0, errors = 0, reconnects = 0;
        double secs = 0, p50 = 0, p99 = 0, max = 0;
        if (std::sscanf(line.c_str(), "%llu %llu %llu %lf %lf %lf %lf", &requests, &errors, &reconnects, &secs, &p50,
                &p99, &max)
            != 7) {
            std::fprintf(stderr, "bench_api: unreadable result \"%s\"\n", line.c_str());
            status = 1;
            break;
        }
        std::printf("%-12d %10.0f %10.3f %10.3f %10.3f %8llu %11llu %9.0f %12.0f\n", n,
            static_cast<double>(requests) / secs, p50 / 1000, p99 / 1000, max / 1000, errors, reconnects,
            static_cast<double>(joins.load() - before) / wall, p50 / inProcess.microsEach());
        std::fflush(stdout);
        if (errors)
            status = 1;
    }
    stop = true;
    joiner.join();
    server.stop();
    return status;
}
