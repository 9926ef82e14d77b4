// Trust benchmarks: signature verification, the full offline pipeline per file (verify + parse +
// validate + model) for a ~3.5 KB signed MUD file, and cache-hit lookups. One thread each.
//
//   bench_trust [--seconds S]   (S seconds per case, default 2)
//
// The test PKI is made with tests/trust/make-test-pki.sh (openssl) in a temporary directory.

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <unistd.h>

#include "mudguard/Config.h"
#include "mudguard/mudparser/MudCache.h"
#include "mudguard/mudparser/Parser.h"
#include "mudguard/mudparser/Signature.h"
#include "mudguard/mudparser/TrustPipeline.h"

#include "Harness.h"

using namespace mudguard;
using namespace mudguard::mudparser;

namespace {

std::string readAll(const std::filesystem::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void run(const std::string& command)
{
    if (std::system(command.c_str()) != 0) {
        std::cerr << "bench_trust: failed: " << command << '\n';
        std::exit(2);
    }
}

/// A typical MUD file: `aces` ACEs split over both directions, DNS names, TCP and UDP ports.
std::string typicalMud(const std::string& url, unsigned aces)
{
    std::string from, to;
    for (unsigned i = 0; i < aces; ++i) {
        bool out = i % 2 == 0;
        std::string ace = fmt::format(
            R"({{"name": "cloud-service-{0}", "matches": {{"ipv4": {{"ietf-acldns:{1}-dnsname": "telemetry-{0}.eu-west-1.device-cloud.example-maker.com", "protocol": {2}}}, "{3}": {{"{4}-port": {{"operator": "eq", "port": {5}}}}}}}, "actions": {{"forwarding": "accept"}}}})",
            i, out ? "dst" : "src", i % 3 == 0 ? 17 : 6, i % 3 == 0 ? "udp" : "tcp", out ? "destination" : "source",
            443 + i);
        (out ? from : to) += (out ? (from.empty() ? "" : ",\n") : (to.empty() ? "" : ",\n")) + ace;
    }
    return fmt::format(R"json({{
  "ietf-mud:mud": {{
    "mud-version": 1,
    "mud-url": "{0}",
    "mud-signature": "dev.p7s",
    "last-update": "2024-05-01T10:00:00+00:00",
    "cache-validity": 48,
    "is-supported": true,
    "systeminfo": "Smart thermostat with a cloud service, firmware updates and local control (a typical MUD file)",
    "mfg-name": "Example Maker",
    "model-name": "Thermostat T1000 rev. B",
    "firmware-rev": "2.4.1",
    "software-rev": "2.4.1-build.5531",
    "documentation": "https://docs.example-maker.com/devices/thermostat-t1000/network-requirements",
    "from-device-policy": {{"access-lists": {{"access-list": [{{"name": "from-dev"}}]}}}},
    "to-device-policy": {{"access-lists": {{"access-list": [{{"name": "to-dev"}}]}}}}
  }},
  "ietf-access-control-list:acls": {{
    "acl": [
      {{"name": "from-dev", "type": "ipv4-acl-type", "aces": {{"ace": [
{1}
      ]}}}},
      {{"name": "to-dev", "type": "ipv4-acl-type", "aces": {{"ace": [
{2}
      ]}}}}
    ]
  }}
}}
)json",
        url, from, to);
}

} // namespace

