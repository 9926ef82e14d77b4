// The daemon's set-up and cold start: the state database, the trust pipeline and fetch workers,
// the enforcer, the core and its executor, the discovery sources; then enforcement restored from
// the saved state (and the spooled announcements) in the enforcer's first batch.

#include "daemon/Daemon.h"

#include <algorithm>
#include <csignal>
#include <fstream>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/epoll.h>

#include "mudguard/Config.h"
#include "mudguard/enforcer/NetlinkApplier.h"
#include "mudguard/mudparser/MudCache.h"

#include "Translate.h"
#include "daemon/DaemonApi.h"
#include "daemon/DaemonImpl.h"
#include "daemon/SdNotify.h"
#include "discovery/Announcements.h"

namespace mudguard::controller {

using log::Category;
using log::Event;
using log::Level;

Timestamp nowMs() { return std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now()); }

namespace {

/// The addresses of the named interfaces ("192.0.2.1"), or with `networks` their networks
/// ("192.0.2.0/24"). IPv6 link-local addresses are left out.
std::vector<std::string> interfaceAddresses(const std::vector<std::string>& names, bool networks)
{
    std::vector<std::string> out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0)
        return out;
    std::unique_ptr<ifaddrs, decltype(&::freeifaddrs)> guard(list, &::freeifaddrs);
    for (auto* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || !i->ifa_netmask || std::find(names.begin(), names.end(), i->ifa_name) == names.end())
            continue;
        char text[INET6_ADDRSTRLEN] = {};
        int bits = 0;
        if (i->ifa_addr->sa_family == AF_INET) {
            auto addr = reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr;
            auto mask = reinterpret_cast<sockaddr_in*>(i->ifa_netmask)->sin_addr;
            if (networks)
                addr.s_addr &= mask.s_addr;
            bits = __builtin_popcount(mask.s_addr);
            ::inet_ntop(AF_INET, &addr, text, sizeof text);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            auto addr = reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr;
            const auto& mask = reinterpret_cast<sockaddr_in6*>(i->ifa_netmask)->sin6_addr;
            for (int b = 0; b < 16; ++b) {
                if (networks)
                    addr.s6_addr[b] &= mask.s6_addr[b];
                bits += __builtin_popcount(mask.s6_addr[b]);
            }
            if (IN6_IS_ADDR_LINKLOCAL(&addr))
                continue;
            ::inet_ntop(AF_INET6, &addr, text, sizeof text);
        } else {
            continue;
        }
        out.push_back(networks ? fmt::format("{}/{}", text, bits) : std::string(text));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

/// A local file an admin names, refused past `limit` bytes.
std::string readFileBounded(const std::filesystem::path& file, std::size_t limit)
{
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw Error(fmt::format("cannot read \"{}\"", file.string()));
    std::string out(limit + 1, '\0');
    in.read(out.data(), static_cast<std::streamsize>(out.size()));
    out.resize(static_cast<std::size_t>(in.gcount()));
    if (out.size() > limit)
        throw Error(fmt::format("\"{}\" is larger than {} bytes", file.string(), limit));
    return out;
}

std::vector<enforcer::Prefix> prefixes(const std::vector<std::string>& text)
{
    std::vector<enforcer::Prefix> out;
    for (const auto& t : text)
        if (auto p = enforcer::Prefix::parse(t))
            out.push_back(*p);
    return out;
}

} // namespace

// =================================================================================================
// Set-up

