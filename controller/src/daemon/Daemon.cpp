#include "daemon/Daemon.h"

#include <algorithm>
#include <csignal>
#include <fstream>
#include <map>
#include <set>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <ifaddrs.h>
#include <linux/netfilter.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/epoll.h>

#include "mudguard/Config.h"
#include "mudguard/controller/EventLoop.h"
#include "mudguard/controller/HookServer.h"
#include "mudguard/controller/LldpWatcher.h"
#include "mudguard/controller/Log.h"
#include "mudguard/controller/NeighbourWatcher.h"
#include "mudguard/controller/NflogReader.h"
#include "mudguard/controller/Store.h"
#include "mudguard/enforcer/Enforcer.h"
#include "mudguard/enforcer/Error.h"
#include "mudguard/enforcer/NetlinkApplier.h"
#include "mudguard/mudparser/AddressGuard.h"
#include "mudguard/mudparser/Fetcher.h"
#include "mudguard/mudparser/MudCache.h"
#include "mudguard/mudparser/MudString.h"
#include "mudguard/mudparser/Parser.h"
#include "mudguard/mudparser/TrustPipeline.h"

#include "Translate.h"
#include "api/ApiJson.h"
#include "daemon/DaemonApi.h"
#include "daemon/DaemonImpl.h"
#include "daemon/DnsNames.h"
#include "daemon/FetchPool.h"
#include "daemon/SdNotify.h"
#include "daemon/StoreSignerRegistry.h"
#include "daemon/Violations.h"

namespace mudguard::controller {

namespace {

using log::Category;
using log::Event;
using log::Level;

} // namespace

Timestamp nowMs() { return std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now()); }

std::string sha256Hex(std::string_view data)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    std::string out;
    for (unsigned i = 0; i < len; ++i)
        out += fmt::format("{:02x}", md[i]);
    return out;
}

enforcer::MacAddress toEnforcerMac(const std::string& mac) { return *enforcer::MacAddress::parse(mac); }

std::optional<enforcer::IpAddress> toEnforcerIp(const std::string& ip) { return enforcer::IpAddress::parse(ip); }

/// A JSON object with string members, for the audit log's detail column.
std::string detailJson(std::initializer_list<std::pair<std::string_view, std::string_view>> members)
{
    api::JsonWriter w;
    w.beginObject();
    for (const auto& [k, v] : members)
        w.key(k).string(v);
    w.endObject();
    return w.take();
}

/// The first error of a report, as one sentence with its code.
std::string firstError(const mudparser::Report& r)
{
    for (const auto& d : r.diagnostics)
        if (d.severity == mudparser::Severity::Error)
            return d.code.empty() ? d.message : fmt::format("{} [{}]", d.message, d.code);
    return "refused";
}

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

std::string firstErrorCode(const mudparser::Report& r)
{
    for (const auto& d : r.diagnostics)
        if (d.severity == mudparser::Severity::Error)
            return d.code;
    return {};
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
    log::write(Category::Store, Level::Info, Event::StoreOpened, "state database opened",
        { { "path", dbFile.string() }, { "schema", static_cast<std::int64_t>(store->schemaVersion()) } });
    signers = std::make_shared<StoreSignerRegistry>(dbFile);
    metrics = std::make_unique<MudguardMetrics>(metricsRegistry, config::kVersion);
    parser = std::make_unique<mudparser::Parser>(opts.schemaDir);
    setUpTrust();
    enforcer = std::make_unique<enforcer::Enforcer>(enforcer::makeNetlinkApplier(), enforcerConfig());
    pool = std::make_unique<FetchPool>(opts.fetchWorkers, opts.schemaDir);
    DnsNames::Options dn;
    auto own = routerAddresses();
    dn.resolver = cfg.dns.resolver.value_or(own.empty() ? "127.0.0.1" : own.front());
    dn.port = cfg.dns.resolverPort;
    dn.minTtl = cfg.dns.minTtl;
    dn.maxTtl = cfg.dns.maxTtl;
    names = std::make_unique<DnsNames>(loop, dn, [this] {
        if (started)
            commitDns();
    });
}

enforcer::Config Daemon::Impl::enforcerConfig() const
{
    enforcer::Config c;
    c.denyAction = cfg.posture.denyAction == "reject" ? enforcer::DenyAction::Reject : enforcer::DenyAction::Drop;
    c.holdUnmanaged = cfg.posture.unmanaged == "infrastructure-only";
    c.lanInterfaces = cfg.lanInterfaces;
    c.infrastructure.dhcp = cfg.infrastructure.dhcp;
    c.infrastructure.dns = cfg.infrastructure.dns;
    c.infrastructure.ndp = cfg.infrastructure.ndp;
    c.infrastructure.ntp = cfg.infrastructure.ntp;
    c.logGroup = cfg.nflog.dropGroup;
    c.logRatePerSecond = cfg.nflog.dropLogRate;
    c.dnsLogGroup = cfg.dns.snoopAnswers ? cfg.nflog.dnsGroup : 0;
    return c;
}

std::vector<std::string> Daemon::Impl::lanPrefixes() const
{
    return cfg.lanPrefixes.empty() ? interfaceAddresses(cfg.lanInterfaces, true) : cfg.lanPrefixes;
}

std::vector<std::string> Daemon::Impl::routerAddresses() const
{
    return cfg.routerAddresses.empty() ? interfaceAddresses(cfg.lanInterfaces, false) : cfg.routerAddresses;
}

mudparser::LocalNetworks Daemon::Impl::localNetworks() const
{
    // The router's own addresses, on every interface, are never fetched from; nor is the LAN.
    auto local = mudparser::LocalNetworks::fromInterfaces();
    local.lanNetworks.clear();
    for (const auto& p : lanPrefixes())
        if (auto prefix = mudparser::IpPrefix::parse(p))
            local.lanNetworks.push_back(*prefix);
    for (const auto& a : routerAddresses())
        if (auto addr = mudparser::IpAddress::parse(a))
            local.ownAddresses.push_back(*addr);
    return local;
}

mudparser::TrustPolicy Daemon::Impl::trustPolicy() const
{
    mudparser::TrustPolicy p;
    p.signature
        = mudparser::parseSignatureRequirement(cfg.trust.signature).value_or(mudparser::SignatureRequirement::Require);
    if (!cfg.trust.trustAnchors.empty())
        p.anchors = mudparser::TrustAnchors::fromPemFiles(cfg.trust.trustAnchors);
    for (const auto& a : cfg.trust.authorities)
        p.authorityAnchors[a.host] = mudparser::TrustAnchors::fromPemFiles(a.trustAnchors);
    p.defaultSignatureSuffix = cfg.trust.defaultSignatureUrl;
    return p;
}

