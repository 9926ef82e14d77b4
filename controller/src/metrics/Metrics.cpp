#include "mudguard/controller/Metrics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace mudguard::controller {

namespace {

enum Type { kCounter, kGauge, kHistogram };

const char* typeName(int t)
{
    switch (t) {
    case kCounter:
        return "counter";
    case kGauge:
        return "gauge";
    default:
        return "histogram";
    }
}

bool validName(std::string_view n, bool label)
{
    if (n.empty() || (label && n.substr(0, 2) == "__"))
        return false;
    for (std::size_t i = 0; i < n.size(); ++i) {
        char c = n[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

// Label values: backslash, double quote and line feed are escaped. HELP text: backslash and line
// feed only.
void appendEscaped(std::string& out, std::string_view s, bool quotes)
{
    for (char c : s) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (quotes && c == '"')
            out += "\\\"";
        else
            out += c;
    }
}

std::string formatValue(double v)
{
    if (std::isnan(v))
        return "NaN";
    if (std::isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
}

void addTo(std::atomic<double>& a, double by) noexcept { a.fetch_add(by, std::memory_order_relaxed); }

} // namespace

struct Metrics::Series {
    std::vector<std::string> labelValues;
    std::atomic<double> value { 0 };
    // Histograms: one non-cumulative count per bucket plus +Inf (made cumulative when rendered).
    const std::vector<double>* bounds = nullptr;
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets;
    std::atomic<std::uint64_t> count { 0 };
    std::atomic<double> sum { 0 };
};

struct Metrics::Family {
    std::string name, help;
    int type = kCounter;
    std::vector<std::string> labels;
    std::vector<double> buckets;
    std::mutex mutex;
    std::map<std::vector<std::string>, std::unique_ptr<Series>> series;

    Series* get(std::vector<std::string> values)
    {
        if (values.size() != labels.size())
            throw std::invalid_argument(
                fmt::format("metric {} takes {} label values, got {}", name, labels.size(), values.size()));
        std::lock_guard lock(mutex);
        auto it = series.find(values);
        if (it != series.end())
            return it->second.get();
        auto s = std::make_unique<Series>();
        s->labelValues = values;
        if (type == kHistogram) {
            s->bounds = &buckets;
            s->buckets = std::make_unique<std::atomic<std::uint64_t>[]>(buckets.size() + 1);
        }
        return series.emplace(std::move(values), std::move(s)).first->second.get();
    }
};

void Metrics::Counter::inc(double by) const noexcept
{
    if (by > 0)
        addTo(m_s->value, by);
}
double Metrics::Counter::value() const noexcept { return m_s->value.load(std::memory_order_relaxed); }

void Metrics::Gauge::set(double v) const noexcept { m_s->value.store(v, std::memory_order_relaxed); }
void Metrics::Gauge::add(double by) const noexcept { addTo(m_s->value, by); }
double Metrics::Gauge::value() const noexcept { return m_s->value.load(std::memory_order_relaxed); }

void Metrics::Histogram::observe(double v) const noexcept
{
    if (std::isnan(v))
        return;
    const auto& bounds = *m_s->bounds;
    // Prometheus buckets are "less or equal": the first bound >= v.
    std::size_t i = static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin());
    m_s->buckets[i].fetch_add(1, std::memory_order_relaxed);
    m_s->count.fetch_add(1, std::memory_order_relaxed);
    addTo(m_s->sum, v);
}
std::uint64_t Metrics::Histogram::count() const noexcept { return m_s->count.load(std::memory_order_relaxed); }
double Metrics::Histogram::sum() const noexcept { return m_s->sum.load(std::memory_order_relaxed); }

template <typename Handle>
Handle Metrics::FamilyRef<Handle>::labels(std::initializer_list<std::string_view> values) const
{
    std::vector<std::string> v;
    v.reserve(values.size());
    for (auto s : values)
        v.emplace_back(s);
    return Handle(m_f->get(std::move(v)));
}

template <typename Handle> Handle Metrics::FamilyRef<Handle>::labels(const std::vector<std::string>& values) const
{
    return Handle(m_f->get(values));
}

template class Metrics::FamilyRef<Metrics::Counter>;
template class Metrics::FamilyRef<Metrics::Gauge>;
template class Metrics::FamilyRef<Metrics::Histogram>;

Metrics::Metrics() = default;
Metrics::~Metrics() = default;

Metrics::Family* Metrics::family(const std::string& name, const std::string& help, int type,
    std::vector<std::string> labels, std::vector<double> buckets)
{
    if (!validName(name, false))
        throw std::logic_error(fmt::format("invalid metric name \"{}\"", name));
    for (const auto& l : labels)
        if (!validName(l, true) || (type == kHistogram && l == "le"))
            throw std::logic_error(fmt::format("invalid label name \"{}\" for metric {}", l, name));
    for (std::size_t i = 0; i < buckets.size(); ++i)
        if (!std::isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
            throw std::logic_error(fmt::format("buckets of {} must be finite and strictly increasing", name));

    std::lock_guard lock(m_mutex);
    for (const auto& f : m_families) {
        if (f->name != name)
            continue;
        if (f->type != type || f->labels != labels || f->buckets != buckets)
            throw std::logic_error(fmt::format("metric {} is already registered differently", name));
        return f.get();
    }
    auto f = std::make_unique<Family>();
    f->name = name;
    f->help = help;
    f->type = type;
    f->labels = std::move(labels);
    f->buckets = std::move(buckets);
    m_families.push_back(std::move(f));
    return m_families.back().get();
}

Metrics::FamilyRef<Metrics::Counter> Metrics::counter(
    const std::string& name, const std::string& help, std::vector<std::string> labels)
{
    return FamilyRef<Counter>(family(name, help, kCounter, std::move(labels), {}));
}

Metrics::FamilyRef<Metrics::Gauge> Metrics::gauge(
    const std::string& name, const std::string& help, std::vector<std::string> labels)
{
    return FamilyRef<Gauge>(family(name, help, kGauge, std::move(labels), {}));
}

Metrics::FamilyRef<Metrics::Histogram> Metrics::histogram(
    const std::string& name, const std::string& help, std::vector<double> buckets, std::vector<std::string> labels)
{
    return FamilyRef<Histogram>(family(name, help, kHistogram, std::move(labels), std::move(buckets)));
}

namespace {

// `{a="x",b="y"}` with an extra label (le) when given; nothing when there are no labels.
std::string labelText(const std::vector<std::string>& names, const std::vector<std::string>& values,
    std::string_view extraName = {}, std::string_view extraValue = {})
{
    if (names.empty() && extraName.empty())
        return {};
    std::string out = "{";
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i)
            out += ',';
        out += names[i];
        out += "=\"";
        appendEscaped(out, values[i], true);
        out += '"';
    }
    if (!extraName.empty()) {
        if (!names.empty())
            out += ',';
        out += fmt::format("{}=\"{}\"", extraName, extraValue);
    }
    out += '}';
    return out;
}

} // namespace

std::string Metrics::render() const
{
    std::vector<Family*> families;
    {
        std::lock_guard lock(m_mutex);
        for (const auto& f : m_families)
            families.push_back(f.get());
    }
    std::string out;
    for (Family* f : families) {
        out += "# HELP " + f->name + ' ';
        appendEscaped(out, f->help, false);
        out += fmt::format("\n# TYPE {} {}\n", f->name, typeName(f->type));
        std::lock_guard lock(f->mutex);
        for (const auto& [values, s] : f->series) {
            if (f->type != kHistogram) {
                out += fmt::format("{}{} {}\n", f->name, labelText(f->labels, values),
                    formatValue(s->value.load(std::memory_order_relaxed)));
                continue;
            }
            // Read the buckets first and derive the count from them, so that a concurrent
            // observe() cannot make +Inf differ from _count in one rendering.
            std::uint64_t cumulative = 0;
            for (std::size_t i = 0; i <= f->buckets.size(); ++i) {
                cumulative += s->buckets[i].load(std::memory_order_relaxed);
                std::string le = i < f->buckets.size() ? formatValue(f->buckets[i]) : "+Inf";
                out += fmt::format("{}_bucket{} {}\n", f->name, labelText(f->labels, values, "le", le), cumulative);
            }
            out += fmt::format("{}_sum{} {}\n", f->name, labelText(f->labels, values),
                formatValue(s->sum.load(std::memory_order_relaxed)));
            out += fmt::format("{}_count{} {}\n", f->name, labelText(f->labels, values), cumulative);
        }
    }
    return out;
}

// --- mudguard's metrics ---------------------------------------------------------------------------

namespace {

constexpr DeviceState kStates[] = { DeviceState::Pending, DeviceState::Fetching, DeviceState::Enforced,
    DeviceState::Failed, DeviceState::Quarantined };

template <typename Handle, typename Enum, std::size_t N>
std::vector<Handle> series(const Metrics::FamilyRef<Handle>& f, const std::pair<Enum, const char*> (&values)[N])
{
    std::vector<Handle> out;
    for (std::size_t i = 0; i < N; ++i)
        out.push_back(f.labels({ values[i].second }));
    return out;
}

constexpr std::pair<FetchOutcome, const char*> kFetch[] = { { FetchOutcome::Fetched, "fetched" },
    { FetchOutcome::NotModified, "not-modified" }, { FetchOutcome::Failed, "failed" } };
constexpr std::pair<VerifyOutcome, const char*> kVerify[]
    = { { VerifyOutcome::Verified, "verified" }, { VerifyOutcome::Failed, "failed" },
          { VerifyOutcome::Unsigned, "unsigned" }, { VerifyOutcome::SignerPending, "signer-pending" } };
constexpr std::pair<EnforceStage, const char*> kStage[]
    = { { EnforceStage::Join, "join" }, { EnforceStage::Batch, "batch" }, { EnforceStage::Rebuild, "rebuild" } };
constexpr std::pair<DnsOutcome, const char*> kDns[]
    = { { DnsOutcome::Refreshed, "refreshed" }, { DnsOutcome::Failed, "failed" } };
constexpr std::pair<TrafficDirection, const char*> kDirection[]
    = { { TrafficDirection::FromDevice, "from-device" }, { TrafficDirection::ToDevice, "to-device" } };

// Enforcement: 0.5 ms .. 5 s (the join target is p50 <= 5 ms, p99 <= 20 ms).
const std::vector<double> kEnforceBuckets
    = { 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };
// API requests: 0.1 ms .. 2.5 s.
const std::vector<double> kApiBuckets
    = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };

} // namespace