Daemon::Impl::Impl(DaemonConfig c, DaemonOptions o)
    : cfg(std::move(c))
    , opts(std::move(o))
{
    // The signals the loop handles are blocked before any thread starts, so that every thread
    // inherits the mask and only the loop's signalfd sees them.
    sigset_t signals;
    sigemptyset(&signals);
    for (int signo : { SIGTERM, SIGINT, SIGHUP })
        sigaddset(&signals, signo);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::filesystem::create_directories(cfg.stateDirectory);
    std::filesystem::permissions(
        cfg.stateDirectory, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
    auto dbFile = cfg.stateDirectory / "mudguard.db";
    store = std::make_unique<Store>(dbFile);
    loopReader = store->reader();
    log::write(Category::Store, Level::Info, Event::StoreOpened, "state database opened",
        { { "path", dbFile.string() }, { "schema", static_cast<std::int64_t>(store->schemaVersion()) } });
    metrics = std::make_unique<MudguardMetrics>(metricsRegistry, config::kVersion);
    parser = std::make_unique<mudparser::Parser>(opts.schemaDir);
    setUpTrust();
    enforcer = std::make_unique<enforcer::Enforcer>(enforcer::makeNetlinkApplier(), enforcerConfig(cfg));
    core = std::make_unique<core::Core>(settingsFrom(cfg));
    executor = std::make_unique<core::Executor>(*core, *enforcer, *store, *this);
    FetchScheduler::Limits limits;
    limits.hostInterval = std::chrono::milliseconds(cfg.fetch.minIntervalMs);
    fetches = std::make_unique<FetchScheduler>(
        opts.fetchWorkers, opts.schemaDir, limits,
        [this](const std::string& url, bool force, const mudparser::Parser& p) {
            // A worker: the verdict goes back to the loop as data.
            auto v = force ? pipeline->refresh(url, p) : pipeline->obtain(url, p);
            v.url = url;
            auto verdict = std::make_shared<core::FetchVerdict>(core::fromPipeline(std::move(v)));
            loop.post([this, verdict] { onVerdict(*verdict); });
        },
        [this](const std::string& url, const std::string& why) {
            auto verdict = std::make_shared<core::FetchVerdict>();
            verdict->url = url;
            verdict->failure
                = Failure { FailureStage::Fetch, "internal-error", "the fetch failed unexpectedly: " + why };
            loop.post([this, verdict] { onVerdict(*verdict); });
        });
    DnsNames::Options dn;
    auto own = routerAddresses(cfg);
    dn.resolver = cfg.dns.resolver.value_or(own.empty() ? "127.0.0.1" : own.front());
    dn.port = cfg.dns.resolverPort;
    dn.minTtl = cfg.dns.minTtl;
    dn.maxTtl = cfg.dns.maxTtl;
    names = std::make_unique<DnsNames>(loop, dn, [this] {
        if (started)
            commitDns();
    });
    importLegacyCache();
}

Daemon::Impl::~Impl()
{
    // The workers post to the loop: they stop before anything they use goes.
    fetches.reset();
}

enforcer::Config Daemon::Impl::enforcerConfig(const DaemonConfig& c) const
{
    enforcer::Config e;
    e.denyAction = c.posture.denyAction == "reject" ? enforcer::DenyAction::Reject : enforcer::DenyAction::Drop;
    e.holdUnmanaged = c.posture.unmanaged == "infrastructure-only";
    e.lanInterfaces = c.lanInterfaces;
    e.infrastructure.dhcp = c.infrastructure.dhcp;
    e.infrastructure.dns = c.infrastructure.dns;
    e.infrastructure.ndp = c.infrastructure.ndp;
    e.infrastructure.ntp = c.infrastructure.ntp;
    e.logGroup = c.nflog.dropGroup;
    e.logRatePerSecond = c.nflog.dropLogRate;
    e.dnsLogGroup = c.dns.snoopAnswers ? c.nflog.dnsGroup : 0;
    return e;
}

std::vector<std::string> Daemon::Impl::lanPrefixes(const DaemonConfig& c) const
{
    return c.lanPrefixes.empty() ? interfaceAddresses(c.lanInterfaces, true) : c.lanPrefixes;
}

std::vector<std::string> Daemon::Impl::routerAddresses(const DaemonConfig& c) const
{
    return c.routerAddresses.empty() ? interfaceAddresses(c.lanInterfaces, false) : c.routerAddresses;
}

mudparser::LocalNetworks Daemon::Impl::localNetworks(const DaemonConfig& c) const
{
    // The router's own addresses, on every interface, are never fetched from; nor is the LAN.
    auto local = mudparser::LocalNetworks::fromInterfaces();
    local.lanNetworks.clear();
    for (const auto& p : lanPrefixes(c))
        if (auto prefix = mudparser::IpPrefix::parse(p))
            local.lanNetworks.push_back(*prefix);
    for (const auto& a : routerAddresses(c))
        if (auto addr = mudparser::IpAddress::parse(a))
            local.ownAddresses.push_back(*addr);
    return local;
}

mudparser::TrustPolicy Daemon::Impl::trustPolicy(const DaemonConfig& c) const
{
    mudparser::TrustPolicy p;
    p.signature
        = mudparser::parseSignatureRequirement(c.trust.signature).value_or(mudparser::SignatureRequirement::Require);
    if (!c.trust.trustAnchors.empty())
        p.anchors = mudparser::TrustAnchors::fromPemFiles(c.trust.trustAnchors);
    for (const auto& a : c.trust.authorities)
        p.authorityAnchors[a.host] = mudparser::TrustAnchors::fromPemFiles(a.trustAnchors);
    p.defaultSignatureSuffix = c.trust.defaultSignatureUrl;
    return p;
}

core::LocalDocument Daemon::Impl::localDocument(const std::string& document, const std::string& origin)
{
    core::LocalDocument d;
    d.document = std::make_shared<const std::string>(document);
    d.digest = core::sha256Hex(document);
    mudparser::ParseOptions po;
    po.fileName = origin;
    auto r = parser->parse(document, po);
    d.diagnostics = r.report.diagnostics;
    if (r.profile) {
        d.profile = std::make_shared<const mudparser::Profile>(std::move(*r.profile));
    } else {
        for (const auto& diag : r.report.diagnostics)
            if (diag.severity == mudparser::Severity::Error) {
                d.failure = Failure { FailureStage::Validation, diag.code,
                    diag.code.empty() ? diag.message : fmt::format("{} [{}]", diag.message, diag.code) };
                break;
            }
        if (!d.failure)
            d.failure = Failure { FailureStage::Validation, "mud-invalid", "the MUD file is not valid" };
    }
    return d;
}

core::Settings Daemon::Impl::settingsFrom(const DaemonConfig& c)
{
    core::Settings s;
    s.leaveGrace = std::chrono::seconds(c.posture.leaveGraceSeconds);
    s.unbindWhenUrlWithdrawn = c.discovery.urlWithdrawn == "unbind";
    s.lanPrefixes = prefixes(lanPrefixes(c));
    s.routerAddresses = prefixes(routerAddresses(c));
    if (c.classes.ntpServer)
        if (auto p = enforcer::Prefix::parse(*c.classes.ntpServer))
            s.ntpServer = *p;
    s.controllers = c.classes.controllers;
    s.myControllers = c.classes.myControllers;
    s.enforcer = enforcerConfig(c);
    for (const auto& dev : c.devices) {
        auto mac = MacAddress::parse(dev.mac);
        if (!mac)
            continue; // the configuration check refuses it first
        core::ConfiguredDevice d;
        d.mac = *mac;
        d.mudUrl = dev.mudUrl;
        if (dev.mudFile) {
            try {
                d.file = localDocument(readFileBounded(*dev.mudFile, c.fetch.maxBytes), dev.mudFile->string());
            } catch (const std::exception& e) {
                core::LocalDocument bad;
                bad.failure = Failure { FailureStage::Validation, "mud-file-unreadable", e.what() };
                d.file = std::move(bad);
            }
        }
        s.devices.push_back(std::move(d));
    }
    return s;
}

void Daemon::Impl::setUpTrust()
{
    mudparser::AddressPolicy ap;
    for (const auto& p : cfg.fetch.allowPrivate)
        if (auto prefix = mudparser::IpPrefix::parse(p))
            ap.allow.push_back(*prefix);
    guard = std::make_shared<mudparser::AddressGuard>(ap, localNetworks(cfg));
    mudparser::FetchConfig fc;
    fc.deadline = std::chrono::seconds(cfg.fetch.timeoutSeconds);
    fc.maxMudBytes = cfg.fetch.maxBytes;
    fc.maxRedirects = cfg.fetch.maxRedirects;
    fc.caFiles = cfg.fetch.caFiles;
    // The per-host rate is the fetch scheduler's: a worker never sleeps for it.
    fc.hostRequestsPerSecond = 0;
    fetcher = std::make_shared<mudparser::Fetcher>(fc, guard);
    documents = std::make_shared<CachedDocuments>();
    // No signer registry: the same-signer rule is the core's decision, recorded with the verdict.
    pipeline = std::make_shared<mudparser::TrustPipeline>(fetcher, trustPolicy(cfg), documents, nullptr);
}

void Daemon::Impl::importLegacyCache()
{
    // Earlier versions kept the last known good files in their own directory: they move into the
    // state database once, then the directory goes.
    auto dir = cfg.stateDirectory / "mud-cache";
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        return;
    std::size_t imported = 0;
    try {
        mudparser::MudCache legacy(dir);
        StoreBatch batch;
        for (const auto& e : legacy.entries()) {
            if (store->mudCache(e->url) && store->mudCache(e->url)->document)
                continue;
            batch.add(StoreBatch::PutMudDocument { CachedDocuments::rowOf(*e) });
            ++imported;
        }
        batch.add(StoreBatch::AppendAudit { AuditEntry { 0, {}, log::toString(Event::StoreMigrated), {}, {},
            fmt::format("{} MUD files imported from {} into the state database", imported, dir.string()), "{}" } });
        store->commit(batch);
        std::filesystem::remove_all(dir, ec);
        log::write(Category::Store, Level::Info, Event::StoreMigrated,
            "the MUD file cache moved into the state database",
            { { "files", static_cast<std::int64_t>(imported) }, { "from", dir.string() } });
    } catch (const std::exception& e) {
        log::write(Category::Store, Level::Warning, Event::StoreFailed,
            "the old MUD file cache could not be imported; its files will be fetched again",
            { { "path", dir.string() }, { "reason", e.what() } });
    }
}

void Daemon::Impl::setUpSources()
{
    HookServerOptions ho;
    ho.path = cfg.hookSocket;
    std::filesystem::create_directories(cfg.hookSocket.parent_path());
    hook = std::make_unique<HookServer>(ho);
    hook->onRejected([](const std::string& why) {
        log::write(Category::Discovery, Level::Warning, "a hook datagram was refused", { { "reason", why } });
    });
    spool = std::make_unique<HookSpool>(spoolDirFor(cfg.hookSocket), ho.allowedUids);
    handles.push_back(loop.watchFd(
        hook->fd(), EPOLLIN, [this](std::uint32_t) { onHook(); }, "hook socket"));

    if (cfg.discovery.neighbours) {
        NeighbourWatcherOptions no;
        no.interfaces = cfg.lanInterfaces;
        neighbours = std::make_unique<NeighbourWatcher>(no);
        handles.push_back(loop.watchFd(
            neighbours->fd(), EPOLLIN, [this](std::uint32_t) { onNeighbours(neighbours->handleReadable()); },
            "neighbours"));
    }
    if (cfg.discovery.lldp) {
        LldpWatcherOptions lo;
        lo.lldpcli = config::kLldpcliProgram;
        lo.socket = cfg.discovery.lldpctlSocket.value_or("");
        lo.interfaces = {};
        lldp = std::make_unique<LldpWatcher>(lo);
        handles.push_back(loop.watchFd(
            lldp->fd(), EPOLLIN, [this](std::uint32_t) { onLldp(); }, "lldp"));
    }
    auto openNflog = [this](std::uint16_t group, std::uint32_t snaplen, void (Impl::*onReadable)(), const char* what) {
        NflogReaderOptions o;
        o.group = group;
        o.snaplen = snaplen;
        auto reader = std::make_unique<NflogReader>(o);
        handles.push_back(loop.watchFd(
            reader->fd(), EPOLLIN, [this, onReadable](std::uint32_t) { (this->*onReadable)(); }, what));
        return reader;
    };
    // Denied packets: the headers are enough. DNS answers: whole packets.
    nflogDrops = openNflog(cfg.nflog.dropGroup, 128, &Impl::onDrops, "nflog drops");
    if (cfg.dns.snoopAnswers)
        nflogDns = openNflog(cfg.nflog.dnsGroup, 1500, &Impl::onDnsCopies, "nflog dns");
    handles.push_back(loop.watchFd(
        enforcer->eventFd(), EPOLLIN, [this](std::uint32_t) { onTableEvents(); }, "nftables monitor"));

    // Leaves, refreshes and kernel retries; every second when the grace time is short.
    auto tickEvery = cfg.posture.leaveGraceSeconds < 30 ? std::chrono::seconds(1) : std::chrono::seconds(5);
    handles.push_back(loop.addPeriodic(
        tickEvery, [this] { onTick(); }, "core timers"));
    handles.push_back(loop.addPeriodic(
        std::chrono::seconds(5), [this] { onHeal(); }, "store heal"));
    handles.push_back(loop.addPeriodic(
        std::chrono::seconds(10), [this] { scanSpool(); }, "spool"));
    handles.push_back(loop.addPeriodic(
        std::chrono::seconds(cfg.nflog.summaryInterval), [this] { flushViolations(); }, "violations"));
    handles.push_back(loop.addPeriodic(
        std::chrono::seconds(5), [this] { updateDeviceMetrics(); }, "device metrics"));
}

// =================================================================================================
// Cold start: enforcement comes back from the saved state, without fetching.

void Daemon::Impl::restore()
{
    auto startedAt = std::chrono::steady_clock::now();
    core::Restore r;
    r.saved = store->load();
    std::set<std::string> inUse;
    for (const auto& d : r.saved.devices)
        if (!d.mudUrl.empty() && !d.localOverride)
            inUse.insert(d.mudUrl);
    for (const auto& c : r.saved.pendingUrlChanges)
        inUse.insert(c.newUrl);
    // The files in use are parsed now (the core does no I/O); every file goes to the workers' cache.
    for (const auto& row : r.saved.documents) {
        documents->put(row);
        if (!inUse.count(row.url))
            continue;
        core::RestoredDocument doc;
        doc.row = row;
        auto pr = parser->parse(*row.document);
        if (pr.profile)
            doc.profile = std::make_shared<const mudparser::Profile>(std::move(*pr.profile));
        else
            doc.failure = Failure { FailureStage::Validation, "mud-invalid", "the saved MUD file no longer parses" };
        r.documents.emplace(row.url, std::move(doc));
    }
    for (const auto& d : r.saved.devices)
        if (d.localOverride) {
            auto doc = localDocument(*d.localOverride, "local MUD file of " + d.mac);
            r.localDocuments.emplace(doc.digest, std::move(doc));
        }
    // Announcements the hook spooled and the daemon did not record before it stopped.
    auto listing = spool->list();
    for (const auto& why : listing.rejected)
        log::write(Category::Discovery, Level::Warning, "a spooled lease event was dropped", { { "reason", why } });
    for (const auto& e : listing.entries) {
        spoolSeen.insert(e.id);
        if (auto a = discovery::fromLease(e.event))
            r.spooled.push_back(std::move(*a));
        else
            spool->remove(e.id);
    }
    auto plan = core->restore(r, nowMs());
    // Names of the restored policies are resolved before the tables are reconciled, so that access
    // by name does not lapse over a restart (the old rules stay in force meanwhile).
    names->track(core->namesOf(plan));
    loop.runUntil([&] { return names->settled(); }, std::chrono::seconds(2));
    core->addResolved(plan, names->takeUpdates());
    const std::size_t devices = r.saved.devices.size();
    executor->start(std::move(plan));
    started = true;
    lastReconcile = nowMs();
    names->track(core->wantedNames());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - startedAt);
    log::write(Category::Enforcer, Level::Info, Event::KernelReconciled, "enforcement restored",
        { { "devices", static_cast<std::int64_t>(devices) }, { "spooled", static_cast<std::int64_t>(r.spooled.size()) },
            { "ms", static_cast<std::int64_t>(ms.count()) } });
    auditOnly(Category::Enforcer, Level::Debug, Event::KernelReconciled, {},
        fmt::format("the kernel was brought to the saved state of {} devices in {} ms", devices, ms.count()));
    if (store->migratedFrom() > 0 && store->migratedFrom() < Store::kSchemaVersion)
        auditOnly(Category::Store, Level::Info, Event::StoreMigrated, "the state database's schema was upgraded",
            fmt::format("schema {} upgraded to {}", store->migratedFrom(), Store::kSchemaVersion));
    updateDeviceMetrics();
    publish();
    // The cold start's buffers (the saved state, the first batch) are large and gone now: give
    // their memory back to the system rather than keep it in the allocator's free lists.
    ::malloc_trim(0);
}

