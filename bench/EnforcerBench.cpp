// Enforcement costs in a network namespace of its own (needs root): the kernel update of one
// device join against the number of devices already enforced (B1), forwarded packets per second
// through the gateway against no ruleset, a verdict-map dispatch and a linear chain (B3), kernel
// memory per enforced device (B5), one DNS name's address change with 1 and 1 000 devices using
// the name (B6) and the cold start of 10 000 saved devices (B8).
//
//   bench_enforcer [--only b1,b3,b5,b6,b8] [--seconds S]
//
// The namespaces are created by the benchmark and removed when it ends. Figures are medians
// within one run; compare them as ratios (the machine is shared and noisy).
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mudguard/enforcer/Enforcer.h"
#include "mudguard/enforcer/NetlinkApplier.h"

using namespace mudguard::enforcer;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kPolicies = 20;
constexpr int kRttProbes = 500; // UDP echoes per ruleset and round (B3 latency)
const std::string kDnsName = "svc.bench.example";

std::string sh(const std::string& cmd, bool check = true)
{
    std::string out;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p)
        throw std::runtime_error("cannot run " + cmd);
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
        out.append(buf, n);
    int rc = ::pclose(p);
    if (check && rc != 0)
        throw std::runtime_error(fmt::format("{} failed: {}", cmd, out));
    return out;
}

/// The namespaces this run holds, for the signal handler: a run stopped with ^C or a TERM
/// removes them too. Fixed storage, so that the handler only reads memory and makes system calls.
struct LiveNamespaces {
    static constexpr std::size_t kMax = 16, kPath = 96;
    std::array<std::array<char, kPath>, kMax> paths {};
    void add(const std::string& name)
    {
        for (auto& p : paths)
            if (p[0] == '\0') {
                *fmt::format_to_n(p.data(), kPath - 1, "/run/netns/{}", name).out = '\0';
                return;
            }
    }
    void remove(const std::string& name)
    {
        for (auto& p : paths)
            if (p[0] != '\0' && name == std::string_view(p.data()).substr(std::string_view("/run/netns/").size()))
                p[0] = '\0';
    }
};
LiveNamespaces g_live;

extern "C" void removeNamespacesAndDie(int sig)
{
    // What `ip netns delete` does: detach the namespace's bind mount and remove the file.
    for (auto& p : g_live.paths)
        if (p[0] != '\0') {
            ::umount2(p.data(), MNT_DETACH);
            ::unlink(p.data());
        }
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

/// A namespace created for the run and deleted with it.
class Netns {
public:
    explicit Netns(std::string name)
        : m_name(std::move(name))
    {
        sh("ip netns add " + m_name);
        g_live.add(m_name);
        sh("ip -n " + m_name + " link set lo up");
    }
    ~Netns()
    {
        sh("ip netns delete " + m_name, false);
        g_live.remove(m_name);
    }
    Netns(const Netns&) = delete;
    Netns& operator=(const Netns&) = delete;
    const std::string& name() const { return m_name; }
    std::string exec(const std::string& cmd, bool check = true) const
    {
        return sh("ip netns exec " + m_name + " " + cmd, check);
    }

private:
    std::string m_name;
};

void enter(const std::string& ns)
{
    int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0)
        throw std::runtime_error("cannot enter " + ns);
    ::close(fd);
}

void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % std::max(1u, std::thread::hardware_concurrency()), &set);
    ::sched_setaffinity(0, sizeof set, &set);
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double> v, double p)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

MacAddress macOf(std::uint32_t i)
{
    return MacAddress { { 0x02, 0x10, static_cast<std::uint8_t>(i >> 24), static_cast<std::uint8_t>(i >> 16),
        static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i) } };
}

std::vector<IpAddress> addressesOf(std::uint32_t i)
{
    IpAddress v4;
    v4.family = Family::Ipv4;
    v4.bytes = { 10, 100, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i) };
    IpAddress v6;
    v6.family = Family::Ipv6;
    v6.bytes = { 0xfd, 0, 0, 0x64, 0, 0, 0, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(i >> 24),
        static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i) };
    return { v4, v6 };
}

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