void Daemon::Impl::setUpTrust()
{
    mudparser::AddressPolicy ap;
    for (const auto& p : cfg.fetch.allowPrivate)
        if (auto prefix = mudparser::IpPrefix::parse(p))
            ap.allow.push_back(*prefix);
    guard = std::make_shared<mudparser::AddressGuard>(ap, localNetworks());
    mudparser::FetchConfig fc;
    fc.deadline = std::chrono::seconds(cfg.fetch.timeoutSeconds);
    fc.maxMudBytes = cfg.fetch.maxBytes;
    fc.maxRedirects = cfg.fetch.maxRedirects;
    fc.caFiles = cfg.fetch.caFiles;
    fc.hostRequestsPerSecond = cfg.fetch.minIntervalMs ? 1000.0 / cfg.fetch.minIntervalMs : 0.0;
    fetcher = std::make_shared<mudparser::Fetcher>(fc, guard);
    cache = std::make_shared<mudparser::MudCache>(cfg.stateDirectory / "mud-cache");
    for (const auto& c : cache->corrupt())
        log::write(Category::Fetch, Level::Warning, Event::MudInvalid,
            "a damaged MUD cache entry was set aside; it will be fetched again",
            { { "file", c.file.string() }, { "reason", c.reason } });
    pipeline = std::make_shared<mudparser::TrustPipeline>(fetcher, trustPolicy(), cache, signers);
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
        enforcer->eventFd(), EPOLLIN,
        [this](std::uint32_t) {
            if (enforcer->handleEvents()) {
                log::write(Category::Enforcer, Level::Warning, Event::TableRecreated,
                    "mudguard's nftables state was changed by someone else; restored it",
                    { { "devices", static_cast<std::int64_t>(devices.size()) } });
                audit(Event::TableRecreated, {}, {}, "tables changed by another process were restored");
                ++tableRestores;
                lastReconcile = nowMs();
                publish();
            }
        },
        "nftables monitor"));

    // Devices that left are unbound after their grace time, checked every 30 s (every second
    // when the grace time is shorter).
    auto sweepEvery = cfg.posture.leaveGraceSeconds < 30 ? std::chrono::seconds(1) : std::chrono::seconds(30);
    handles.push_back(loop.addPeriodic(
        sweepEvery, [this] { sweepLeavers(); }, "unbind sweep"));
    handles.push_back(loop.addPeriodic(
        std::chrono::seconds(60), [this] { refreshDue(); }, "MUD refresh"));
    handles.push_back(loop.addPeriodic(
        std::chrono::seconds(60), [this] { flushViolations(); }, "violations"));
    handles.push_back(loop.addPeriodic(
        std::chrono::seconds(5), [this] { updateDeviceMetrics(); }, "device metrics"));
}

// =================================================================================================
// Cold start: enforcement comes back from the saved state, without fetching.

void Daemon::Impl::restore()
{
    auto startedAt = std::chrono::steady_clock::now();
    ColdStart saved = store->loadAll();
    log::write(Category::Controller, Level::Info, Event::StateRestored, "saved state read",
        { { "devices", static_cast<std::int64_t>(saved.devices.size()) },
            { "bindings", static_cast<std::int64_t>(saved.bindings.size()) } });

    enforcer::Transaction t = classTransaction();
    std::map<std::string, std::vector<std::string>> addrs;
    for (const auto& a : saved.addresses)
        addrs[a.mac].push_back(a.ip);

    std::size_t n = 0, restored = 0, refetch = 0;
    const std::size_t step = std::max<std::size_t>(1000, saved.devices.size() / 10);
    for (const auto& row : saved.devices) {
        if (++n % step == 0)
            log::write(Category::Controller, Level::Info, "restoring devices",
                { { "done", static_cast<std::int64_t>(n) },
                    { "of", static_cast<std::int64_t>(saved.devices.size()) } });
        DeviceRecord d;
        d.mac = row.mac;
        d.state = row.state;
        d.reason = row.reason;
        d.source = row.source;
        d.mudUrl = row.mudUrl;
        d.localDocument = row.localOverride;
        d.adminBound = row.source == DeviceSource::Admin;
        auto mac = toEnforcerMac(d.mac);
        t.setDevice(mac, enforcer::Assignment::pending());
        std::vector<enforcer::IpAddress> ips;
        for (const auto& ip : addrs[d.mac])
            if (auto e = toEnforcerIp(ip)) {
                ips.push_back(*e);
                d.addresses.insert(ip);
                addressOwner[ip] = d.mac;
            }
        t.setAddresses(mac, ips);
        if (!d.mudUrl.empty())
            t.setClasses(mac, urlAuthority(d.mudUrl), d.mudUrl);
        auto& rec = devices.emplace(d.mac, std::move(d)).first->second;

        if (rec.state == DeviceState::Quarantined) {
            t.setDevice(mac, enforcer::Assignment::quarantine());
            continue;
        }
        // The last known good file, from the local document or the cache: no network here.
        PolicyRecord* p = nullptr;
        std::string why;
        if (rec.localDocument) {
            mudparser::Report report;
            p = localPolicy(*rec.localDocument, "local override of " + rec.mac, report);
            if (!p)
                why = firstError(report);
        } else if (!rec.mudUrl.empty()) {
            p = policyForUrl(rec.mudUrl);
            if (!p) {
                auto hit = cache->lookup(rec.mudUrl, Clock::now());
                if (hit) {
                    auto pr = parser->parse(hit.entry->body);
                    if (pr.profile) {
                        PolicyRecord np;
                        np.key = np.url = rec.mudUrl;
                        np.id = policyIdFor(rec.mudUrl);
                        np.profile = std::make_shared<const mudparser::Profile>(std::move(*pr.profile));
                        np.document = hit.entry->body;
                        np.hash = "sha256:" + sha256Hex(np.document);
                        np.signer = hit.entry->signer;
                        np.signerChain = hit.entry->chain;
                        np.fetchedAt = hit.entry->fetchedAt;
                        np.cacheValidityHours = hit.entry->cacheValidityHours;
                        np.unsupported = !hit.entry->isSupported;
                        p = &policies.emplace(np.key, std::move(np)).first->second;
                    } else {
                        why = firstError(pr.report);
                    }
                } else {
                    why = "no cached copy of the MUD file";
                }
            }
        }
        if (p && (p->installed || installPolicy(*p, t))) {
            assign(rec, *p, t);
            ++restored;
        } else if (!rec.mudUrl.empty() || rec.localDocument) {
            rec.state = DeviceState::Pending;
            rec.reason = why;
            ++refetch;
        }
    }
    applyAdminDevices(t);

    // Names of the restored policies are resolved before the tables are reconciled, so that
    // access by name does not lapse over a restart (the old rules stay in force meanwhile).
    trackNames();
    loop.runUntil([&] { return names->settled(); }, std::chrono::seconds(2));
    takeDnsUpdates(t);

    auto stats = enforcer->start(std::move(t));
    started = true;
    lastReconcile = nowMs();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - startedAt);
    log::write(Category::Enforcer, Level::Info, Event::KernelReconciled, "enforcement restored",
        { { "devices", static_cast<std::int64_t>(devices.size()) }, { "restored", static_cast<std::int64_t>(restored) },
            { "to_fetch", static_cast<std::int64_t>(refetch) },
            { "operations", static_cast<std::int64_t>(stats.operations) },
            { "ms", static_cast<std::int64_t>(ms.count()) } });
    audit(Event::KernelReconciled, {}, {},
        fmt::format("{} devices restored from saved state, {} to fetch", restored, refetch));

    Store::Transaction st(*store);
    for (auto& [mac, d] : devices) {
        persistDevice(d);
        if (d.policyKey.empty() && (!d.mudUrl.empty()) && !d.localDocument)
            requestFetch(d.mudUrl, false);
    }
    st.commit();
    updateDeviceMetrics();
    publish();
}