MudguardMetrics::MudguardMetrics(Metrics& registry, std::string_view version)
    : m_registry(registry)
    , m_apiRequests(registry.counter("mudguard_api_requests_total",
          "HTTP API requests by route template, method and status (0: no response was sent).",
          { "route", "method", "status" }))
    , m_apiDuration(registry.histogram("mudguard_api_request_duration_seconds",
          "HTTP API request duration from the first byte of the request to the response written.", kApiBuckets,
          { "route" }))
    , m_refused(registry
                    .counter("mudguard_api_connections_refused_total",
                        "HTTP API connections refused because the connection limit was reached.")
                    .labels({}))
    , m_degraded(registry
                     .gauge("mudguard_degraded",
                         "1 while mudguard is degraded (its state database refuses writes, or devices are held "
                         "until it records them); 0 otherwise.")
                     .labels({}))
    , m_fetchQueue(
          registry.gauge("mudguard_fetch_queue", "MUD files waiting to be fetched, and being fetched.", { "state" }))
{
    if (!version.empty())
        registry.gauge("mudguard_build_info", "The running mudguard version.", { "version" })
            .labels({ version })
            .set(1);
    auto devices = registry.gauge("mudguard_devices", "Devices by state.", { "state" });
    for (DeviceState s : kStates)
        m_devices.push_back(devices.labels({ toString(s) }));
    m_fetch
        = series(registry.counter("mudguard_mud_fetches_total", "MUD file fetches by outcome.", { "outcome" }), kFetch);
    m_verify = series(registry.counter("mudguard_signature_verifications_total",
                          "MUD file signature checks by outcome.", { "outcome" }),
        kVerify);
    m_enforce = series(registry.histogram("mudguard_enforce_duration_seconds",
                           "Enforcement latency: join (device event to rules in force), batch (one netlink batch), "
                           "rebuild (the whole table).",
                           kEnforceBuckets, { "stage" }),
        kStage);
    m_dns = series(
        registry.counter("mudguard_dns_refreshes_total", "Resolutions of names in policies by outcome.", { "outcome" }),
        kDns);
    m_violations = series(registry.counter("mudguard_violations_total",
                              "Packets blocked because no policy allowed them, by direction.", { "direction" }),
        kDirection);
    auto refusals = registry.counter("mudguard_refusals_total",
        "Refusals on the way from an announcement to rules in the kernel, by the stage that refused.", { "stage" });
    for (FailureStage s : allFailureStages())
        m_refusals.push_back(refusals.labels({ toString(s) }));
    setFetchQueue(0, 0);
}