/// A MUD-like policy: a cloud service by DNS name, NTP and DNS controllers, the local network,
/// a fixed server, and a UDP allowance to the benchmark server (the last rule: the packet path
/// walks the whole policy).
Policy benchPolicy(int k)
{
    Policy p { fmt::format("bench{}", k), fmt::format("https://maker{}.example.com/device.json", k), {}, {} };
    auto rule = [](std::string name) {
        Rule r;
        r.name = std::move(name);
        return r;
    };
    Rule cloud = rule("cloud/https");
    cloud.protocol = 6;
    cloud.dstSet = SetRef { SetRef::Kind::DnsName, k == 0 ? kDnsName : fmt::format("api{}.example.com", k) };
    cloud.dstPort = PortSpec::eq(443);
    cloud.initiatedBy = Initiator::Device;
    Rule ntp = rule("infra/ntp");
    ntp.protocol = 17;
    ntp.dstSet = SetRef { SetRef::Kind::Controller, "urn:ietf:params:mud:ntp" };
    ntp.dstPort = PortSpec::eq(123);
    Rule lan = rule("lan/http");
    lan.protocol = 6;
    lan.dstSet = SetRef { SetRef::Kind::LocalNetworks, "" };
    lan.dstPort = PortSpec::range(8000, 8100);
    Rule fixed = rule("fixed/mqtt");
    fixed.family = Family::Ipv4;
    fixed.protocol = 6;
    fixed.dstNet = Prefix::parse("198.51.100.0/24");
    fixed.dstPort = PortSpec::eq(static_cast<std::uint16_t>(8883 + k));
    Rule bench = rule("bench/udp");
    bench.family = Family::Ipv4;
    bench.protocol = 17;
    bench.dstNet = Prefix::parse("10.2.0.2");
    bench.dstPort = PortSpec::eq(9000);
    p.fromDevice = { cloud, ntp, lan, fixed, bench };
    Rule back = rule("cloud/https-in");
    back.protocol = 6;
    back.srcSet = cloud.dstSet;
    back.srcPort = PortSpec::eq(443);
    back.initiatedBy = Initiator::Device;
    p.toDevice = { back };
    return p;
}

/// The saved state of `devices` devices spread over the policies.
Transaction savedState(std::uint32_t devices, std::uint32_t first = 0)
{
    Transaction t;
    for (int k = 0; k < kPolicies; ++k)
        t.installPolicy(benchPolicy(k));
    t.setClassPrefixes(
        { SetRef::Kind::LocalNetworks, "" }, { *Prefix::parse("10.100.0.0/16"), *Prefix::parse("fd00:0:0:64::/64") });
    t.setClassPrefixes({ SetRef::Kind::Controller, "urn:ietf:params:mud:ntp" }, { *Prefix::parse("10.1.0.1") });
    for (std::uint32_t i = first; i < first + devices; ++i) {
        t.setDevice(macOf(i), Assignment::policy(fmt::format("bench{}", i % kPolicies)));
        t.setAddresses(macOf(i), addressesOf(i));
    }
    return t;
}

std::unique_ptr<Enforcer> makeEnforcer(const std::string& ns)
{
    // The applier's sockets belong to the namespace they are opened in.
    int self = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    enter(ns);
    auto applier = makeNetlinkApplier();
    ::setns(self, CLONE_NEWNET);
    ::close(self);
    return std::make_unique<Enforcer>(std::move(applier));
}

void clearTables(const Netns& ns)
{
    ns.exec("nft delete table inet mudguard", false);
    ns.exec("nft delete table bridge mudguard", false);
}

// ---- B1 join cost and B8 cold start --------------------------------------------------------