enforcer::Transaction Daemon::Impl::classTransaction()
{
    enforcer::Transaction t;
    using Kind = enforcer::SetRef::Kind;
    std::vector<enforcer::Prefix> local;
    for (const auto& p : lanPrefixes())
        if (auto e = enforcer::Prefix::parse(p))
            local.push_back(*e);
    t.setClassPrefixes({ Kind::LocalNetworks, "" }, local);

    std::vector<enforcer::Prefix> router;
    for (const auto& a : routerAddresses())
        if (auto e = enforcer::Prefix::parse(a))
            router.push_back(*e);
    std::map<std::string, std::vector<enforcer::Prefix>> controllers;
    controllers["urn:ietf:params:mud:dns"] = router;
    controllers["urn:ietf:params:mud:ntp"] = router;
    if (cfg.classes.ntpServer)
        if (auto e = enforcer::Prefix::parse(*cfg.classes.ntpServer))
            controllers["urn:ietf:params:mud:ntp"] = { *e };
    // Addresses as configured, and those the names resolve to (kept current by DnsNames).
    auto where = [this](const AddressList& list) {
        std::vector<enforcer::Prefix> v;
        for (const auto& a : list.addresses)
            if (auto e = enforcer::Prefix::parse(a))
                v.push_back(*e);
        for (const auto& name : list.names)
            if (auto it = classNameAddresses.find(name); it != classNameAddresses.end())
                for (const auto& a : it->second)
                    if (auto e = enforcer::Prefix::parse(a))
                        v.push_back(*e);
        return v;
    };
    for (const auto& c : cfg.classes.controllers)
        controllers[c.uri] = where(c.where);
    for (auto& [uri, v] : controllers)
        t.setClassPrefixes({ Kind::Controller, uri }, v);
    for (const auto& c : cfg.classes.myControllers)
        t.setClassPrefixes({ Kind::MyController, c.mudUrl }, where(c.where));
    return t;
}

std::set<std::string> Daemon::Impl::classNames() const
{
    std::set<std::string> out;
    for (const auto& c : cfg.classes.controllers)
        out.insert(c.where.names.begin(), c.where.names.end());
    for (const auto& c : cfg.classes.myControllers)
        out.insert(c.where.names.begin(), c.where.names.end());
    return out;
}

std::set<std::string> Daemon::Impl::policyNames() const
{
    std::set<std::string> out;
    for (const auto& [key, p] : policies)
        if (p.installed)
            out.insert(p.dnsNames.begin(), p.dnsNames.end());
    return out;
}

void Daemon::Impl::trackNames()
{
    auto wanted = policyNames();
    auto classes = classNames();
    wanted.insert(classes.begin(), classes.end());
    names->track(wanted);
}

bool Daemon::Impl::takeDnsUpdates(enforcer::Transaction& t)
{
    auto updates = names->takeUpdates();
    if (updates.empty())
        return false;
    const auto inPolicies = policyNames();
    const auto inClasses = classNames();
    bool classesChanged = false;
    for (auto& [name, addresses] : updates) {
        if (inClasses.count(name)) {
            std::vector<std::string> text;
            for (const auto& a : addresses)
                text.push_back(a.address.toString());
            classNameAddresses[name] = std::move(text);
            classesChanged = true;
        }
        if (inPolicies.count(name))
            t.setDnsAddresses(name, std::move(addresses));
    }
    if (classesChanged) {
        // A class set is replaced as a whole: the operations of a fresh class transaction.
        auto classes = classTransaction();
        for (const auto& op : classes.ops())
            if (const auto* set = std::get_if<enforcer::Transaction::SetClassPrefixes>(&op))
                t.setClassPrefixes(set->ref, set->prefixes);
    }
    return true;
}

// =================================================================================================
// Devices

void Daemon::Impl::onHook()
{
    auto messages = hook->handleReadable();
    if (messages.empty())
        return;
    enforcer::Transaction t;
    Store::Transaction st(*store);
    for (const auto& m : messages)
        onLease(m.event, t);
    st.commit();
    commit(t, "lease events");
}

