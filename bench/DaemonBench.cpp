// The daemon end to end, in a network namespace of its own (needs root):
//
//   B8d cold start   from a saved state of N devices (default 10,000, ~20 MUD files in the
//                    cache) to all of them enforced, through Daemon::run's restore;
//   B1e join         from a dnsmasq hook datagram to the device's rules in force, with its MUD
//                    file cached and in force for other devices, on top of the N devices;
//   B7  burst        1,000 devices join at once on top of the N;
//   memory           resident memory per enforced device, and across rounds of 1,000 joins and
//                    leaves (no growth expected).
//
//   bench_daemon [--devices N] [--joins N] [--burst N] [--rounds N] [--state-dir DIR]
//
// The state directory (default under /var/tmp, so that SQLite's fsyncs hit a real file system)
// is removed at the end.

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mudguard/controller/DaemonConfig.h"
#include "mudguard/controller/HookEvent.h"
#include "mudguard/controller/Log.h"
#include "mudguard/controller/Store.h"
#include "mudguard/mudparser/Parser.h"

#include "Harness.h"
#include "daemon/Daemon.h"

using namespace mudguard;
using namespace mudguard::controller;
using Steady = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& what)
{
    std::cerr << "bench_daemon: " << what << '\n';
    std::exit(2);
}

void sh(const std::string& command)
{
    if (std::system(command.c_str()) != 0)
        die("failed: " + command);
}

long rssKiB()
{
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return std::strtol(line.c_str() + 6, nullptr, 10);
    return 0;
}

std::string macFor(unsigned prefix, unsigned i)
{
    return fmt::format(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", prefix, (i >> 24) & 0xff, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
}

std::string ipFor(unsigned prefix, unsigned i)
{
    return fmt::format("100.{}.{}.{}", prefix, (i >> 8) & 0xff, i & 0xff);
}

/// A MUD file with `aces` outbound TCP ACEs to literal networks (no DNS names: the namespace has
/// no resolver) and the matching inbound answers.
std::string mudFile(const std::string& url, unsigned n, unsigned aces)
{
    std::string from, to;
    for (unsigned i = 0; i < aces; ++i) {
        auto ace = [&](bool out) {
            return fmt::format(
                R"({{"name": "svc-{0}", "matches": {{"ipv4": {{"protocol": 6, "{1}-ipv4-network": "198.51.{2}.{3}/32"}}, "tcp": {{"{4}-port": {{"operator": "eq", "port": {5}}}}}}}, "actions": {{"forwarding": "accept"}}}})",
                i, out ? "destination" : "source", n % 200, i + 1, out ? "destination" : "source", 443 + i);
        };
        from += (i ? ",\n" : "") + ace(true);
        to += (i ? ",\n" : "") + ace(false);
    }
    return fmt::format(R"json({{
  "ietf-mud:mud": {{
    "mud-version": 1, "mud-url": "{0}", "last-update": "2026-11-01T10:00:00+00:00",
    "cache-validity": 168, "is-supported": true, "systeminfo": "benchmark device {1}",
    "from-device-policy": {{"access-lists": {{"access-list": [{{"name": "from-dev"}}]}}}},
    "to-device-policy": {{"access-lists": {{"access-list": [{{"name": "to-dev"}}]}}}}
  }},
  "ietf-access-control-list:acls": {{"acl": [
    {{"name": "from-dev", "type": "ipv4-acl-type", "aces": {{"ace": [{2}]}}}},
    {{"name": "to-dev", "type": "ipv4-acl-type", "aces": {{"ace": [{3}]}}}}
  ]}}
}}
)json",
        url, n, from, to);
}