int main(int argc, char** argv)
{
    double seconds = 2.0;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = std::atof(argv[++i]);
        } else if (!std::strcmp(argv[i], "--corpus") && i + 1 < argc) {
            ++i; // bench/run hands every benchmark the same options; this one needs no corpus
        } else {
            std::cerr << "usage: bench_trust [--seconds S]\n";
            return 2;
        }
    }
    auto perCase = std::chrono::milliseconds(static_cast<long>(1000 * seconds));
    auto work = std::filesystem::temp_directory_path() / fmt::format("mudguard-bench-trust-{}", ::getpid());
    std::filesystem::create_directories(work);
    auto pki = work / "pki";
    run(fmt::format("bash {}/tests/trust/make-test-pki.sh {} >/dev/null", MUDGUARD_SOURCE_DIR, pki.string()));

    const std::string url = "https://mud.example.com/model1";
    std::string body = typicalMud(url, 10);
    std::filesystem::path bodyFile = work / "dev.json";
    std::ofstream(bodyFile, std::ios::binary) << body;
    run(fmt::format("{} cms -sign -binary -outform DER -in {} -signer {}/signer.pem -inkey {}/signer.key "
                    "-certfile {}/signer-chain.pem -out {}/dev.p7s",
        config::kOpensslProgram, bodyFile.string(), pki.string(), pki.string(), pki.string(), work.string()));
    std::string sig = readAll(work / "dev.p7s");
    auto anchors = TrustAnchors::fromPemFiles({ pki / "root.pem" });

    std::cout << "mudguard trust benchmarks (" << bench::machine() << ")\n";
    std::cout << fmt::format("MUD file {} bytes, 10 ACEs; signature {} bytes (ECDSA P-256, root -> intermediate -> "
                             "signer, intermediate embedded)\n\n",
        body.size(), sig.size());

    if (!verifySignature(body, sig, *anchors).valid) {
        std::cerr << "bench_trust: the benchmark signature does not verify\n";
        return 2;
    }
    auto verify = bench::measure(
        "signature verification (known signer)", [&] { return verifySignature(body, sig, *anchors).valid ? 1 : 0; },
        perCase);
    bench::print(verify, "verifications");
    // The first signature of a signer: certificates decoded and the chain built (fresh anchors each
    // time; loading the anchor file is measured alone and subtracted).
    auto load = bench::measure(
        "(loading the anchor file)", [&] { return TrustAnchors::fromPemFiles({ pki / "root.pem" }) ? 1 : 0; }, perCase);
    auto cold = bench::measure(
        "signature verification, first of its signer",
        [&] { return verifySignature(body, sig, *TrustAnchors::fromPemFiles({ pki / "root.pem" })).valid ? 1 : 0; },
        perCase);
    cold.seconds -= load.seconds * static_cast<double>(cold.iterations) / static_cast<double>(load.iterations);
    bench::print(cold, "verifications");

    Parser parser;
    TrustPolicy policy;
    policy.anchors = anchors;
    ParseOptions parseOptions;
    auto parse = bench::measure(
        "parse + validate + model (no signature)", [&] { return parser.parse(body, parseOptions).profile ? 1 : 0; },
        perCase);
    bench::print(parse, "files");

    EvaluateInput in;
    in.url = url;
    in.body = body;
    in.signature = sig;
    if (!evaluate(in, policy, parser).accepted) {
        std::cerr << "bench_trust: the benchmark file is not accepted\n";
        return 2;
    }
    auto pipeline = bench::measure(
        "full pipeline: verify + parse + validate + model",
        [&] { return evaluate(in, policy, parser).accepted ? 1 : 0; }, perCase);
    bench::print(pipeline, "files");

    // Cache: 1,000 entries on disk, looked up at random.
    const int kEntries = 1000;
    std::vector<std::string> urls;
    {
        MudCache cache(work / "cache");
        for (int i = 0; i < kEntries; ++i) {
            CacheEntry e;
            e.url = fmt::format("https://maker{}.example.com/model/{}", i % 50, i);
            e.body = body;
            e.signature = sig;
            e.fetchedAt = std::chrono::system_clock::now();
            e.verifiedAt = e.fetchedAt;
            cache.store(e);
            urls.push_back(e.url);
        }
    }
    auto openStart = std::chrono::steady_clock::now();
    MudCache cache(work / "cache");
    double openMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - openStart).count();
    std::mt19937 rng(42);
    std::uniform_int_distribution<std::size_t> pick(0, urls.size() - 1);
    auto now = std::chrono::system_clock::now();
    auto lookups = bench::measure(
        "cache-hit lookup (1,000 entries)",
        [&] { return cache.lookup(urls[pick(rng)], now).state == CacheState::Fresh ? 1 : 0; }, perCase);
    bench::print(lookups, "lookups");
    std::cout << fmt::format("{:<52} {:>12.1f} ms\n", "cache open (load + checksum 1,000 entries)", openMs);

    std::cout << "\nratios: cold/known-signer verify " << fmt::format("{:.2f}", cold.microsEach() / verify.microsEach())
              << ", pipeline/verify " << fmt::format("{:.2f}", pipeline.microsEach() / verify.microsEach())
              << ", pipeline/parse " << fmt::format("{:.2f}", pipeline.microsEach() / parse.microsEach())
              << ", targets: pipeline >= 1500 files/s (" << fmt::format("{:.0f}", pipeline.perSecond())
              << "), cache-hit >= 50000 lookups/s (" << fmt::format("{:.0f}", lookups.perSecond()) << ")\n";
    std::filesystem::remove_all(work);
    return 0;
}