void Daemon::Impl::onLease(const LeaseEvent& e, enforcer::Transaction& t)
{
    if (!e.mac) {
        log::write(Category::Discovery, Level::Debug, "a lease without a MAC address was ignored",
            { log::ip(e.address.toString()) });
        return;
    }
    const std::string mac = e.mac->toString();
    const std::string ip = e.address.toString();
    const DeviceSource source = e.isV6() ? DeviceSource::Dhcpv6 : DeviceSource::Dhcp;
    auto it = devices.find(mac);

    if (e.action == LeaseAction::Del) {
        if (it != devices.end()) {
            removeAddress(it->second, ip, t);
            if (it->second.source == source)
                scheduleLeave(it->second);
        }
        return;
    }
    if (e.action != LeaseAction::Add && e.action != LeaseAction::Old)
        return;

    if (e.dataMissing) {
        // dnsmasq's start-up replay carries no MUD URL: the saved binding stands.
        if (it != devices.end())
            addAddress(it->second, ip, t);
        return;
    }
    if (e.mudUrlTooLong) {
        refuseUrl(
            mac, source, "mud-string-too-long", "the MUD string is longer than 255 octets (RFC 8520 section 10)", t);
        return;
    }
    if (!e.mudUrl) {
        if (it == devices.end())
            return;
        // The lease's address is the device's, whoever bound it (an admin registers devices that
        // announce nothing): its to-device rules follow it.
        DeviceRecord& d = it->second;
        addAddress(d, ip, t);
        if (!d.adminBound && e.action == LeaseAction::Old
            && (d.source == DeviceSource::Dhcp || d.source == DeviceSource::Dhcpv6) && !d.mudUrl.empty()) {
            log::write(Category::Discovery, Level::Warning, Event::UrlMissing, "a renewal carried no MUD URL any more",
                { log::mac(mac), log::mudUrl(d.mudUrl) });
            audit(Event::UrlMissing, mac, d.mudUrl,
                cfg.discovery.urlWithdrawn == "unbind" ? "the device stopped announcing its MUD URL; unbinding"
                                                       : "the device stopped announcing its MUD URL; its policy stays");
            if (cfg.discovery.urlWithdrawn == "unbind")
                scheduleLeave(d);
        }
        return;
    }
    auto parsed = mudparser::parseMudString(*e.mudUrl);
    if (!parsed) {
        refuseUrl(mac, source, parsed.code, parsed.message, t);
        return;
    }
    bind(mac, parsed.url->str(), source, t);
    if (auto d = devices.find(mac); d != devices.end())
        addAddress(d->second, ip, t);
}

DeviceRecord& Daemon::Impl::ensureDevice(const std::string& mac, DeviceSource source, enforcer::Transaction& t)
{
    auto [it, created] = devices.try_emplace(mac);
    DeviceRecord& d = it->second;
    if (created) {
        d.mac = mac;
        d.source = source;
        d.state = DeviceState::Pending;
        // Fail closed from the first moment: infrastructure only until a policy is in force.
        t.setDevice(toEnforcerMac(mac), enforcer::Assignment::pending());
        joinStarted[mac] = std::chrono::steady_clock::now();
        log::write(Category::Discovery, Level::Info, Event::DeviceJoined, "device joined", { log::mac(mac) });
    }
    return d;
}

void Daemon::Impl::bind(const std::string& mac, const std::string& url, DeviceSource source, enforcer::Transaction& t)
{
    bool known = devices.count(mac) > 0;
    DeviceRecord& d = ensureDevice(mac, source, t);
    if (d.adminBound && known) {
        log::write(Category::Discovery, Level::Debug,
            "an announced MUD URL was ignored: the device is registered by an admin",
            { log::mac(mac), log::mudUrl(url) });
        return;
    }
    if (!known) {
        d.mudUrl = url;
        store->putBinding(mac, url, source);
        audit(Event::DeviceJoined, mac, url, fmt::format("announced by {}", toString(source)));
        t.setClasses(toEnforcerMac(mac), urlAuthority(url), url);
        if (auto* p = policyForUrl(url); p && p->installed) {
            assign(d, *p, t);
            persistDevice(d);
        } else {
            setState(d, DeviceState::Fetching, {});
            requestFetch(url, false);
        }
        return;
    }
    // A known device: a renewal, a return within its grace time, or a new URL.
    store->putBinding(mac, d.mudUrl.empty() ? url : d.mudUrl, d.source);
    if (d.mudUrl == url) {
        if (d.state == DeviceState::Failed || (d.policyKey.empty() && !fetching.count(url)))
            requestFetch(url, false);
        return;
    }
    if (d.policyKey.empty()) {
        // Nothing in force yet: follow the new URL at once.
        d.mudUrl = url;
        store->putBinding(mac, url, source);
        t.setClasses(toEnforcerMac(mac), urlAuthority(url), url);
        setState(d, DeviceState::Fetching, {});
        requestFetch(url, false);
        return;
    }
    if (d.pendingUrl == url)
        return;
    // The old policy stays until the new file is fetched, verified and passes the signer rule.
    d.pendingUrl = url;
    store->putPendingUrlChange({ mac, d.mudUrl, url, "announced by the device", nowMs() });
    log::write(Category::Discovery, Level::Info, Event::UrlChangePending, "device announced a new MUD URL",
        { log::mac(mac), log::mudUrl(url), { "old_url", d.mudUrl } });
    audit(Event::UrlChangePending, mac, url,
        "the device announced a new MUD URL; its policy stays until the new file is verified",
        detailJson({ { "old_url", d.mudUrl } }));
    requestFetch(url, false);
}

void Daemon::Impl::refuseUrl(const std::string& mac, DeviceSource source, const std::string& code,
    const std::string& why, enforcer::Transaction& t)
{
    log::write(Category::Discovery, Level::Warning, Event::MudInvalid, "a MUD URL was refused",
        { log::mac(mac), { "code", code }, { "reason", why } });
    audit(Event::MudInvalid, mac, {}, why, detailJson({ { "code", code } }));
    bool known = devices.count(mac) > 0;
    DeviceRecord& d = ensureDevice(mac, source, t);
    if (!known || d.policyKey.empty())
        setState(d, DeviceState::Failed, "the MUD URL was refused: " + why);
    persistDevice(d);
}

void Daemon::Impl::addAddress(DeviceRecord& d, const std::string& ip, enforcer::Transaction& t)
{
    auto e = toEnforcerIp(ip);
    if (!e)
        return;
    store->touchAddress(d.mac, ip);
    if (d.addresses.count(ip))
        return;
    if (auto owner = addressOwner.find(ip); owner != addressOwner.end() && owner->second != d.mac)
        if (auto other = devices.find(owner->second); other != devices.end())
            other->second.addresses.erase(ip);
    d.addresses.insert(ip);
    addressOwner[ip] = d.mac;
    t.addAddress(toEnforcerMac(d.mac), *e);
}

void Daemon::Impl::removeAddress(DeviceRecord& d, const std::string& ip, enforcer::Transaction& t)
{
    if (!d.addresses.erase(ip))
        return;
    addressOwner.erase(ip);
    store->removeAddress(d.mac, ip);
    if (auto e = toEnforcerIp(ip))
        t.removeAddress(toEnforcerMac(d.mac), *e);
}

void Daemon::Impl::onNeighbours(const std::vector<NeighbourEvent>& events)
{
    if (events.empty())
        return;
    enforcer::Transaction t;
    Store::Transaction st(*store);
    for (const auto& e : events) {
        // Addresses stay bound until another device claims them or the device leaves: removing
        // one when the kernel forgets a neighbour would let traffic to the device bypass its
        // to-device policy.
        if (e.kind == NeighbourEvent::Kind::Delete)
            continue;
        auto it = devices.find(e.mac.toString());
        if (it == devices.end())
            continue;
        addAddress(it->second, e.address.toString(), t);
    }
    st.commit();
    commit(t, "neighbour events");
}