/// Devices enforced after joining, as the daemon reports them.
class Enforced {
public:
    void add(const std::string& mac)
    {
        std::lock_guard lock(m_mutex);
        m_done[mac] = Steady::now();
        m_cv.notify_all();
    }
    /// Waits for `mac`; returns when it was enforced.
    Steady::time_point wait(const std::string& mac)
    {
        std::unique_lock lock(m_mutex);
        if (!m_cv.wait_for(lock, std::chrono::seconds(30), [&] { return m_done.count(mac) > 0; }))
            die("device " + mac + " was not enforced within 30 s");
        return m_done[mac];
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::map<std::string, Steady::time_point> m_done;
};

class HookClient {
public:
    explicit HookClient(const std::filesystem::path& socket)
    {
        m_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        std::memset(&m_addr, 0, sizeof m_addr);
        m_addr.sun_family = AF_UNIX;
        std::strncpy(m_addr.sun_path, socket.c_str(), sizeof m_addr.sun_path - 1);
    }
    ~HookClient() { ::close(m_fd); }
    void send(LeaseAction action, const std::string& mac, const std::string& ip, const std::string& url)
    {
        LeaseEvent e;
        e.action = action;
        e.mac = MacAddress::parse(mac);
        e.address = *IpAddress::parse(ip);
        e.mudUrl = url;
        e.interface = "br-bench";
        auto d = encodeHookDatagram(e);
        if (::sendto(m_fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&m_addr), sizeof m_addr) < 0)
            die(fmt::format("sendto: {}", std::strerror(errno)));
    }

private:
    int m_fd = -1;
    sockaddr_un m_addr {};
};

double percentile(std::vector<double> v, double p)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

} // namespace

