// Benchmarks of the controller's state store, DNS parser and event loop. Run from a release build:
//
//   scripts/build --release && build-release/bench/bench_state [DIR]
//
// DIR is where the database goes (default: a fresh directory under /tmp; use the router's state
// disk to see its fsync cost). Figures are medians of several runs, printed with ratios so that
// runs on a noisy machine can be compared. Results are recorded in docs/benchmarks.md.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "mudguard/controller/Dns.h"
#include "mudguard/controller/EventLoop.h"
#include "mudguard/controller/Store.h"

using namespace mudguard::controller;
using Clock = std::chrono::steady_clock;

namespace {

double msSince(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double percentile(std::vector<double> v, double p)
{
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

std::string macOf(int i)
{
    return fmt::format("02:00:00:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
}

void populate(Store& s, int devices)
{
    auto tx = s.transaction();
    for (int i = 0; i < devices; ++i) {
        DeviceRow d;
        d.mac = macOf(i);
        d.state = DeviceState::Enforced;
        d.mudUrl = fmt::format("https://maker{}.example/device.json", i % 50);
        d.policyId = fmt::format("p{}", i % 50);
        s.putDevice(d);
        s.putBinding(d.mac, d.mudUrl, DeviceSource::Dhcp);
        s.touchAddress(d.mac, fmt::format("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff));
        s.touchAddress(d.mac, fmt::format("2001:db8::{:x}", i));
    }
    tx.commit();
}

struct Row {
    std::string what;
    double value;
    std::string unit;
};

void print(const std::vector<Row>& rows)
{
    for (const auto& r : rows)
        std::printf("%-62s %12.3f %s\n", r.what.c_str(), r.value, r.unit.c_str());
}

} // namespace

int main(int argc, char** argv)
{
    std::filesystem::path base = argc > 1
        ? std::filesystem::path(argv[1])
        : std::filesystem::temp_directory_path() / fmt::format("mudguard-bench-{}", ::getpid());
    std::filesystem::create_directories(base);
    std::vector<Row> rows;
    constexpr int kDevices = 10'000;

    // --- cold start --------------------------------------------------------------------------
    auto db = base / "state.db";
    std::filesystem::remove(db);
    double populateMs;
    {
        Store s(db);
        auto t0 = Clock::now();
        populate(s, kDevices);
        populateMs = msSince(t0);
    }
    rows.push_back({ "write 10k devices+bindings+20k addresses, one transaction", populateMs, "ms" });
    std::vector<double> loads, opens;
    for (int i = 0; i < 7; ++i) {
        auto t0 = Clock::now();
        Store s(db);
        opens.push_back(msSince(t0));
        auto t1 = Clock::now();
        auto all = s.loadAll();
        loads.push_back(msSince(t1));
        if (all.devices.size() != kDevices)
            return 1;
    }
    rows.push_back({ "open existing database (writer, migrations checked)", median(opens), "ms" });
    rows.push_back({ "loadAll: 10k devices + 10k bindings + 20k addresses", median(loads), "ms" });
    {
        StoreReader r(db);
        std::vector<double> one;
        for (int i = 0; i < 2000; ++i) {
            auto t0 = Clock::now();
            auto d = r.device(macOf(i * 5));
            auto a = r.addresses(macOf(i * 5));
            auto h = r.history(macOf(i * 5));
            one.push_back(msSince(t0) * 1000);
            if (!d || a.size() != 2 || h.empty())
                return 1;
        }
        rows.push_back({ "reader: one device with addresses and history (median)", median(one), "us" });
    }

    // --- write latency and throughput, FULL vs NORMAL ------------------------------------------
    for (auto sync : { StoreOptions::Synchronous::Full, StoreOptions::Synchronous::Normal }) {
        const char* name = sync == StoreOptions::Synchronous::Full ? "FULL" : "NORMAL";
        auto file = base / fmt::format("writes-{}.db", name);
        std::filesystem::remove(file);
        StoreOptions o;
        o.synchronous = sync;
        Store s(file, o);
        std::vector<double> single;
        for (int i = 0; i < 300; ++i) {
            auto t0 = Clock::now();
            s.putBinding(macOf(i), "https://maker.example/device.json", DeviceSource::Dhcp);
            single.push_back(msSince(t0));
        }
        rows.push_back({ fmt::format("synchronous={}: one binding, own commit, median", name), median(single), "ms" });
        rows.push_back(
            { fmt::format("synchronous={}: one binding, own commit, p99", name), percentile(single, 0.99), "ms" });
        auto t0 = Clock::now();
        constexpr int kAudit = 300;
        for (int i = 0; i < kAudit; ++i)
            s.appendAudit({ .event = "POLICY_APPLIED", .mac = macOf(i), .mudUrl = "https://maker.example/d.json" });
        rows.push_back({ fmt::format("synchronous={}: audit appends, one commit each", name),
            kAudit / (msSince(t0) / 1000), "/s" });
        t0 = Clock::now();
        constexpr int kBatched = 20'000, kBatch = 100;
        for (int i = 0; i < kBatched; i += kBatch) {
            auto tx = s.transaction();
            for (int j = 0; j < kBatch; ++j)
                s.appendAudit({ .event = "POLICY_APPLIED", .mac = macOf(i + j), .mudUrl = "https://m.example/d.json" });
            tx.commit();
        }
        rows.push_back({ fmt::format("synchronous={}: audit appends, 100 per commit", name),
            kBatched / (msSince(t0) / 1000), "/s" });
        t0 = Clock::now();
        for (int i = 0; i < 1000; i += 10) {
            auto tx = s.transaction();
            for (int j = 0; j < 10; ++j) {
                DeviceRow d;
                d.mac = macOf(100'000 + i + j);
                d.mudUrl = "https://maker.example/device.json";
                s.putDevice(d);
                s.putBinding(d.mac, d.mudUrl, DeviceSource::Dhcp);
                s.appendAudit({ .event = "DEVICE_JOINED", .mac = d.mac });
            }
            tx.commit();
        }
        rows.push_back({ fmt::format("synchronous={}: joins (device+binding+audit), 10 per commit", name),
            1000 / (msSince(t0) / 1000), "/s" });
    }

    // --- DNS answers (the nflog path) -----------------------------------------------------------
    {
        auto q = dns::buildQuery(0x1234, "cdn.example.net", dns::Type::A, 0);
        // The query plus two A answers, as a resolver would send it.
        std::vector<std::uint8_t> m = q;
        m[2] = 0x81, m[3] = 0x80, m[7] = 2;
        for (int i = 0; i < 2; ++i) {
            std::uint8_t rr[]
                = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, static_cast<std::uint8_t>(i + 1) };
            m.insert(m.end(), std::begin(rr), std::end(rr));
        }
        constexpr int kN = 1'000'000;
        std::size_t sink = 0;
        auto t0 = Clock::now();
        for (int i = 0; i < kN; ++i) {
            auto msg = dns::parseMessage(m);
            sink += dns::extractAnswer(msg, "cdn.example.net", dns::Type::A).addresses.size();
        }
        double ms = msSince(t0);
        if (sink != 2u * kN)
            return 1;
        rows.push_back({ "DNS: parse a 2-address answer and extract it", ms * 1e6 / kN / 1000, "us" });
    }

    // --- event loop ----------------------------------------------------------------------------
    {
        EventLoop loop;
        constexpr int kTasks = 200'000;
        int ran = 0;
        auto t0 = Clock::now();
        for (int i = 0; i < kTasks; ++i)
            loop.post([&] { ++ran; });
        loop.runUntil([&] { return ran == kTasks; }, std::chrono::seconds(30));
        rows.push_back({ "event loop: post + run a task", msSince(t0) * 1000 / kTasks, "us" });
        std::vector<EventLoop::Handle> timers;
        t0 = Clock::now();
        for (int i = 0; i < 10'000; ++i)
            timers.push_back(loop.addTimer(std::chrono::hours(1) + std::chrono::milliseconds(i), [] {}));
        rows.push_back({ "event loop: arm 10k timers", msSince(t0), "ms" });
        t0 = Clock::now();
        timers.clear();
        rows.push_back({ "event loop: cancel 10k timers", msSince(t0), "ms" });
    }

    print(rows);
    double loadMs = median(loads);
    std::printf("\nloadAll of 10k devices is %.1f%% of the 100 ms budget\n", 100 * loadMs / 100.0);
    if (argc <= 1)
        std::filesystem::remove_all(base);
    return 0;
}