void Daemon::Impl::onLldp()
{
    enforcer::Transaction t;
    Store::Transaction st(*store);
    for (const auto& e : lldp->handleReadable()) {
        if (e.kind == LldpEvent::Kind::Stopped) {
            log::write(Category::Discovery, Level::Warning, "lldpcli stopped; restarting it in 5 s",
                { { "reason", e.detail } });
            lldpRestart = loop.addTimer(
                std::chrono::seconds(5), [this] { lldp->restart(); }, "lldp restart");
            continue;
        }
        auto mac = e.neighbour.mac();
        if (!mac)
            continue;
        auto m = mac->toString();
        if (e.kind == LldpEvent::Kind::Deleted) {
            if (auto it = devices.find(m); it != devices.end() && it->second.source == DeviceSource::Lldp)
                scheduleLeave(it->second);
            continue;
        }
        if (!e.neighbour.mudUrlError.empty()) {
            refuseUrl(m, DeviceSource::Lldp, "lldp-tlv-malformed", e.neighbour.mudUrlError, t);
            continue;
        }
        if (!e.neighbour.mudUrl)
            continue;
        auto parsed = mudparser::parseMudString(*e.neighbour.mudUrl);
        if (!parsed) {
            refuseUrl(m, DeviceSource::Lldp, parsed.code, parsed.message, t);
            continue;
        }
        bind(m, parsed.url->str(), DeviceSource::Lldp, t);
    }
    st.commit();
    commit(t, "LLDP events");
}

void Daemon::Impl::setState(DeviceRecord& d, DeviceState s, std::string reason)
{
    if (d.state == s && d.reason == reason)
        return;
    log::write(Category::Controller, s == DeviceState::Failed ? Level::Warning : Level::Info, Event::DeviceStateChanged,
        fmt::format("device is {}", toString(s)), { log::mac(d.mac), log::mudUrl(d.mudUrl), { "reason", reason } });
    d.state = s;
    d.reason = std::move(reason);
    persistDevice(d);
}

void Daemon::Impl::persistDevice(const DeviceRecord& d)
{
    DeviceRow row;
    row.mac = d.mac;
    row.state = d.state;
    row.reason = d.reason;
    row.source = d.source;
    row.mudUrl = d.mudUrl;
    if (auto it = policies.find(d.policyKey); it != policies.end())
        row.policyId = it->second.id;
    row.localOverride = d.localDocument;
    store->putDevice(row);
}

void Daemon::Impl::scheduleLeave(DeviceRecord& d)
{
    auto when = nowMs() + std::chrono::seconds(cfg.posture.leaveGraceSeconds);
    if (store->binding(d.mac))
        store->scheduleUnbind(d.mac, when);
    log::write(Category::Discovery, Level::Info, Event::DeviceLeft,
        "device left; its binding ends after the grace time",
        { log::mac(d.mac), log::mudUrl(d.mudUrl),
            { "grace_s", static_cast<std::int64_t>(cfg.posture.leaveGraceSeconds) } });
    audit(Event::DeviceLeft, d.mac, d.mudUrl,
        fmt::format("unbound after {} s unless it returns", cfg.posture.leaveGraceSeconds));
}

void Daemon::Impl::sweepLeavers()
{
    for (const auto& b : store->bindingsToUnbind(nowMs()))
        unbind(b.mac, "the device left and its grace time ended");
}

void Daemon::Impl::unbind(const std::string& mac, const std::string& why)
{
    auto it = devices.find(mac);
    enforcer::Transaction t;
    t.removeDevice(toEnforcerMac(mac));
    std::string key, url;
    if (it != devices.end()) {
        key = it->second.policyKey;
        url = it->second.mudUrl;
        for (const auto& ip : it->second.addresses)
            addressOwner.erase(ip);
        if (auto p = policies.find(key); p != policies.end())
            p->second.devices.erase(mac);
        releasePolicyIfUnused(key, t);
    }
    if (!commit(t, "unbind", mac))
        return;
    devices.erase(mac);
    store->removeDevice(mac);
    log::write(Category::Controller, Level::Info, Event::BindingRemoved, "device unbound",
        { log::mac(mac), { "reason", why } });
    audit(Event::BindingRemoved, mac, url, why);
}

// =================================================================================================
// Policies

PolicyRecord* Daemon::Impl::policyForUrl(const std::string& url)
{
    auto it = policies.find(url);
    return it == policies.end() ? nullptr : &it->second;
}

void Daemon::Impl::requestFetch(const std::string& url, bool force)
{
    if (!fetching.insert(url).second)
        return;
    // The job runs on a worker and hands its verdict back to the loop. Capturing `this` is safe:
    // the pool is joined before the loop goes away, and the loop runs tasks only inside run().
    pool->submit([this, url, force](const mudparser::Parser& p) {
        auto verdict
            = std::make_shared<mudparser::Verdict>(force ? pipeline->refresh(url, p) : pipeline->obtain(url, p));
        verdict->url = url;
        loop.post([this, verdict] { onVerdict(std::move(*verdict)); });
    });
}

bool Daemon::Impl::installPolicy(PolicyRecord& p, enforcer::Transaction& t)
{
    try {
        enforcer::Policy policy = translate(*p.profile, p.id);
        p.dnsNames.clear();
        auto collect = [&](const std::vector<enforcer::Rule>& rules) {
            for (const auto& r : rules)
                for (const auto* s : { &r.srcSet, &r.dstSet })
                    if (*s && (*s)->kind == enforcer::SetRef::Kind::DnsName)
                        p.dnsNames.push_back((*s)->key);
        };
        collect(policy.fromDevice);
        collect(policy.toDevice);
        std::sort(p.dnsNames.begin(), p.dnsNames.end());
        p.dnsNames.erase(std::unique(p.dnsNames.begin(), p.dnsNames.end()), p.dnsNames.end());
        t.installPolicy(std::move(policy));
        p.installed = true;
        return true;
    } catch (const enforcer::CompileError& e) {
        log::write(Category::Enforcer, Level::Error, Event::EnforceFailed,
            "a MUD file cannot be enforced on this router", { log::mudUrl(p.url), { "reason", e.what() } });
        audit(Event::EnforceFailed, {}, p.url, e.what());
        p.unsupported = true;
        return false;
    }
}