void benchJoin(int rounds)
{
    const std::vector<std::uint32_t> sizes { 10, 100, 1000, 10000 };
    std::cout << "B1 join: one device (MAC, IPv4, IPv6) joins while N devices over " << kPolicies
              << " policies are enforced; " << rounds
              << " joins and leaves per N, interleaved across N (one namespace per N)\n";
    std::cout << fmt::format(
        "  {:>6} | {:>10} | {:>10} | {:>10} | {:>10}\n", "N", "join p50", "join p90", "leave p50", "setup");
    // All sizes are enforced at once, each in its own namespace, and every round joins one device
    // in each: a slow phase of the machine then affects every N alike.
    std::vector<std::unique_ptr<Netns>> spaces;
    std::vector<std::unique_ptr<Enforcer>> enforcers;
    std::vector<double> setup;
    for (std::uint32_t n : sizes) {
        spaces.push_back(std::make_unique<Netns>(fmt::format("mgbench-{}-b1n{}", ::getpid(), n)));
        auto t0 = Clock::now();
        enforcers.push_back(makeEnforcer(spaces.back()->name()));
        enforcers.back()->start(savedState(n));
        setup.push_back(ms(Clock::now() - t0));
    }
    std::vector<std::vector<double>> joins(sizes.size()), leaves(sizes.size());
    for (int r = 0; r < rounds; ++r) {
        std::uint32_t id = 1000000 + static_cast<std::uint32_t>(r);
        for (std::size_t i = 0; i < sizes.size(); ++i) {
            Transaction join;
            join.setDevice(macOf(id), Assignment::policy(fmt::format("bench{}", r % kPolicies)));
            join.setAddresses(macOf(id), addressesOf(id));
            auto a = Clock::now();
            enforcers[i]->commit(join);
            joins[i].push_back(ms(Clock::now() - a));
            Transaction leave;
            leave.removeDevice(macOf(id));
            a = Clock::now();
            enforcers[i]->commit(leave);
            leaves[i].push_back(ms(Clock::now() - a));
        }
    }
    std::map<std::uint32_t, double> medians;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        medians[sizes[i]] = percentile(joins[i], 0.5);
        std::cout << fmt::format("  {:>6} | {:>7.3f} ms | {:>7.3f} ms | {:>7.3f} ms | {:>7.1f} ms\n", sizes[i],
            medians[sizes[i]], percentile(joins[i], 0.9), percentile(leaves[i], 0.5), setup[i]);
    }
    std::cout << fmt::format(
        "  ratio join p50 10000/100: {:.2f} (target <= 1.5); p50 at 10000: {:.3f} ms (target <= 1 ms)\n",
        medians[10000] / medians[100], medians[10000]);
    enforcers.clear();
}

void benchColdStart(const Netns& gw, int rounds)
{
    std::cout << "B8 cold start: 10000 saved devices (" << kPolicies << " policies) to enforced; " << rounds
              << " rounds\n";
    std::vector<double> cold, warm;
    bool structural = false;
    std::size_t warmElements = 0;
    Transaction saved = savedState(10000);
    for (int r = 0; r < rounds; ++r) {
        clearTables(gw);
        auto t0 = Clock::now();
        auto e = makeEnforcer(gw.name());
        auto stats = e->start(saved);
        cold.push_back(ms(Clock::now() - t0));
        if (stats.elements < 40000)
            throw std::runtime_error("cold start applied too few elements");
        // A restart over the tables the kernel still holds: the old enforcer goes away, a new
        // one reads the tables once and finds nothing to change (no delete, no recreate).
        e.reset();
        t0 = Clock::now();
        auto again = makeEnforcer(gw.name());
        auto restart = again->start(saved);
        warm.push_back(ms(Clock::now() - t0));
        structural = structural || restart.structural;
        warmElements += restart.elements;
    }
    std::cout << fmt::format("  empty kernel -> enforced: p50 {:.0f} ms (min {:.0f}, max {:.0f}); target <= 1000 ms\n",
        percentile(cold, 0.5), percentile(cold, 0), percentile(cold, 1));
    std::cout << fmt::format("  restart over the enforced tables: p50 {:.0f} ms, structural changes: {}, elements "
                             "changed: {}\n",
        percentile(warm, 0.5), structural ? "yes" : "none", warmElements);
}