Metrics::Counter MudguardMetrics::refusals(FailureStage s) const { return m_refusals.at(static_cast<std::size_t>(s)); }
Metrics::Gauge MudguardMetrics::degraded() const { return m_degraded; }
void MudguardMetrics::setFetchQueue(std::size_t queued, std::size_t running) const
{
    m_fetchQueue.labels({ "queued" }).set(static_cast<double>(queued));
    m_fetchQueue.labels({ "running" }).set(static_cast<double>(running));
}

void MudguardMetrics::setDevices(const std::map<DeviceState, std::size_t>& byState) const
{
    for (std::size_t i = 0; i < std::size(kStates); ++i) {
        auto it = byState.find(kStates[i]);
        m_devices[i].set(it == byState.end() ? 0.0 : static_cast<double>(it->second));
    }
}

Metrics::Gauge MudguardMetrics::devices(DeviceState s) const { return m_devices.at(static_cast<std::size_t>(s)); }
Metrics::Counter MudguardMetrics::fetch(FetchOutcome o) const { return m_fetch.at(static_cast<std::size_t>(o)); }
Metrics::Counter MudguardMetrics::verify(VerifyOutcome o) const { return m_verify.at(static_cast<std::size_t>(o)); }
Metrics::Histogram MudguardMetrics::enforceLatency(EnforceStage s) const
{
    return m_enforce.at(static_cast<std::size_t>(s));
}
Metrics::Counter MudguardMetrics::dnsRefresh(DnsOutcome o) const { return m_dns.at(static_cast<std::size_t>(o)); }
Metrics::Counter MudguardMetrics::violations(TrafficDirection d) const
{
    return m_violations.at(static_cast<std::size_t>(d));
}

void MudguardMetrics::apiRequest(std::string_view route, std::string_view method, int status, double seconds) const
{
    m_apiRequests.labels({ route, method, std::to_string(status) }).inc();
    m_apiDuration.labels({ route }).observe(seconds);
}

Metrics::Counter MudguardMetrics::apiConnectionsRefused() const { return m_refused; }

} // namespace mudguard::controller