void Daemon::Impl::assign(DeviceRecord& d, PolicyRecord& p, enforcer::Transaction& t)
{
    if (!d.policyKey.empty() && d.policyKey != p.key)
        if (auto old = policies.find(d.policyKey); old != policies.end())
            old->second.devices.erase(d.mac);
    d.policyKey = p.key;
    p.devices.insert(d.mac);
    t.setDevice(toEnforcerMac(d.mac), enforcer::Assignment::policy(p.id));
    d.state = DeviceState::Enforced;
    d.reason.clear();
}

void Daemon::Impl::releasePolicyIfUnused(const std::string& key, enforcer::Transaction& t)
{
    auto it = policies.find(key);
    if (it == policies.end() || !it->second.devices.empty())
        return;
    if (it->second.installed)
        t.removePolicy(it->second.id);
    log::write(Category::Enforcer, Level::Info, Event::PolicyRemoved, "policy no longer used; removed",
        { log::mudUrl(it->second.url) });
    policies.erase(it);
    publish();
    trackNames();
}

PolicyRecord* Daemon::Impl::localPolicy(
    const std::string& document, const std::string& origin, mudparser::Report& report)
{
    const std::string digest = sha256Hex(document);
    const std::string key = "local:" + digest;
    if (auto it = policies.find(key); it != policies.end())
        return &it->second;
    mudparser::ParseOptions po;
    po.fileName = origin;
    auto r = parser->parse(document, po);
    report = std::move(r.report);
    if (!r.profile)
        return nullptr;
    PolicyRecord p;
    p.local = true;
    p.document = document;
    p.hash = "sha256:" + digest;
    p.key = key;
    p.url = r.profile->mudUrl;
    p.id = policyIdFor(p.key);
    p.cacheValidityHours = r.profile->cacheValidity;
    p.unsupported = !r.profile->isSupported;
    p.profile = std::make_shared<const mudparser::Profile>(std::move(*r.profile));
    return &policies.emplace(key, std::move(p)).first->second;
}

void Daemon::Impl::onVerdict(mudparser::Verdict v)
{
    const std::string url = v.url;
    fetching.erase(url);
    // Which devices wait for this URL: those bound to it without a policy in force, and those
    // whose URL change waits for it.
    std::vector<DeviceRecord*> waiting, changing, holding;
    for (auto& [mac, d] : devices) {
        if (d.pendingUrl == url)
            changing.push_back(&d);
        else if (d.mudUrl == url && !d.localDocument && d.state != DeviceState::Quarantined)
            (d.policyKey == url ? holding : waiting).push_back(&d);
    }

    MudCacheRow meta;
    meta.url = url;
    if (!v.accepted || !v.profile) {
        std::string why = firstError(v.report);
        std::string code = firstErrorCode(v.report);
        Event ev = code.rfind("signature", 0) == 0 ? Event::SignatureFailed
            : code.rfind("signer", 0) == 0         ? Event::SignerChangePending
            : code.rfind("fetch", 0) == 0 || code.rfind("http", 0) == 0 || code.rfind("tls", 0) == 0
                || code.rfind("address", 0) == 0
            ? Event::MudFetchFailed
            : Event::MudInvalid;
        store->recordMudError(url, why);
        if (ev == Event::MudFetchFailed)
            metrics->fetch(FetchOutcome::Failed).inc();
        else if (ev == Event::SignatureFailed)
            metrics->verify(VerifyOutcome::Failed).inc();
        else if (ev == Event::SignerChangePending)
            metrics->verify(VerifyOutcome::SignerPending).inc();
        log::write(Category::Fetch, Level::Warning, ev, "MUD file refused", { log::mudUrl(url), { "reason", why } });
        audit(ev, {}, url, why, detailJson({ { "code", code } }));
        Store::Transaction st(*store);
        for (auto* d : waiting)
            setState(*d, DeviceState::Failed, why);
        for (auto* d : changing) {
            log::write(Category::Controller, Level::Warning, Event::UrlChangeRefused,
                "a MUD URL change was refused; the device keeps its policy",
                { log::mac(d->mac), log::mudUrl(url), { "reason", why } });
            audit(Event::UrlChangeRefused, d->mac, url, why, detailJson({ { "kept_url", d->mudUrl } }));
            d->pendingUrl.reset();
            store->takePendingUrlChange(d->mac);
            if (ev == Event::SignerChangePending)
                store->putPendingUrlChange(
                    { d->mac, d->mudUrl, url, "waiting for an admin to accept the new signer", nowMs() });
        }
        for (auto* d : holding)
            audit(Event::PolicyKept, d->mac, url, "the refresh failed; the last known good policy stays: " + why);
        st.commit();
        return;
    }

    if (v.source == mudparser::VerdictSource::LastKnownGood) {
        // The refresh was refused or failed; the copy in force stays. Say why.
        const mudparser::Diagnostic* why = nullptr;
        for (const auto& d : v.report.diagnostics)
            if (d.severity == mudparser::Severity::Warning && d.code != "refresh-failed") {
                why = &d;
                break;
            }
        std::string code = why ? why->code : "refresh-failed";
        std::string reason = why ? why->message : "the refresh failed";
        Event ev = code.rfind("signature", 0) == 0 ? Event::SignatureFailed
            : code.rfind("signer", 0) == 0         ? Event::SignerChangePending
                                                   : Event::MudFetchFailed;
        metrics->fetch(FetchOutcome::Failed).inc();
        store->recordMudError(url, reason);
        log::write(Category::Fetch, Level::Warning, ev, "MUD file refresh refused; the last known good file stays",
            { log::mudUrl(url), { "code", code }, { "reason", reason } });
        audit(ev, {}, url, "refresh refused: " + reason, detailJson({ { "code", code } }));
        Store::Transaction st(*store);
        for (auto* d : holding)
            audit(Event::PolicyKept, d->mac, url, "the last known good policy stays: " + reason);
        st.commit();
        return;
    }

    // Accepted: the file (new, refreshed or from the cache) becomes the policy of its URL.
    const bool fresh = v.source == mudparser::VerdictSource::Network;
    if (fresh)
        metrics->fetch(FetchOutcome::Fetched).inc();
    else if (v.source == mudparser::VerdictSource::NotModified)
        metrics->fetch(FetchOutcome::NotModified).inc();
    if (fresh || v.source == mudparser::VerdictSource::NotModified)
        metrics->verify(v.signer ? VerifyOutcome::Verified : VerifyOutcome::Unsigned).inc();
    auto hash = "sha256:" + sha256Hex(v.body);
    PolicyRecord* p = policyForUrl(url);
    bool changed = !p || p->hash != hash || !p->installed;
    if (!p) {
        PolicyRecord np;
        np.key = np.url = url;
        np.id = policyIdFor(url);
        p = &policies.emplace(url, std::move(np)).first->second;
    }
    p->document = v.body;
    p->hash = hash;
    p->signer = v.signer;
    p->signerChain = v.chain;
    p->fetchedAt = v.fetchedAt;
    p->cacheValidityHours = v.profile->cacheValidity;
    p->unsupported = v.unsupported;
    p->profile = std::make_shared<const mudparser::Profile>(std::move(*v.profile));

    meta.hash = hash;
    meta.signer = v.signer ? v.signer->describe() : std::string();
    if (v.fetchedAt) {
        meta.fetchedAt = std::chrono::time_point_cast<std::chrono::milliseconds>(*v.fetchedAt);
        meta.validUntil = *meta.fetchedAt + std::chrono::hours(p->cacheValidityHours);
    }
    meta.supported = !v.unsupported;
    store->putMudCache(meta);
    if (fresh) {
        log::write(Category::Fetch, Level::Info, Event::MudFetched, "MUD file fetched and verified",
            { log::mudUrl(url), { "signer", meta.signer } });
        audit(Event::MudFetched, {}, url, v.summary(), detailJson({ { "hash", hash }, { "signer", meta.signer } }));
    }
    if (v.unsupported)
        audit(
            Event::MudUnsupported, {}, url, "the maker marks this file is-supported: false; it is no longer refreshed");

    enforcer::Transaction t;
    if (changed && !installPolicy(*p, t)) {
        Store::Transaction st(*store);
        for (auto* d : waiting)
            setState(*d, DeviceState::Failed, "the MUD file cannot be enforced on this router");
        st.commit();
        return;
    }
    std::vector<DeviceRecord*> moved;
    for (auto* d : waiting) {
        assign(*d, *p, t);
        moved.push_back(d);
    }
    for (auto* d : changing) {
        d->mudUrl = url;
        d->pendingUrl.reset();
        t.setClasses(toEnforcerMac(d->mac), urlAuthority(url), url);
        std::string oldKey = d->policyKey;
        assign(*d, *p, t);
        moved.push_back(d);
        releasePolicyIfUnused(oldKey, t);
    }
    if (!commit(t, "policy " + url))
        return;
    Store::Transaction st(*store);
    for (auto* d : moved) {
        if (store->takePendingUrlChange(d->mac)) {
            store->putBinding(d->mac, url, d->source);
            audit(Event::UrlChangeAccepted, d->mac, url, "the new MUD file is in force");
        }
        persistDevice(*d);
        log::write(Category::Enforcer, Level::Info, Event::PolicyApplied, "policy enforced",
            { log::mac(d->mac), log::mudUrl(url), { "policy", p->id } });
        audit(Event::PolicyApplied, d->mac, url, fmt::format("policy {} enforced", p->id),
            detailJson({ { "policy", p->id }, { "hash", hash } }));
    }
    if (changed && !holding.empty())
        for (auto* d : holding)
            audit(Event::PolicyApplied, d->mac, url, "the refreshed MUD file is in force",
                detailJson({ { "policy", p->id }, { "hash", hash } }));
    st.commit();

    trackNames();
    publish();
}

