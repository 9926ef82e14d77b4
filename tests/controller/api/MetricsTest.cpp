// The metrics registry and its Prometheus text exposition format.
#include "mudguard/controller/Metrics.h"

#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace mudguard::controller {
namespace {

bool isNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool isNameChar(char c) { return isNameStart(c) || (c >= '0' && c <= '9'); }

/// A metric or label name at the start of `s` (labels: no ':'); its length, 0 when none.
std::size_t nameLength(std::string_view s, bool label)
{
    std::size_t i = 0;
    while (i < s.size() && (i == 0 ? isNameStart(s[i]) : isNameChar(s[i])) && !(label && s[i] == ':'))
        ++i;
    return i;
}

/// Parses `a="x",b="y"` (the text between braces) into name -> unescaped value; false when
/// malformed (unknown escapes, missing quotes or commas).
bool parseLabels(std::string_view s, std::vector<std::pair<std::string, std::string>>& out)
{
    while (!s.empty()) {
        std::size_t n = nameLength(s, true);
        if (n == 0 || s.size() < n + 2 || s[n] != '=' || s[n + 1] != '"')
            return false;
        std::string name(s.substr(0, n)), value;
        std::size_t i = n + 2;
        for (;; ++i) {
            if (i >= s.size())
                return false;
            if (s[i] == '"')
                break;
            if (s[i] == '\\') {
                if (++i >= s.size())
                    return false;
                if (s[i] == 'n')
                    value += '\n';
                else if (s[i] == '\\' || s[i] == '"')
                    value += s[i];
                else
                    return false;
            } else if (s[i] == '\n') {
                return false;
            } else {
                value += s[i];
            }
        }
        out.emplace_back(std::move(name), std::move(value));
        s.remove_prefix(i + 1);
        if (!s.empty()) {
            if (s[0] != ',')
                return false;
            s.remove_prefix(1);
        }
    }
    return true;
}

/// Checks text against the exposition format 0.0.4 as Prometheus reads it: HELP and TYPE before
/// a family's samples, well-formed names, labels and values, no duplicate series, and for
/// histograms cumulative buckets ending in +Inf equal to _count. Returns the problems found.
std::vector<std::string> exposition(const std::string& text, std::map<std::string, double>* samples = nullptr)
{
    std::vector<std::string> problems;
    std::map<std::string, std::string> types;
    std::set<std::string> seen;
    std::map<std::string, double> lastBucket, infBucket, counts;
    if (!text.empty() && text.back() != '\n')
        problems.push_back("the text does not end with a newline");
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::string_view l(line);
        if (l.rfind("# HELP ", 0) == 0) {
            std::string_view rest = l.substr(7);
            std::size_t n = nameLength(rest, false);
            if (n == 0 || (n < rest.size() && rest[n] != ' '))
                problems.push_back("bad HELP: " + line);
            continue;
        }
        if (l.rfind("# TYPE ", 0) == 0) {
            std::string_view rest = l.substr(7);
            std::size_t n = nameLength(rest, false);
            std::string_view type = n < rest.size() ? rest.substr(n + 1) : std::string_view {};
            static const std::set<std::string_view> kTypes = { "counter", "gauge", "histogram", "summary", "untyped" };
            if (n == 0 || rest.size() <= n || rest[n] != ' ' || !kTypes.count(type))
                problems.push_back("bad TYPE: " + line);
            else if (!types.emplace(std::string(rest.substr(0, n)), std::string(type)).second)
                problems.push_back("TYPE given twice: " + line);
            continue;
        }
        std::size_t n = nameLength(l, false);
        std::string name(l.substr(0, n));
        std::string_view rest = l.substr(n);
        std::string labelText;
        std::vector<std::pair<std::string, std::string>> labels;
        if (!rest.empty() && rest[0] == '{') {
            auto close = rest.rfind('}');
            if (close == std::string_view::npos) {
                problems.push_back("bad sample: " + line);
                continue;
            }
            labelText = std::string(rest.substr(1, close - 1));
            if (!parseLabels(labelText, labels))
                problems.push_back("bad labels: " + line);
            rest = rest.substr(close + 1);
        }
        if (n == 0 || rest.size() < 2 || rest[0] != ' ' || rest.find(' ', 1) != std::string_view::npos) {
            problems.push_back("bad sample: " + line);
            continue;
        }
        std::string value(rest.substr(1));
        std::string family = name;
        for (std::string suffix : { "_bucket", "_sum", "_count" })
            if (!types.count(family) && name.size() > suffix.size()
                && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
                family = name.substr(0, name.size() - suffix.size());
        if (!types.count(family))
            problems.push_back("sample before its TYPE: " + line);
        std::string le, key;
        for (const auto& [k, v] : labels) {
            if (k == "le")
                le = v;
            else
                key += k + "=" + v + ";";
        }
        double v = 0;
        if (value == "+Inf")
            v = INFINITY;
        else if (value == "-Inf")
            v = -INFINITY;
        else if (value == "NaN")
            v = NAN;
        else {
            char* end = nullptr;
            v = std::strtod(value.c_str(), &end);
            if (end == value.c_str() || *end)
                problems.push_back("bad value: " + line);
        }
        if (!seen.insert(name + "{" + labelText + "}").second)
            problems.push_back("duplicate series: " + line);
        if (samples)
            (*samples)[name + "{" + labelText + "}"] = v;
        if (types[family] == "histogram") {
            std::string series = family + "|" + key;
            if (name == family + "_bucket") {
                if (le.empty())
                    problems.push_back("bucket without le: " + line);
                if (v < lastBucket[series])
                    problems.push_back("buckets not cumulative: " + line);
                lastBucket[series] = v;
                if (le == "+Inf")
                    infBucket[series] = v;
            } else if (name == family + "_count") {
                counts[series] = v;
            }
        }
    }
    for (const auto& [series, count] : counts)
        if (!infBucket.count(series) || infBucket[series] != count)
            problems.push_back("+Inf bucket differs from _count for " + series);
    return problems;
}

TEST(Metrics, RendersCountersGaugesAndHistograms)
{
    Metrics r;
    auto requests = r.counter("demo_requests_total", "Requests.", { "code" });
    requests.labels({ "200" }).inc();
    requests.labels({ "200" }).inc(2);
    requests.labels({ "404" }).inc(-5); // ignored
    r.gauge("demo_temperature", "Degrees.").labels({}).set(21.5);
    auto h = r.histogram("demo_seconds", "Latency.", { 0.1, 1 }).labels({});
    h.observe(0.05);
    h.observe(0.1); // on the bound: le is "less or equal"
    h.observe(3);
    EXPECT_EQ(r.render(),
        "# HELP demo_requests_total Requests.\n"
        "# TYPE demo_requests_total counter\n"
        "demo_requests_total{code=\"200\"} 3\n"
        "demo_requests_total{code=\"404\"} 0\n"
        "# HELP demo_temperature Degrees.\n"
        "# TYPE demo_temperature gauge\n"
        "demo_temperature 21.5\n"
        "# HELP demo_seconds Latency.\n"
        "# TYPE demo_seconds histogram\n"
        "demo_seconds_bucket{le=\"0.1\"} 2\n"
        "demo_seconds_bucket{le=\"1\"} 2\n"
        "demo_seconds_bucket{le=\"+Inf\"} 3\n"
        "demo_seconds_sum 3.15\n"
        "demo_seconds_count 3\n");
    EXPECT_EQ(h.count(), 3u);
}

TEST(Metrics, EscapesLabelValuesAndHelp)
{
    Metrics r;
    r.counter("demo_total", "Line one\nback\\slash", { "v" }).labels({ "a\"b\\c\nd" }).inc();
    const std::string text = r.render();
    EXPECT_NE(text.find("# HELP demo_total Line one\\nback\\\\slash\n"), std::string::npos) << text;
    EXPECT_NE(text.find("demo_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
    EXPECT_TRUE(exposition(text).empty());
}

TEST(Metrics, NamesLabelsAndRegistrationsAreChecked)
{
    Metrics r;
    EXPECT_THROW(r.counter("1bad", "x"), std::logic_error);
    EXPECT_THROW(r.counter("bad-name", "x"), std::logic_error);
    EXPECT_THROW(r.counter("ok_total", "x", { "__reserved" }), std::logic_error);
    EXPECT_THROW(r.histogram("h", "x", { 1, 1 }), std::logic_error);
    EXPECT_THROW(r.histogram("h", "x", { 1 }, { "le" }), std::logic_error);
    auto a = r.counter("same_total", "x", { "k" });
    auto b = r.counter("same_total", "x", { "k" });
    a.labels({ "v" }).inc();
    EXPECT_EQ(b.labels({ "v" }).value(), 1.0) << "the same family";
    EXPECT_THROW(r.gauge("same_total", "x", { "k" }), std::logic_error);
    EXPECT_THROW(r.counter("same_total", "x", { "other" }), std::logic_error);
    EXPECT_THROW(a.labels({ "v", "w" }), std::invalid_argument);
}

TEST(Metrics, ConcurrentUpdatesAreExact)
{
    Metrics r;
    auto c = r.counter("c_total", "x", { "t" });
    auto h = r.histogram("h_seconds", "x", { 0.5 }, { "t" });
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 20'000; ++i) {
                c.labels({ i % 2 ? "odd" : "even" }).inc();
                h.labels({ "x" }).observe(t % 2 ? 0.25 : 1.0);
                if (i % 5000 == 0) {
                    EXPECT_TRUE(exposition(r.render()).empty());
                }
            }
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(c.labels({ "odd" }).value() + c.labels({ "even" }).value(), 80'000.0);
    EXPECT_EQ(h.labels({ "x" }).count(), 80'000u);
    EXPECT_DOUBLE_EQ(h.labels({ "x" }).sum(), 40'000 * 0.25 + 40'000 * 1.0);
}

TEST(MudguardMetrics, EveryFamilyParsesAndClosedSetsStartAtZero)
{
    Metrics r;
    MudguardMetrics m(r, "0.1.0");
    m.setDevices({ { DeviceState::Enforced, 9998 }, { DeviceState::Failed, 2 } });
    m.fetch(FetchOutcome::Fetched).inc();
    m.verify(VerifyOutcome::SignerPending).inc();
    m.enforceLatency(EnforceStage::Join).observe(0.0031);
    m.enforceLatency(EnforceStage::Join).observe(0.012);
    m.dnsRefresh(DnsOutcome::Failed).inc(3);
    m.violations(TrafficDirection::ToDevice).inc(40);
    m.apiRequest("/api/v1/devices", "GET", 200, 0.0004);
    m.apiConnectionsRefused().inc();

    std::map<std::string, double> s;
    const std::string text = r.render();
    auto problems = exposition(text, &s);
    EXPECT_TRUE(problems.empty()) << problems.front() << "\n" << text;
    EXPECT_EQ(s["mudguard_build_info{version=\"0.1.0\"}"], 1);
    EXPECT_EQ(s["mudguard_devices{state=\"enforced\"}"], 9998);
    EXPECT_EQ(s["mudguard_devices{state=\"quarantined\"}"], 0);
    EXPECT_EQ(s["mudguard_mud_fetches_total{outcome=\"fetched\"}"], 1);
    EXPECT_EQ(s["mudguard_mud_fetches_total{outcome=\"failed\"}"], 0);
    EXPECT_EQ(s["mudguard_signature_verifications_total{outcome=\"signer-pending\"}"], 1);
    EXPECT_EQ(s["mudguard_enforce_duration_seconds_bucket{stage=\"join\",le=\"0.005\"}"], 1);
    EXPECT_EQ(s["mudguard_enforce_duration_seconds_bucket{stage=\"join\",le=\"0.02\"}"], 2);
    EXPECT_EQ(s["mudguard_enforce_duration_seconds_count{stage=\"rebuild\"}"], 0);
    EXPECT_EQ(s["mudguard_dns_refreshes_total{outcome=\"failed\"}"], 3);
    EXPECT_EQ(s["mudguard_violations_total{direction=\"to-device\"}"], 40);
    EXPECT_EQ(s["mudguard_api_requests_total{route=\"/api/v1/devices\",method=\"GET\",status=\"200\"}"], 1);
    EXPECT_EQ(s["mudguard_api_connections_refused_total{}"], 1);

    m.setDevices({ { DeviceState::Pending, 1 } });
    EXPECT_EQ(m.devices(DeviceState::Enforced).value(), 0) << "states not listed go to zero";
    EXPECT_EQ(m.devices(DeviceState::Pending).value(), 1);
}

TEST(MetricsValidator, CatchesBrokenText)
{
    // The validator itself must be able to fail.
    EXPECT_FALSE(exposition("x 1\n").empty()) << "sample without TYPE";
    EXPECT_FALSE(exposition("# TYPE x counter\nx{a=\"b} 1\n").empty()) << "unterminated label";
    EXPECT_FALSE(exposition("# TYPE x counter\nx one\n").empty()) << "bad value";
    EXPECT_FALSE(exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n").empty());
    EXPECT_FALSE(exposition("# TYPE x counter\nx 1\nx 2\n").empty()) << "duplicate series";
}

} // namespace
} // namespace mudguard::controller