// ---- B5 kernel memory --------------------------------------------------------------------

long meminfoKb(const std::string& key)
{
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(key + ":", 0) == 0)
            return std::stol(line.substr(key.size() + 1));
    return 0;
}

long kernelKb() { return meminfoKb("Slab") + meminfoKb("VmallocUsed"); }

void benchMemory(const Netns& gw, int rounds)
{
    constexpr std::uint32_t n = 10000;
    std::cout << "B5 kernel memory: Slab + VmallocUsed (/proc/meminfo) before and after " << n
              << " devices join in one batch; " << rounds << " rounds\n";
    std::vector<double> perDevice;
    for (int r = 0; r < rounds; ++r) {
        clearTables(gw);
        auto e = makeEnforcer(gw.name());
        e->start(savedState(0));
        ::sync();
        std::this_thread::sleep_for(std::chrono::milliseconds(300)); // let RCU frees from the last round settle
        long before = kernelKb();
        Transaction joins;
        for (std::uint32_t i = 0; i < n; ++i) {
            joins.setDevice(macOf(i), Assignment::policy(fmt::format("bench{}", i % kPolicies)));
            joins.setAddresses(macOf(i), addressesOf(i));
        }
        e->commit(joins);
        long after = kernelKb();
        perDevice.push_back(static_cast<double>(after - before) * 1024.0 / n);
        std::cout << fmt::format(
            "  round {}: {} KB for {} devices = {:.0f} bytes/device\n", r + 1, after - before, n, perDevice.back());
    }
    std::cout << fmt::format("  median {:.0f} bytes per device (8 set elements: the MAC in the managed and membership "
                             "sets of both tables, the IPv4 and IPv6 address in those of the inet table); "
                             "target <= 1024\n",
        percentile(perDevice, 0.5));
}

// ---- B6 DNS update -----------------------------------------------------------------------

void benchDns(const Netns& gw, int rounds)
{
    std::cout << "B6 DNS update: one address of " << kDnsName << " replaced (add new, withdraw old), with 1 and "
              << "1000 devices using the name; 3 interleaved passes of " << rounds
              << " updates each (after one warm-up pass)\n";
    std::map<std::uint32_t, double> medians;
    std::map<std::uint32_t, std::vector<double>> all;
    for (int pass = 0; pass < 4; ++pass) {
        for (std::uint32_t users : { 1u, 1000u }) {
            clearTables(gw);
            auto e = makeEnforcer(gw.name());
            // Policy bench0 uses the name; every device of `users` is on it, 1000 others are not.
            Transaction t = savedState(0);
            for (std::uint32_t i = 0; i < users; ++i) {
                t.setDevice(macOf(i), Assignment::policy("bench0"));
                t.setAddresses(macOf(i), addressesOf(i));
            }
            for (std::uint32_t i = 5000; i < 5000 + 1000; ++i) {
                t.setDevice(macOf(i), Assignment::policy("bench1"));
                t.setAddresses(macOf(i), addressesOf(i));
            }
            e->start(t);
            std::vector<double> times;
            IpAddress previous = ip("203.0.113.1");
            Transaction first;
            first.setDnsAddresses(kDnsName, { { previous, std::chrono::seconds(300) } });
            e->commit(first);
            for (int r = 0; r < rounds; ++r) {
                IpAddress next = ip("203.0.113.1");
                next.bytes[2] = static_cast<std::uint8_t>(r / 250);
                next.bytes[3] = static_cast<std::uint8_t>(2 + r % 250);
                Transaction u;
                u.setDnsAddresses(kDnsName, { { next, std::chrono::seconds(300) } });
                u.removeDnsAddresses(kDnsName, { previous });
                auto a = Clock::now();
                e->commit(u);
                times.push_back(ms(Clock::now() - a));
                previous = next;
            }
            if (pass > 0) // the first pass warms up
                all[users].insert(all[users].end(), times.begin(), times.end());
        }
    }
    for (auto& [users, times] : all) {
        medians[users] = percentile(times, 0.5);
        std::cout << fmt::format(
            "  {:>4} devices: p50 {:.3f} ms, p90 {:.3f} ms\n", users, medians[users], percentile(times, 0.9));
    }
    std::cout << fmt::format(
        "  ratio 1000/1: {:.2f} (target: equal within noise, under 0.2 ms)\n", medians[1000] / medians[1]);
}