void Daemon::Impl::refreshDue()
{
    auto now = Clock::now();
    for (auto& [key, p] : policies) {
        if (p.local || p.unsupported || !p.fetchedAt)
            continue;
        if (now >= *p.fetchedAt + std::chrono::hours(p.cacheValidityHours))
            requestFetch(p.url, false);
    }
}

// =================================================================================================
// Enforcement and audit

bool Daemon::Impl::commit(enforcer::Transaction& t, const std::string& what, const std::string& mac)
{
    if (t.empty())
        return true;
    try {
        auto begin = std::chrono::steady_clock::now();
        enforcer->commit(t);
        auto end = std::chrono::steady_clock::now();
        metrics->enforceLatency(EnforceStage::Batch).observe(std::chrono::duration<double>(end - begin).count());
        for (auto it = joinStarted.begin(); it != joinStarted.end();) {
            auto dev = devices.find(it->first);
            if (dev == devices.end() || dev->second.state == DeviceState::Failed
                || dev->second.state == DeviceState::Quarantined) {
                it = joinStarted.erase(it);
            } else if (dev->second.state == DeviceState::Enforced) {
                metrics->enforceLatency(EnforceStage::Join)
                    .observe(std::chrono::duration<double>(end - it->second).count());
                if (opts.onEnforced)
                    opts.onEnforced(it->first);
                it = joinStarted.erase(it);
            } else {
                ++it;
            }
        }
        return true;
    } catch (const std::exception& e) {
        log::write(Category::Enforcer, Level::Error, Event::EnforceFailed,
            "the kernel refused a change; the previous rules stay in force",
            { { "change", what }, { "reason", e.what() } });
        audit(Event::EnforceFailed, mac, {}, fmt::format("{}: {}", what, e.what()));
        return false;
    }
}

void Daemon::Impl::audit(
    Event e, const std::string& mac, const std::string& url, const std::string& reason, std::string detail)
{
    AuditEntry a;
    a.event = log::toString(e);
    a.mac = mac;
    a.mudUrl = url;
    a.reason = reason;
    a.detail = std::move(detail);
    try {
        store->appendAudit(a);
    } catch (const std::exception& ex) {
        log::write(Category::Store, Level::Error, Event::StoreFailed, "an audit entry could not be written",
            { { "event", a.event }, { "reason", ex.what() } });
    }
}

// =================================================================================================
// DNS answers and violations

void Daemon::Impl::onDnsCopies()
{
    auto packets = nflogDns->handleReadable();
    for (const auto& pkt : packets)
        names->observe(
            pkt.payload, [this](const std::string& client) { return addressOwner.count(client) > 0; },
            pkt.hook == NF_INET_LOCAL_OUT);
    commitDns();
}

void Daemon::Impl::commitDns()
{
    enforcer::Transaction t;
    if (takeDnsUpdates(t))
        commit(t, "DNS answers");
}

void Daemon::Impl::onDrops()
{
    for (const auto& pkt : nflogDrops->handleReadable()) {
        bool from = pkt.prefix.rfind(enforcer::names::kLogPrefixFrom, 0) == 0;
        bool to = pkt.prefix.rfind(enforcer::names::kLogPrefixTo, 0) == 0;
        if (!from && !to)
            continue;
        metrics->violations(from ? TrafficDirection::FromDevice : TrafficDirection::ToDevice).inc();
        violations.record(pkt, from, [this](const std::string& ip) -> std::string {
            auto it = addressOwner.find(ip);
            return it == addressOwner.end() ? std::string() : it->second;
        });
    }
}

