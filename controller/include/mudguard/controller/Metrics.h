#pragma once
// A small thread-safe metrics registry (counters, gauges, histograms with fixed buckets, label
// sets) rendered in the Prometheus text exposition format (version 0.0.4), plus mudguard's own
// metrics with typed handles.
//
//   Metrics registry;
//   MudguardMetrics m(registry);
//   m.fetch(FetchOutcome::Fetched).inc();
//   m.enforceLatency(EnforceStage::Join).observe(0.0031); // seconds
//   m.setDevices({{DeviceState::Enforced, 9998}, {DeviceState::Failed, 2}});
//   std::string text = registry.render(); // GET /metrics
//
// Families and series are created under a lock; a handle (Counter, Gauge, Histogram) points to
// its series for the registry's lifetime, and updating through it is lock-free (atomics). Keep
// handles for hot paths. Label values must come from closed sets (states, outcomes, routes),
// never from device or network data, so that the number of series stays bounded.

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mudguard/controller/Model.h"

namespace mudguard::controller {

class Metrics {
public:
    struct Series;
    struct Family;

    class Counter {
    public:
        /// Adds `by` (must be >= 0; negative values are ignored).
        void inc(double by = 1) const noexcept;
        double value() const noexcept;

    private:
        friend class Metrics;
        explicit Counter(Series* s)
            : m_s(s)
        {
        }
        Series* m_s;
    };

    class Gauge {
    public:
        void set(double v) const noexcept;
        void add(double by) const noexcept;
        double value() const noexcept;

    private:
        friend class Metrics;
        explicit Gauge(Series* s)
            : m_s(s)
        {
        }
        Series* m_s;
    };

    class Histogram {
    public:
        void observe(double v) const noexcept;
        std::uint64_t count() const noexcept;
        double sum() const noexcept;

    private:
        friend class Metrics;
        explicit Histogram(Series* s)
            : m_s(s)
        {
        }
        Series* m_s;
    };

    /// A metric name with its label names; `labels(...)` finds or creates one series.
    template <typename Handle> class FamilyRef {
    public:
        /// Values in the order of the family's label names; throws std::invalid_argument when the
        /// count differs.
        Handle labels(std::initializer_list<std::string_view> values) const;
        Handle labels(const std::vector<std::string>& values) const;

    private:
        friend class Metrics;
        explicit FamilyRef(Family* f)
            : m_f(f)
        {
        }
        Family* m_f;
    };

    Metrics();
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    /// Registers a family (or returns the one of that name). Names follow Prometheus rules
    /// ([a-zA-Z_:][a-zA-Z0-9_:]*, labels without a leading "__"); a bad name, or the same name
    /// registered again with another type, labels or buckets, throws std::logic_error.
    FamilyRef<Counter> counter(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
    FamilyRef<Gauge> gauge(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
    /// `buckets`: upper bounds, strictly increasing; +Inf is added.
    FamilyRef<Histogram> histogram(const std::string& name, const std::string& help, std::vector<double> buckets,
        std::vector<std::string> labels = {});

    /// The text exposition format: families in registration order, series sorted by labels.
    std::string render() const;

    /// The Content-Type of render()'s output.
    static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

private:
    Family* family(const std::string& name, const std::string& help, int type, std::vector<std::string> labels,
        std::vector<double> buckets);

    mutable std::mutex m_mutex;
    std::vector<std::unique_ptr<Family>> m_families;
};

enum class FetchOutcome {
    Fetched, ///< downloaded (new or changed)
    NotModified, ///< the server said 304, the cached file stays
    Failed, ///< network, TLS, size or status error
};
enum class VerifyOutcome {
    Verified,
    Failed,
    Unsigned, ///< accepted without a signature (trust policy "prefer" or "off", local files)
    SignerPending, ///< valid, the signer waits for an admin
};
enum class EnforceStage {
    Join, ///< from the device event to its rules in force
    Batch, ///< one netlink batch, sent to acknowledged
    Rebuild, ///< a full rebuild of mudguard's tables
};
enum class DnsOutcome { Refreshed, Failed };
enum class TrafficDirection { FromDevice, ToDevice };

/// mudguard's metrics (the list with meanings is in docs/api.md). Every labelled series of a
/// closed set exists from the start, at zero.
class MudguardMetrics {
public:
    /// Registers the families in `registry`, which must outlive this object.
    explicit MudguardMetrics(Metrics& registry, std::string_view version = {});

    Metrics& registry() noexcept { return m_registry; }

    /// mudguard_devices{state}: sets every state at once (states not listed become 0).
    void setDevices(const std::map<DeviceState, std::size_t>& byState) const;
    Metrics::Gauge devices(DeviceState s) const;
    /// mudguard_mud_fetches_total{outcome}
    Metrics::Counter fetch(FetchOutcome o) const;
    /// mudguard_signature_verifications_total{outcome}
    Metrics::Counter verify(VerifyOutcome o) const;
    /// mudguard_enforce_duration_seconds{stage}: observe seconds.
    Metrics::Histogram enforceLatency(EnforceStage s) const;
    /// mudguard_dns_refreshes_total{outcome}
    Metrics::Counter dnsRefresh(DnsOutcome o) const;
    /// mudguard_violations_total{direction}: blocked packets.
    Metrics::Counter violations(TrafficDirection d) const;
    /// mudguard_refusals_total{stage}: refusals by the stage that refused.
    Metrics::Counter refusals(FailureStage s) const;
    /// mudguard_degraded: 1 while degraded, 0 otherwise.
    Metrics::Gauge degraded() const;
    /// mudguard_fetch_queue{state}: fetches queued and running.
    void setFetchQueue(std::size_t queued, std::size_t running) const;

    /// mudguard_api_requests_total{route,method,status} and
    /// mudguard_api_request_duration_seconds{route}. `route` is the route's template
    /// ("/api/v1/devices/{mac}") or "unmatched"; `status` 0 counts a request that got no response.
    void apiRequest(std::string_view route, std::string_view method, int status, double seconds) const;
    /// mudguard_api_connections_refused_total: connections turned away at the connection limit.
    Metrics::Counter apiConnectionsRefused() const;

private:
    Metrics& m_registry;
    std::vector<Metrics::Gauge> m_devices;
    std::vector<Metrics::Counter> m_fetch, m_verify, m_dns, m_violations, m_refusals;
    std::vector<Metrics::Histogram> m_enforce;
    Metrics::FamilyRef<Metrics::Counter> m_apiRequests;
    Metrics::FamilyRef<Metrics::Histogram> m_apiDuration;
    Metrics::Counter m_refused;
    Metrics::Gauge m_degraded;
    Metrics::FamilyRef<Metrics::Gauge> m_fetchQueue;
};

} // namespace mudguard::controller
