// Throughput of MUD parsing with strict validation on one core: the bounded JSON parse, the MUD
// rules, libyang validation and building the Profile, against libyang alone on the same bytes.
//
//   bench_parser [--seconds S] [--corpus DIR]
//
// Cases: bench/data/gateway-15k.json (15 KB, 25 ACEs), the RFC 8520-sized example
// examples/lightbulb.json, and every VALID document of the shared corpus. Figures are rates
// within one run; compare them as ratios (the machine is shared and noisy).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <sched.h>

#include "mudguard/mudparser/Parser.h"

#include "Json.h"
#include "YangValidator.h"

using namespace mudguard::mudparser;
using Clock = std::chrono::steady_clock;

namespace {

std::string readFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct Case {
    std::string name;
    std::vector<std::string> documents;
};

struct Result {
    double filesPerSecond = 0;
    double usPerFile = 0;
    double libyangPerSecond = 0;
    PhaseTimings phases;
    std::size_t files = 0;
};

/// Runs the full parser and libyang alone on the same bytes, alternating in small batches so
/// that both see the same machine: their ratio stays meaningful on a noisy, shared core.
Result run(const Parser& parser, const YangValidator& libyang, const Case& c, double seconds)
{
    Result r;
    ParseOptions options;
    options.timings = &r.phases;
    std::vector<json::Document> docs;
    for (const auto& d : c.documents) {
        // Warm up (caches, lazily built tables) and check that the case is valid.
        if (!parser.parse(d).profile)
            throw std::runtime_error("a benchmark document is invalid in case " + c.name);
        json::ParseError err;
        docs.push_back(std::move(*json::Document::parse(d, Limits {}, err)));
    }
    const std::size_t batch = std::max<std::size_t>(1, 64 / c.documents.size());
    Clock::duration parserTime {}, libyangTime {};
    std::size_t libyangFiles = 0;
    auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < deadline) {
        auto t0 = Clock::now();
        for (std::size_t b = 0; b < batch; ++b) {
            for (const auto& d : c.documents) {
                if (!parser.parse(d, options).profile)
                    std::abort();
                ++r.files;
            }
        }
        auto t1 = Clock::now();
        for (std::size_t b = 0; b < batch; ++b) {
            for (std::size_t i = 0; i < docs.size(); ++i) {
                if (libyang.validate(c.documents[i], docs[i]))
                    std::abort();
                ++libyangFiles;
            }
        }
        parserTime += t1 - t0;
        libyangTime += Clock::now() - t1;
    }
    double parserSeconds = std::chrono::duration<double>(parserTime).count();
    r.filesPerSecond = static_cast<double>(r.files) / parserSeconds;
    r.usPerFile = parserSeconds * 1e6 / static_cast<double>(r.files);
    r.libyangPerSecond = static_cast<double>(libyangFiles) / std::chrono::duration<double>(libyangTime).count();
    return r;
}

std::vector<std::string> validCorpusFiles(const std::string& corpus)
{
    std::ifstream in(corpus + "/MANIFEST.tsv");
    std::vector<std::string> files;
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
        std::vector<std::string> f;
        std::stringstream ss(line);
        std::string field;
        while (std::getline(ss, field, '\t'))
            f.push_back(field);
        if (f.size() > 10 && f[1] == "mud" && f[10] == "VALID")
            files.push_back(corpus + "/mud/" + f[0]);
    }
    return files;
}

double us(std::chrono::nanoseconds total, std::size_t files)
{
    return static_cast<double>(total.count()) / 1000.0 / static_cast<double>(std::max<std::size_t>(files, 1));
}

} // namespace

int main(int argc, char** argv)
{
    double seconds = 3.0;
    std::string corpus = MUDGUARD_BENCH_CORPUS;
    std::string source = MUDGUARD_SOURCE_DIR;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = std::stod(argv[++i]);
        else if (!std::strcmp(argv[i], "--corpus") && i + 1 < argc)
            corpus = argv[++i];
        else {
            std::cerr << "usage: bench_parser [--seconds S] [--corpus DIR]\n";
            return 2;
        }
    }

    // One core: stay on the CPU we start on.
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu(), &set);
    sched_setaffinity(0, sizeof set, &set);

    std::vector<Case> cases;
    cases.push_back({ "15 KB file, 25 ACEs", { readFile(source + "/bench/data/gateway-15k.json") } });
    cases.push_back({ "RFC 8520-size example", { readFile(source + "/examples/lightbulb.json") } });
    Case valid { "valid corpus files", {} };
    for (const auto& f : validCorpusFiles(corpus))
        valid.documents.push_back(readFile(f));
    if (!valid.documents.empty())
        cases.push_back(valid);
    else
        std::cerr << "bench_parser: no corpus at " << corpus << ", skipping that case\n";

    Parser parser(Parser::defaultSchemaDir());
    YangValidator libyang(Parser::defaultSchemaDir(),
        { { "ietf-access-control-list", "2019-03-04", { "*" } }, { "ietf-mud", "2019-01-28", {} },
            { "ietf-acldns", "2019-01-28", {} }, { "ietf-mud-transparency", "2023-10-10", {} } });

    std::cout << fmt::format("parse + strict validation, one core, {:.0f} s per case\n\n", seconds);
    std::cout << fmt::format("{:<24} {:>6} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>12} {:>7}\n", "case", "files",
        "files/s", "us/file", "json us", "rules us", "yang us", "model us", "libyang-only", "ratio");
    for (const auto& c : cases) {
        std::size_t bytes = 0;
        for (const auto& d : c.documents)
            bytes += d.size();
        Result r = run(parser, libyang, c, seconds);
        double floor = r.libyangPerSecond;
        std::cout << fmt::format(
            "{:<24} {:>6} {:>9.0f} {:>9.1f} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f} {:>10.0f}/s {:>7.2f}\n", c.name,
            c.documents.size(), r.filesPerSecond, r.usPerFile, us(r.phases.json, r.files), us(r.phases.rules, r.files),
            us(r.phases.yang, r.files), us(r.phases.model, r.files), floor, r.filesPerSecond / floor);
        auto total = r.phases.json + r.phases.rules + r.phases.yang + r.phases.model;
        auto pct = [&](std::chrono::nanoseconds n) {
            return 100.0 * static_cast<double>(n.count()) / static_cast<double>(std::max<long long>(total.count(), 1));
        };
        std::cout << fmt::format("{:<24} split: json {:.1f}%, rules {:.1f}%, yang {:.1f}%, model {:.1f}%; "
                                 "{:.0f} bytes/file\n",
            "", pct(r.phases.json), pct(r.phases.rules), pct(r.phases.yang), pct(r.phases.model),
            static_cast<double>(bytes) / static_cast<double>(c.documents.size()));
    }
    return 0;
}
