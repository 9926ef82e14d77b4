// The daemon's events: each source's readings become announcements for the core, verdicts come
// back from the fetch workers, timers tick; every decision is the core's, applied by the executor.
// What follows a plan (fetches, spool entries removed, names, the API's view, metrics) is here too.

#include <fmt/format.h>
#include <linux/netfilter.h>

#include "mudguard/enforcer/Layout.h"

#include "Translate.h"
#include "daemon/DaemonImpl.h"
#include "discovery/Announcements.h"

namespace mudguard::controller {

using log::Category;
using log::Event;
using log::Level;

// =================================================================================================
// Plans and what follows them

void Daemon::Impl::apply(core::Plan plan)
{
    if (plan.empty())
        return;
    executor->apply(std::move(plan));
}

void Daemon::Impl::took(const core::Plan& p)
{
    for (const auto& f : p.fetches)
        requestFetch(f);
    for (const auto& id : p.spoolDone) {
        spool->remove(id);
        spoolSeen.erase(id);
    }
    for (const auto& op : p.store.ops)
        if (const auto* doc = std::get_if<StoreBatch::PutMudDocument>(&op))
            documents->put(doc->row);
    for (auto o : p.fetchOutcomes)
        metrics->fetch(o).inc();
    for (auto o : p.verifyOutcomes)
        metrics->verify(o).inc();
    for (auto s : p.refusals)
        metrics->refusals(s).inc();
    const auto now = std::chrono::steady_clock::now();
    for (const auto& mac : p.joined)
        joinStarted.try_emplace(mac, now);
    for (const auto& mac : p.enforced) {
        if (auto it = joinStarted.find(mac); it != joinStarted.end()) {
            metrics->enforceLatency(EnforceStage::Join)
                .observe(std::chrono::duration<double>(now - it->second).count());
            joinStarted.erase(it);
        }
        if (opts.onEnforced)
            opts.onEnforced(mac.toString());
    }
    for (const auto& mac : p.failed)
        joinStarted.erase(mac);
    for (const auto& mac : p.removed) {
        joinStarted.erase(mac);
        violations.forget(mac.toString());
    }
    if (p.namesChanged && started)
        names->track(core->wantedNames());
    if (p.policiesChanged || p.healthChanged)
        publish();
}

void Daemon::Impl::requestFetch(const core::FetchRequest& f)
{
    auto submitted = fetches->submit(f.url, urlAuthority(f.url), f.force, f.device ? f.device->toString() : "");
    auto stats = fetches->stats();
    metrics->setFetchQueue(stats.queued, stats.running);
    if (submitted.admission != FetchScheduler::Admission::Refused)
        return;
    // Refused at once: the core hears it as a verdict, on the loop (not inside this plan's effects).
    auto verdict = std::make_shared<core::FetchVerdict>();
    verdict->url = f.url;
    verdict->failure = Failure { FailureStage::Limit, "fetch-queue-full", submitted.reason };
    loop.post([this, verdict] { onVerdict(*verdict); });
}

void Daemon::Impl::auditOnly(
    log::Category c, log::Level l, log::Event e, const std::string& message, const std::string& reason)
{
    core::Plan p;
    p.what = log::toString(e);
    AuditEntry a;
    a.at = nowMs();
    a.event = log::toString(e);
    a.reason = reason;
    p.store.add(StoreBatch::AppendAudit { std::move(a) });
    if (!message.empty())
        p.logs.push_back(core::LogRecord { c, l, e, message, {} });
    apply(std::move(p));
}

// =================================================================================================
// Discovery

void Daemon::Impl::onHook()
{
    auto messages = hook->handleReadable();
    if (messages.empty())
        return;
    std::vector<core::Announcement> batch;
    batch.reserve(messages.size());
    for (const auto& m : messages) {
        if (m.event.spoolId)
            spoolSeen.insert(*m.event.spoolId);
        if (auto a = discovery::fromLease(m.event))
            batch.push_back(std::move(*a));
        else if (m.event.spoolId)
            spool->remove(*m.event.spoolId);
    }
    apply(core->announce(batch, nowMs(), "lease events"));
}

void Daemon::Impl::scanSpool()
{
    // Entries the daemon did not receive as datagrams (the socket's queue was full, the daemon
    // was busy starting): older than a few seconds and not seen in this run.
    const auto now = std::chrono::system_clock::now();
    auto listing = spool->list();
    for (const auto& why : listing.rejected)
        log::write(Category::Discovery, Level::Warning, "a spooled lease event was dropped", { { "reason", why } });
    std::vector<core::Announcement> batch;
    for (const auto& e : listing.entries) {
        if (spoolSeen.count(e.id) || now - e.at < std::chrono::seconds(3))
            continue;
        spoolSeen.insert(e.id);
        if (auto a = discovery::fromLease(e.event))
            batch.push_back(std::move(*a));
        else
            spool->remove(e.id);
    }
    if (!batch.empty()) {
        log::write(Category::Discovery, Level::Info, "lease events read from the spool",
            { { "events", static_cast<std::int64_t>(batch.size()) } });
        apply(core->announce(batch, nowMs(), "spooled lease events"));
    }
}

void Daemon::Impl::onNeighbours(const std::vector<NeighbourEvent>& events)
{
    std::vector<core::Announcement> batch;
    for (const auto& e : events)
        if (auto a = discovery::fromNeighbour(e); a && core->state().devices.count(a->mac))
            batch.push_back(std::move(*a));
    if (!batch.empty())
        apply(core->announce(batch, nowMs(), "neighbour events"));
}

void Daemon::Impl::onLldp()
{
    std::vector<core::Announcement> batch;
    for (const auto& e : lldp->handleReadable()) {
        if (e.kind == LldpEvent::Kind::Stopped) {
            log::write(Category::Discovery, Level::Warning, "lldpcli stopped; restarting it in 5 s",
                { { "reason", e.detail } });
            lldpRestart = loop.addTimer(
                std::chrono::seconds(5), [this] { lldp->restart(); }, "lldp restart");
            continue;
        }
        if (auto a = discovery::fromLldp(e))
            batch.push_back(std::move(*a));
    }
    if (!batch.empty())
        apply(core->announce(batch, nowMs(), "LLDP events"));
}

// =================================================================================================
// Verdicts, timers, the store

void Daemon::Impl::onVerdict(const core::FetchVerdict& v)
{
    auto stats = fetches->stats();
    metrics->setFetchQueue(stats.queued, stats.running);
    apply(core->verdict(v, nowMs()));
}

void Daemon::Impl::onTick() { apply(core->tick(nowMs())); }

void Daemon::Impl::onHeal()
{
    if (core->needsHeal())
        apply(core->heal(nowMs()));
    metrics->degraded().set(core->degraded().empty() ? 0 : 1);
}

// =================================================================================================
// The kernel, DNS names, violations

void Daemon::Impl::onTableEvents()
{
    if (!enforcer->handleEvents())
        return;
    ++tableRestores;
    lastReconcile = nowMs();
    apply(core->tablesRestored(nowMs()));
    publish();
}

void Daemon::Impl::onDnsCopies()
{
    auto packets = nflogDns->handleReadable();
    const auto& owners = core->state().owners;
    for (const auto& pkt : packets)
        names->observe(
            pkt.payload,
            [&owners](const std::string& client) {
                auto ip = IpAddress::parse(client);
                return ip && owners.count(*ip) > 0;
            },
            pkt.hook == NF_INET_LOCAL_OUT);
    commitDns();
}

void Daemon::Impl::commitDns()
{
    auto updates = names->takeUpdates();
    if (!updates.empty())
        apply(core->dnsUpdates(updates, nowMs()));
}

void Daemon::Impl::onDrops()
{
    const auto& owners = core->state().owners;
    for (const auto& pkt : nflogDrops->handleReadable()) {
        bool from = pkt.prefix.rfind(enforcer::names::kLogPrefixFrom, 0) == 0;
        bool to = pkt.prefix.rfind(enforcer::names::kLogPrefixTo, 0) == 0;
        if (!from && !to)
            continue;
        metrics->violations(from ? TrafficDirection::FromDevice : TrafficDirection::ToDevice).inc();
        violations.record(pkt, from, [&owners](const std::string& ip) -> std::string {
            auto a = IpAddress::parse(ip);
            if (!a)
                return {};
            auto it = owners.find(*a);
            return it == owners.end() ? std::string() : it->second.toString();
        });
    }
}

void Daemon::Impl::flushViolations()
{
    std::vector<core::Core::ViolationSummary> out;
    for (auto& s : violations.takeSummaries())
        if (auto mac = MacAddress::parse(s.mac))
            out.push_back({ *mac, std::move(s.direction), std::move(s.peers), s.packets });
    if (!out.empty())
        apply(core->violations(out, nowMs()));
}

} // namespace mudguard::controller