// ---- B3 packet path ----------------------------------------------------------------------

/// client (the managed device) -- gateway -- server, routed.
struct Path {
    Netns client, gw, server;
    Path(const std::string& tag)
        : client("mgb-c-" + tag)
        , gw("mgb-g-" + tag)
        , server("mgb-s-" + tag)
    {
        sh(fmt::format("ip link add c0 netns {} address 02:00:00:00:0b:01 type veth peer name gc netns {}",
            client.name(), gw.name()));
        sh(fmt::format("ip link add s0 netns {} type veth peer name gs netns {}", server.name(), gw.name()));
        client.exec("ip addr add 10.1.0.2/24 dev c0");
        client.exec("ip link set c0 up");
        client.exec("ip route add default via 10.1.0.1");
        server.exec("ip addr add 10.2.0.2/24 dev s0");
        server.exec("ip link set s0 up");
        server.exec("ip route add default via 10.2.0.1");
        gw.exec("ip addr add 10.1.0.1/24 dev gc");
        gw.exec("ip addr add 10.2.0.1/24 dev gs");
        gw.exec("ip link set gc up");
        gw.exec("ip link set gs up");
        gw.exec("sysctl -qw net.ipv4.ip_forward=1");
    }
    /// Packets the gateway sent towards the server.
    std::uint64_t forwarded() const
    {
        auto out = gw.exec("ip -s -j link show gs");
        auto tx = out.find("\"tx\":{");
        auto packets = tx == std::string::npos ? tx : out.find("\"packets\":", tx);
        if (packets == std::string::npos)
            throw std::runtime_error("no tx counter in " + out);
        return std::stoull(out.substr(packets + 10));
    }
};

