#pragma once
// A small timing harness for the benchmarks (no benchmark library): warm up, run a body until a
// minimum time has passed, report operations per second. Figures are meant as ratios within one
// run on one machine; docs/benchmarks.md records them with the machine and date.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>

namespace mudguard::bench {

struct Result {
    std::string name;
    std::uint64_t iterations = 0;
    double seconds = 0;
    double perSecond() const { return seconds > 0 ? static_cast<double>(iterations) / seconds : 0; }
    double microsEach() const { return iterations ? seconds * 1e6 / static_cast<double>(iterations) : 0; }
};

/// Runs `body()` for at least `minTime` after a short warm-up. `body` returns the number of
/// operations it performed (usually 1).
template <class Body>
Result measure(std::string name, Body&& body, std::chrono::milliseconds minTime = std::chrono::milliseconds(2000))
{
    using Clock = std::chrono::steady_clock;
    auto warmEnd = Clock::now() + minTime / 10;
    while (Clock::now() < warmEnd)
        body();
    Result r { std::move(name) };
    auto start = Clock::now();
    auto end = start + minTime;
    Clock::time_point now;
    do {
        for (int i = 0; i < 16; ++i)
            r.iterations += static_cast<std::uint64_t>(body());
        now = Clock::now();
    } while (now < end);
    r.seconds = std::chrono::duration<double>(now - start).count();
    return r;
}

inline void print(const Result& r, const char* unit = "ops")
{
    std::printf("%-52s %12.0f %s/s  %10.2f us each  (%llu in %.2f s)\n", r.name.c_str(), r.perSecond(), unit,
        r.microsEach(), static_cast<unsigned long long>(r.iterations), r.seconds);
    std::fflush(stdout);
}

/// "CPU model, N cores, YYYY-MM-DD" for the record.
inline std::string machine()
{
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line, model = "unknown CPU";
    while (std::getline(cpuinfo, line))
        if (line.rfind("model name", 0) == 0) {
            model = line.substr(line.find(':') + 2);
            break;
        }
    char date[32];
    std::time_t t = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&t));
    return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores, " + date;
}

} // namespace mudguard::bench