// =================================================================================================

Daemon::Daemon(DaemonConfig config, DaemonOptions options)
    : m_impl(std::make_unique<Impl>(std::move(config), std::move(options)))
{
}

Daemon::~Daemon() = default;

void Daemon::stop() { m_impl->loop.stop(); }

int Daemon::run()
{
    Impl& d = *m_impl;
    auto signals = d.loop.onSignals({ SIGTERM, SIGINT, SIGHUP }, [&d](int signo) {
        if (signo == SIGHUP) {
            try {
                d.reload();
            } catch (const std::exception&) {
                // Logged and audited by reload(); the running configuration stays.
            }
            return;
        }
        log::write(Category::Controller, Level::Info, Event::DaemonStopping, "stopping; the rules stay in force",
            { { "signal", signo == SIGTERM ? "SIGTERM" : "SIGINT" } });
        d.auditOnly(Category::Controller, Level::Debug, Event::DaemonStopping, {},
            fmt::format("stopping on {}; the rules stay in force", signo == SIGTERM ? "SIGTERM" : "SIGINT"));
        d.loop.stop();
    });
    d.setUpSources();
    d.restore();
    d.startApi();
    sdNotify("READY=1");
    log::write(Category::Controller, Level::Info, Event::DaemonStarted, "mudguard is enforcing",
        { { "version", config::kVersion }, { "devices", static_cast<std::int64_t>(d.core->state().devices.size()) } });
    d.auditOnly(Category::Controller, Level::Debug, Event::DaemonStarted, {},
        fmt::format("mudguard {} is enforcing for {} devices", config::kVersion, d.core->state().devices.size()));
    if (d.opts.onReady)
        d.opts.onReady();
    d.loop.run();
    sdNotify("STOPPING=1");
    if (d.apiServer)
        d.apiServer->stop();
    return d.exitCode;
}

} // namespace mudguard::controller