int main(int argc, char** argv)
{
    unsigned devices = 10000, policies = 20, joins = 300, burst = 1000, rounds = 10;
    std::filesystem::path base = "/var/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        unsigned v = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
        if (a == "--devices")
            devices = v;
        else if (a == "--joins")
            joins = v;
        else if (a == "--burst")
            burst = v;
        else if (a == "--rounds")
            rounds = v;
        else if (a == "--state-dir")
            base = argv[i + 1];
        else
            die("unknown option " + a);
    }
    if (geteuid() != 0)
        die("needs root (it runs the daemon in a network namespace of its own)");
    if (::unshare(CLONE_NEWNET) != 0)
        die(fmt::format("unshare(CLONE_NEWNET): {}", std::strerror(errno)));
    sh("ip link set lo up && ip link add br-bench type bridge && ip addr add 192.0.2.1/24 dev br-bench "
       "&& ip link set br-bench up");
    log::applyLevelSpec("warning");

    auto dir = base / fmt::format("mudguard-bench-{}", ::getpid());
    std::filesystem::create_directories(dir / "state");
    std::cout << "bench_daemon: " << bench::machine() << "; state in " << dir << '\n';

    // The saved state: MUD files in the cache, devices bound to them with an address each.
    std::vector<std::string> urls;
    {
        Store store(dir / "state" / "mudguard.db");
        Store::Transaction t(store);
        auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
        for (unsigned p = 0; p < policies; ++p) {
            urls.push_back(fmt::format("https://maker{}.example.com/device-{}.json", p % 5, p));
            MudCacheRow row;
            row.url = urls.back();
            row.document = mudFile(row.url, p, 4 + p % 6);
            row.fetchedAt = row.verifiedAt = now;
            row.cacheValidityHours = 168;
            store.putMudCache(row);
        }
        for (unsigned i = 0; i < devices; ++i) {
            DeviceRow row;
            row.mac = macFor(0x10, i);
            row.state = DeviceState::Enforced;
            row.mudUrl = urls[i % policies];
            row.policyId = "restored";
            store.putDevice(row);
            store.putBinding(row.mac, row.mudUrl, DeviceSource::Dhcp);
            store.touchAddress(row.mac, ipFor(64 + i / 65536, i % 65536));
        }
        t.commit();
    }
    auto configFile = dir / "mudguard.json";
    {
        std::ofstream cfg(configFile);
        cfg << fmt::format(R"({{ "mudguard-config:mudguard": {{
  "lan": {{ "interface": ["br-bench"], "prefix": ["192.0.2.0/24", "100.64.0.0/10"], "router-address": ["192.0.2.1"] }},
  "state-directory": "{}", "hook-socket": "{}",
  "api": {{ "enabled": false }},
  "trust": {{ "signature": "off" }},
  "dns": {{ "snoop-answers": false }},
  "discovery": {{ "neighbours": false }},
  "posture": {{ "leave-grace-seconds": 0 }}
}} }})",
            (dir / "state").string(), (dir / "hook.sock").string());
    }
    auto schemaDir = mudparser::Parser::defaultSchemaDir();
    auto loaded = loadDaemonConfig(configFile, schemaDir);
    if (!loaded.config) {
        for (const auto& d : loaded.report.diagnostics)
            std::cerr << mudparser::formatText(d) << '\n';
        die("the benchmark's configuration is invalid");
    }

    Enforced enforced;
    std::promise<void> ready;
    DaemonOptions opts;
    opts.configFile = configFile;
    opts.schemaDir = schemaDir;
    opts.onReady = [&] { ready.set_value(); };
    opts.onEnforced = [&](const std::string& mac) { enforced.add(mac); };

    long rssBefore = rssKiB();
    auto t0 = Steady::now();
    Daemon daemon(std::move(*loaded.config), std::move(opts));
    std::thread loop([&] { daemon.run(); });
    ready.get_future().wait();
    double coldMs = std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
    long rssAfter = rssKiB();
    std::cout << fmt::format(
        "B8d cold start, {} saved devices, {} MUD files: {:.0f} ms to all enforced\n", devices, policies, coldMs);
    std::cout << fmt::format("memory: {} KiB resident before, {} KiB with {} devices enforced: {:.2f} KiB per device\n",
        rssBefore, rssAfter, devices, static_cast<double>(rssAfter - rssBefore) / devices);

    HookClient hook(dir / "hook.sock");
    // B1e: one join at a time, its MUD file in force for other devices already.
    std::vector<double> lat;
    for (unsigned j = 0; j < joins; ++j) {
        auto mac = macFor(0x20, j);
        auto start = Steady::now();
        hook.send(LeaseAction::Add, mac, ipFor(96, j), urls[j % policies]);
        auto done = enforced.wait(mac);
        lat.push_back(std::chrono::duration<double, std::milli>(done - start).count());
    }
    std::cout << fmt::format(
        "B1e join to enforce at {} devices ({} joins): p50 {:.2f} ms, p90 {:.2f} ms, p99 {:.2f} ms, "
        "max {:.2f} ms\n",
        devices, joins, percentile(lat, 0.5), percentile(lat, 0.9), percentile(lat, 0.99), percentile(lat, 1.0));

    // B7: a burst of joins at once.
    {
        auto start = Steady::now();
        for (unsigned j = 0; j < burst; ++j)
            hook.send(LeaseAction::Add, macFor(0x30, j), ipFor(100, j), urls[j % policies]);
        Steady::time_point last = start;
        for (unsigned j = 0; j < burst; ++j)
            last = std::max(last, enforced.wait(macFor(0x30, j)));
        std::cout << fmt::format("B7 burst: {} joins at once on top of {}: all enforced in {:.0f} ms\n", burst,
            devices + joins, std::chrono::duration<double, std::milli>(last - start).count());
    }

    // Memory across rounds of joins and leaves (leaves unbind after a grace time of 0 s).
    std::vector<long> rss;
    for (unsigned r = 0; r < rounds; ++r) {
        for (unsigned j = 0; j < 1000; ++j)
            hook.send(LeaseAction::Add, macFor(0x40 + r, j), ipFor(110 + r, j), urls[j % policies]);
        for (unsigned j = 0; j < 1000; ++j)
            enforced.wait(macFor(0x40 + r, j));
        for (unsigned j = 0; j < 1000; ++j)
            hook.send(LeaseAction::Del, macFor(0x40 + r, j), ipFor(110 + r, j), urls[j % policies]);
        std::this_thread::sleep_for(std::chrono::milliseconds(2500)); // the unbind sweep runs every second
        rss.push_back(rssKiB());
    }
    if (!rss.empty()) {
        std::string line;
        for (auto v : rss)
            line += fmt::format(" {}", v);
        std::cout << fmt::format("memory after each of {} rounds of 1,000 joins and leaves (KiB):{}\n", rounds, line);
        std::cout << fmt::format("growth from round 2 to round {}: {} KiB\n", rounds,
            rss.back() - rss[std::min<std::size_t>(1, rss.size() - 1)]);
    }
    daemon.stop();
    loop.join();
    std::filesystem::remove_all(dir);
    return 0;
}