void Daemon::Impl::flushViolations()
{
    auto summaries = violations.takeSummaries();
    if (summaries.empty())
        return;
    Store::Transaction st(*store);
    for (const auto& s : summaries) {
        auto it = devices.find(s.mac);
        std::string url = it == devices.end() ? std::string() : it->second.mudUrl;
        log::write(Category::Enforcer, Level::Info, Event::ViolationSummary, "traffic outside the policy was blocked",
            { log::mac(s.mac), log::mudUrl(url), { "packets", static_cast<std::int64_t>(s.packets) },
                { "peers", s.peers } });
        audit(Event::ViolationSummary, s.mac, url, fmt::format("{} packets blocked", s.packets),
            detailJson({ { "direction", s.direction }, { "peers", s.peers } }));
    }
    st.commit();
}

// =================================================================================================
// Configuration

void Daemon::Impl::applyAdminDevices(enforcer::Transaction& t)
{
    for (const auto& dev : cfg.devices) {
        bool known = devices.count(dev.mac) > 0;
        DeviceRecord& d = ensureDevice(dev.mac, DeviceSource::Admin, t);
        d.adminBound = true;
        d.source = DeviceSource::Admin;
        if (dev.mudUrl) {
            if (d.mudUrl != *dev.mudUrl || !known) {
                d.mudUrl = *dev.mudUrl;
                d.localDocument.reset();
                store->putBinding(d.mac, d.mudUrl, DeviceSource::Admin);
                t.setClasses(toEnforcerMac(d.mac), urlAuthority(d.mudUrl), d.mudUrl);
                if (auto* p = policyForUrl(d.mudUrl); p && p->installed)
                    assign(d, *p, t);
                else
                    requestFetch(d.mudUrl, false);
            }
        } else if (dev.mudFile) {
            std::string doc;
            try {
                doc = readFileBounded(*dev.mudFile, cfg.fetch.maxBytes);
            } catch (const std::exception& e) {
                setState(d, DeviceState::Failed, e.what());
                continue;
            }
            mudparser::Report report;
            PolicyRecord* p = localPolicy(doc, dev.mudFile->string(), report);
            d.localDocument = doc;
            d.mudUrl = p ? p->url : std::string();
            if (p && (p->installed || installPolicy(*p, t)))
                assign(d, *p, t);
            else
                d.state = DeviceState::Failed, d.reason = p ? std::string() : firstError(report);
        }
        persistDevice(d);
    }
}

void Daemon::Impl::reload()
{
    auto loaded = loadDaemonConfig(opts.configFile, opts.schemaDir);
    if (!loaded.config) {
        std::string why
            = loaded.report.diagnostics.empty() ? "invalid" : mudparser::formatText(loaded.report.diagnostics.front());
        log::write(Category::Controller, Level::Error, Event::ConfigRejected,
            "the new configuration is invalid; the running one stays in force", { { "reason", why } });
        audit(Event::ConfigRejected, {}, {}, why);
        throw api::InvalidConfig(
            "the new configuration is invalid; the running one stays in force: " + why, loaded.report.diagnostics);
    }
    DaemonConfig next = std::move(*loaded.config);
    DaemonConfig prev = cfg;
    // What is read at start only (everything of `api` but its tokens, which apply at once): a
    // change is reported, and applied by a restart...
    auto apiAtStart = [](DaemonConfig::Api a) {
        a.tokens.clear();
        return a;
    };
    std::string atStart;
    auto changed = [&](bool differs, const char* name) {
        if (differs)
            atStart += (atStart.empty() ? "" : ", ") + std::string(name);
    };
    changed(apiAtStart(prev.api) != apiAtStart(next.api), "api");
    changed(prev.fetch != next.fetch, "fetch");
    changed(prev.dns != next.dns, "dns");
    changed(prev.discovery != next.discovery, "discovery");
    changed(prev.nflog != next.nflog, "nflog");
    changed(prev.stateDirectory != next.stateDirectory, "state-directory");
    changed(prev.hookSocket != next.hookSocket, "hook-socket");
    if (!atStart.empty())
        log::write(Category::Controller, Level::Warning, Event::ConfigLoaded,
            "some changed settings are read at start only; restart mudguard to apply them",
            { { "settings", atStart } });
    // ... and stays as it is until then, so that what runs is what the configuration in force says.
    auto tokens = std::move(next.api.tokens);
    next.api = prev.api;
    next.api.tokens = std::move(tokens);
    next.fetch = prev.fetch;
    next.dns = prev.dns;
    next.discovery = prev.discovery;
    next.nflog = prev.nflog;
    next.stateDirectory = prev.stateDirectory;
    next.hookSocket = prev.hookSocket;
    cfg = std::move(next);
    enforcer::Transaction t = classTransaction();
    if (enforcerConfig() != enforcer->config())
        t.setConfig(enforcerConfig());
    try {
        pipeline->setPolicy(trustPolicy());
        guard->setLocalNetworks(localNetworks());
    } catch (const std::exception& e) {
        cfg = std::move(prev);
        log::write(Category::Controller, Level::Error, Event::ConfigRejected,
            "the new trust settings cannot be used; the running configuration stays in force",
            { { "reason", e.what() } });
        audit(Event::ConfigRejected, {}, {}, e.what());
        throw api::InvalidConfig(
            fmt::format(
                "the new trust settings cannot be used; the running configuration stays in force: {}", e.what()),
            {});
    }
    Store::Transaction st(*store);
    applyAdminDevices(t);
    st.commit();
    if (!commit(t, "configuration reload")) {
        cfg = std::move(prev);
        throw Error("the kernel refused the new configuration's rules; the running configuration stays in force");
    }
    if (apiServer)
        apiServer->setTokens(apiTokens());
    trackNames(); // names in the classes, and in the admins' local files, may have changed
    publish();
    log::write(Category::Controller, Level::Info, Event::ConfigLoaded, "configuration reloaded",
        { { "path", opts.configFile.string() } });
    audit(Event::ConfigLoaded, {}, {}, "configuration reloaded");
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
        d.loop.stop();
    });
    d.setUpSources();
    d.restore();
    d.startApi();
    sdNotify("READY=1");
    log::write(Category::Controller, Level::Info, Event::DaemonStarted, "mudguard is enforcing",
        { { "version", config::kVersion }, { "devices", static_cast<std::int64_t>(d.devices.size()) } });
    if (d.opts.onReady)
        d.opts.onReady();
    d.loop.run();
    sdNotify("STOPPING=1");
    if (d.apiServer)
        d.apiServer->stop();
    return d.exitCode;
}

} // namespace mudguard::controller