/// The server side of the packet-path measurements: a thread in the server namespace that
/// receives on UDP port 9000 until `stop` and sends back the datagrams `answer` selects.
std::thread udpServer(const Path& path, std::atomic<bool>& stop, bool (*answer)(const char*))
{
    return std::thread([&path, &stop, answer] {
        enter(path.server.name());
        pin(1);
        int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in a {};
        a.sin_family = AF_INET;
        a.sin_port = htons(9000);
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        timeval tv { 0, 100000 };
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[2048];
        while (!stop) {
            sockaddr_in from {};
            socklen_t len = sizeof from;
            ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
            if (n > 0 && answer(buf))
                ::sendto(fd, buf, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
        }
        ::close(fd);
    });
}

/// A UDP socket of the client (call it in the client namespace) connected to the server's port
/// 9000, with a receive timeout of `timeoutUs` (0: none).
int connectToServer(long timeoutUs)
{
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (timeoutUs) {
        timeval tv { timeoutUs / 1000000, timeoutUs % 1000000 };
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    sockaddr_in to {};
    to.sin_family = AF_INET;
    to.sin_port = htons(9000);
    ::inet_pton(AF_INET, "10.2.0.2", &to.sin_addr);
    ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to);
    return fd;
}

/// Sends 64-byte UDP datagrams of one flow from the client as fast as one core allows, for
/// `seconds`; returns the packets per second the gateway forwarded. `established`: the server
/// answers the first datagram, so the flow is established (the steady state of real traffic);
/// otherwise it never answers and every packet is classified as a new flow (the worst case).
double measurePps(const Path& path, double seconds, bool established)
{
    std::atomic<bool> stop { false };
    // Only a hello (first byte 1) is answered.
    std::thread sink = udpServer(path, stop, [](const char* buf) { return buf[0] == 1; });
    std::atomic<bool> go { false };
    std::uint64_t before = 0;
    auto t0 = Clock::now();
    std::thread source([&] {
        enter(path.client.name());
        pin(0);
        int fd = connectToServer(established ? 1000000 : 0);
        char payload[64] = {};
        if (established) {
            char hello[64] = { 1 };
            for (int tries = 0; tries < 5; ++tries) {
                ::send(fd, hello, sizeof hello, 0);
                if (::recv(fd, hello, sizeof hello, 0) > 0)
                    break;
            }
        }
        std::vector<mmsghdr> msgs(64);
        std::vector<iovec> iov(64);
        for (std::size_t i = 0; i < msgs.size(); ++i) {
            iov[i] = { payload, sizeof payload };
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        while (!go)
            std::this_thread::yield();
        auto end = t0 + std::chrono::duration<double>(seconds);
        while (Clock::now() < end)
            ::sendmmsg(fd, msgs.data(), static_cast<unsigned>(msgs.size()), 0);
        ::close(fd);
    });
    // The hello exchange is not timed.
    std::this_thread::sleep_for(std::chrono::milliseconds(established ? 200 : 0));
    before = path.forwarded();
    t0 = Clock::now();
    go = true;
    source.join();
    double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    std::uint64_t after = path.forwarded();
    stop = true;
    sink.join();
    return static_cast<double>(after - before) / elapsed;
}

/// Round-trip times (microseconds) of `probes` 64-byte UDP echoes client -> server -> client
/// through the gateway. `newFlows`: every probe comes from a fresh socket (a new source port), so
/// its request is a new flow that walks the dispatch and the sender's policy; otherwise all
/// probes share one flow, established after the first answer.
std::vector<double> measureRtt(const Path& path, int probes, bool newFlows)
{
    std::atomic<bool> stop { false };
    std::thread echo = udpServer(path, stop, [](const char*) { return true; });
    std::vector<double> out;
    std::thread client([&] {
        enter(path.client.name());
        pin(0);
        auto open = [] { return connectToServer(200000); };
        char payload[64] = {};
        int fd = open();
        // Warm-up: neighbours, the echo thread, and (for the shared flow) the conntrack entry.
        for (int i = 0; i < 20; ++i) {
            ::send(fd, payload, sizeof payload, 0);
            ::recv(fd, payload, sizeof payload, 0);
        }
        for (int i = 0; i < probes; ++i) {
            if (newFlows) {
                ::close(fd);
                fd = open();
            }
            auto t0 = Clock::now();
            ::send(fd, payload, sizeof payload, 0);
            if (::recv(fd, payload, sizeof payload, 0) == sizeof payload)
                out.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        }
        ::close(fd);
    });
    client.join();
    stop = true;
    echo.join();
    return out;
}

/// Loads nft commands or a ruleset into the gateway with the nft program.
void loadText(const Netns& gw, const std::string& text)
{
    char path[] = "/tmp/mgbench-rules-XXXXXX";
    int fd = ::mkstemp(path);
    bool written = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    if (fd >= 0)
        ::close(fd);
    if (!written) {
        ::unlink(path);
        throw std::runtime_error("cannot write a ruleset for nft");
    }
    gw.exec(fmt::format("nft -f {}", path));
    ::unlink(path);
}

/// The linear layout for comparison: one rule per device in one chain, the sender's last
/// (`ctOnly`: only the established rule, the cost of connection tracking alone).
void loadLinear(const Netns& gw, std::uint32_t devices, bool ctOnly = false)
{
    std::string text = "table inet mgbench_linear {\n chain forward {\n  type filter hook forward priority filter; "
                       "policy accept;\n  ct state established,related accept\n";
    for (std::uint32_t i = 0; i < devices; ++i)
        text += fmt::format("  ether saddr {} ip daddr 10.2.0.2 udp dport 9000 accept\n", macOf(i).toString());
    if (!ctOnly)
        text += "  ether saddr 02:00:00:00:0b:01 ip daddr 10.2.0.2 udp dport 9000 accept\n  drop\n";
    text += " }\n}\n";
    loadText(gw, text);
}

/// The dispatch the verdict-map layout would use, for comparison on the same policies: after
/// mudguard's tables are in place, `from_dev` is replaced by one lookup in a verdict map that
/// sends each device (`devices` of them over the policies, and `sender` on the last one)
/// straight to its policy chain. Only the packet path is compared: the enforcer does not know
/// of the change.
void useVerdictMap(const Netns& gw, std::uint32_t devices, const MacAddress& sender)
{
    const std::string table = "inet mudguard";
    std::string text = fmt::format("flush chain {0} from_dev\nadd map {0} bench_dispatch {{ type ether_addr : "
                                   "verdict; }}\nadd element {0} bench_dispatch {{ ",
        table);
    auto element = [](const MacAddress& mac, int policy) {
        return fmt::format(
            "{} : goto {}", mac.toString(), names::policyChain(fmt::format("bench{}", policy), Direction::FromDevice));
    };
    for (std::uint32_t i = 0; i < devices; ++i)
        text += element(macOf(i), static_cast<int>(i % kPolicies)) + ", ";
    text += element(sender, kPolicies - 1) + " }\n";
    text += fmt::format("add rule {} from_dev ether saddr vmap @bench_dispatch\n", table);
    loadText(gw, text);
}

void benchPacketPath(double seconds, int rounds)
{
    Path path(std::to_string(::getpid()));
    // Neighbours resolved before timing.
    path.client.exec("ping -c 1 -W 1 10.2.0.2", false);
    IpAddress clientV4 = ip("10.1.0.2");
    MacAddress clientMac = *MacAddress::parse("02:00:00:00:0b:01");
    std::cout << "B3 packet path: 64-byte UDP datagrams of one flow from one sending core, established (answered "
                 "once) and new (never answered: every packet walks the dispatch and the sender's policy to its "
                 "last rule); "
              << rounds << " interleaved rounds of " << seconds << " s\n";
    const std::vector<std::string> configs { "none", "ct-only", "100", "10000", "vmap10000", "linear10000" };
    std::map<std::string, std::vector<double>> pps, newPps, echoRtt, newRtt;
    for (int r = 0; r < rounds; ++r) {
        for (const auto& config : configs) {
            clearTables(path.gw);
            path.gw.exec("nft delete table inet mgbench_linear", false);
            std::unique_ptr<Enforcer> e;
            if (config == "100" || config == "10000" || config == "vmap10000") {
                std::uint32_t devices = config == "100" ? 100 : 10000;
                e = makeEnforcer(path.gw.name());
                Transaction t = savedState(devices);
                t.setDevice(clientMac, Assignment::policy(fmt::format("bench{}", kPolicies - 1)));
                t.setAddresses(clientMac, { clientV4 });
                e->start(t);
                if (config == "vmap10000")
                    useVerdictMap(path.gw, devices, clientMac);
            } else if (config == "linear10000") {
                loadLinear(path.gw, 10000);
            } else if (config == "ct-only") {
                loadLinear(path.gw, 0, true);
            }
            pps[config].push_back(measurePps(path, seconds, true));
            newPps[config].push_back(measurePps(path, seconds, false));
            for (bool fresh : { false, true }) {
                auto samples = measureRtt(path, kRttProbes, fresh);
                auto& into = (fresh ? newRtt : echoRtt)[config];
                into.insert(into.end(), samples.begin(), samples.end());
            }
        }
    }
    // Ratios and added times are taken round by round (each against the no-ruleset rate of the
    // same round, measured seconds apart) and then the median over the rounds: the machine's slow
    // and fast phases then cancel out.
    auto paired = [](const std::vector<double>& a, const std::vector<double>& b, auto f) {
        std::vector<double> out;
        for (std::size_t r = 0; r < std::min(a.size(), b.size()); ++r)
            out.push_back(f(a[r], b[r]));
        return percentile(out, 0.5);
    };
    auto ratio = [](double v, double base) { return v / base; };
    // The forwarding core's time per packet, and what the ruleset adds to it.
    auto addedUs = [](double v, double base) { return 1e6 / v - 1e6 / base; };
    std::cout << fmt::format("  {:>12} | {:>16} | {:>6} | {:>10} | {:>16} | {:>6} | {:>10}\n", "ruleset",
        "established pps", "ratio", "added/pkt", "new-flow pps", "ratio", "added/pkt");
    for (const auto& config : configs) {
        std::cout << fmt::format("  {:>12} | {:>16.0f} | {:>6.2f} | {:>7.2f} us | {:>16.0f} | {:>6.2f} | {:>7.2f} us\n",
            config, percentile(pps[config], 0.5), paired(pps[config], pps["none"], ratio),
            paired(pps[config], pps["none"], addedUs), percentile(newPps[config], 0.5),
            paired(newPps[config], newPps["none"], ratio), paired(newPps[config], newPps["none"], addedUs));
    }
    std::cout << fmt::format("  drift 10000/100: established {:.2f}, new flows {:.2f}; target: >= 0.85 of no "
                             "ruleset at 10000\n",
        paired(pps["10000"], pps["100"], ratio), paired(newPps["10000"], newPps["100"], ratio));
    // Round trips on a shared VM are dominated by scheduling; the 10th percentile is the
    // stablest view of the path itself.
    std::cout << fmt::format("  UDP echo round trip through the gateway, {} probes per round and ruleset: p10 / p50, "
                             "and the p10 added to no ruleset\n",
        kRttProbes);
    std::cout << fmt::format(
        "  {:>12} | {:>17} | {:>8} | {:>17} | {:>8}\n", "ruleset", "established us", "added", "new-flow us", "added");
    double rttBase = percentile(echoRtt["none"], 0.1), newRttBase = percentile(newRtt["none"], 0.1);
    for (const auto& config : configs) {
        double e10 = percentile(echoRtt[config], 0.1), n10 = percentile(newRtt[config], 0.1);
        std::cout << fmt::format("  {:>12} | {:>7.1f} / {:>7.1f} | {:>+8.1f} | {:>7.1f} / {:>7.1f} | {:>+8.1f}\n",
            config, e10, percentile(echoRtt[config], 0.5), e10 - rttBase, n10, percentile(newRtt[config], 0.5),
            n10 - newRttBase);
    }
    clearTables(path.gw);
}

} // namespace

int main(int argc, char** argv)
{
    std::set<std::string> only;
    double seconds = 2.0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--only" && i + 1 < argc) {
            std::stringstream ss(argv[++i]);
            std::string item;
            while (std::getline(ss, item, ','))
                only.insert(item);
        } else if (a == "--seconds" && i + 1 < argc) {
            seconds = std::stod(argv[++i]);
        } else {
            std::cerr << "usage: bench_enforcer [--only b1,b3,b5,b6,b8] [--seconds S]\n";
            return 2;
        }
    }
    if (::geteuid() != 0) {
        std::cout << "bench_enforcer: needs root (network namespaces); skipped\n";
        return 0;
    }
    for (int sig : { SIGINT, SIGTERM, SIGHUP })
        ::signal(sig, removeNamespacesAndDie);
    auto want = [&](const char* b) { return only.empty() || only.count(b); };
    try {
        auto t0 = Clock::now();
        {
            Netns gw(fmt::format("mgbench-{}", ::getpid()));
            if (want("b1"))
                benchJoin(200);
            if (want("b6"))
                benchDns(gw, 300);
            if (want("b5"))
                benchMemory(gw, 3);
            if (want("b8"))
                benchColdStart(gw, 5);
            clearTables(gw);
        }
        if (want("b3"))
            benchPacketPath(seconds, 5);
        std::cout << fmt::format("total {:.0f} s\n", std::chrono::duration<double>(Clock::now() - t0).count());
    } catch (const std::exception& ex) {
        std::cerr << "bench_enforcer: " << ex.what() << "\n";
        return 1;
    }
    return 0;
}
