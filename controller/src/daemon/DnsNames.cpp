#include "daemon/DnsNames.h"

#include <algorithm>

#include "mudguard/controller/Dns.h"
#include "mudguard/controller/Log.h"

namespace mudguard::controller {

namespace {
using log::Category;
using log::Event;
using log::Level;
using SteadyClock = std::chrono::steady_clock;

/// Answers are refreshed at this fraction of their TTL...
constexpr double kRefreshAt = 0.8;
/// ...and their set elements live this much longer than the TTL, so that a refresh in flight
/// never leaves a gap.
std::chrono::seconds margin(std::uint32_t ttl) { return std::chrono::seconds(std::max<std::uint32_t>(5, ttl / 5)); }
} // namespace

DnsNames::DnsNames(EventLoop& loop, Options options, std::function<void()> onUpdates)
    : m_loop(loop)
    , m_options(std::move(options))
    , m_onUpdates(std::move(onUpdates))
{
    auto server = dns::IpAddress::parse(m_options.resolver);
    if (!server)
        throw Error("the DNS resolver address \"" + m_options.resolver + "\" is not an IP address");
    Resolver::Options ro;
    ro.server = *server;
    ro.port = m_options.port;
    m_resolver = std::make_unique<Resolver>(loop, ro);
}

DnsNames::~DnsNames() = default;

std::uint32_t DnsNames::clamp(std::uint32_t ttl) const
{
    return std::clamp(ttl, m_options.minTtl, std::max(m_options.minTtl, m_options.maxTtl));
}

void DnsNames::track(const std::set<std::string>& names)
{
    for (auto it = m_names.begin(); it != m_names.end();) {
        if (names.count(it->first)) {
            ++it;
            continue;
        }
        for (const auto& [type, id] : it->second.inFlight)
            m_resolver->cancel(id);
        it = m_names.erase(it);
    }
    for (const auto& n : names)
        if (!m_names.count(n)) {
            m_names[n];
            lookup(n);
        }
}

bool DnsNames::settled() const
{
    return std::all_of(m_names.begin(), m_names.end(), [](const auto& kv) { return kv.second.answered; });
}

void DnsNames::lookup(const std::string& name)
{
    auto it = m_names.find(name);
    if (it == m_names.end())
        return;
    for (auto type : { dns::Type::A, dns::Type::Aaaa }) {
        int key = static_cast<int>(type);
        if (it->second.inFlight.count(key))
            continue;
        ++m_stats.lookups;
        try {
            it->second.inFlight[key] = m_resolver->resolve(name, type, [this, name, key](const Resolver::Result& r) {
                if (auto n = m_names.find(name); n != m_names.end())
                    n->second.inFlight.erase(key);
                onResult(name, r);
            });
        } catch (const std::exception& e) {
            // A name the resolver refuses to ask (malformed): it stays unresolved.
            it->second.answered = true;
            log::write(Category::Dns, Level::Warning, Event::DnsResolveFailed, "a DNS name cannot be resolved",
                { { "name", name }, { "reason", e.what() } });
            return;
        }
    }
}

void DnsNames::onResult(const std::string& name, const Resolver::Result& r)
{
    auto it = m_names.find(name);
    if (it == m_names.end())
        return;
    Name& n = it->second;
    n.answered = true;
    std::chrono::seconds next = m_options.retry;
    if (r.status == Resolver::Status::Ok || r.status == Resolver::Status::Truncated) {
        std::uint32_t ttl = clamp(r.ttl);
        for (const auto& a : r.addresses)
            add(name, a.address.toString(), clamp(a.ttl));
        next = std::chrono::seconds(std::max<std::uint32_t>(1, static_cast<std::uint32_t>(ttl * kRefreshAt)));
        n.failing = false;
    } else if (r.status == Resolver::Status::NoData || r.status == Resolver::Status::NxDomain) {
        next = std::chrono::seconds(clamp(r.ttl ? r.ttl : 300));
        n.failing = false;
    } else {
        ++m_stats.failures;
        if (!n.failing)
            log::write(Category::Dns, Level::Warning, Event::DnsResolveFailed,
                "a DNS name in a policy could not be resolved; its addresses expire with their TTL",
                { { "name", name }, { "status", toString(r.status) }, { "detail", r.detail } });
        n.failing = true;
    }
    // One timer per name: the earlier of the two types' refresh wins (an A answer with a short TTL
    // must not wait for the long negative TTL of an AAAA answer that arrived after it).
    auto at = SteadyClock::now() + next;
    if (!n.refreshAt || at < *n.refreshAt) {
        n.refreshAt = at;
        n.refresh = m_loop.addTimer(
            next,
            [this, name] {
                if (auto due = m_names.find(name); due != m_names.end())
                    due->second.refreshAt.reset();
                lookup(name);
            },
            "dns refresh");
    }
    if (!m_updates.empty() && m_onUpdates)
        m_onUpdates();
}

void DnsNames::add(const std::string& name, const std::string& address, std::uint32_t ttl)
{
    auto ip = enforcer::IpAddress::parse(address);
    if (!ip)
        return;
    auto lifetime = std::chrono::seconds(ttl) + margin(ttl);
    m_names[name].known[address] = SteadyClock::now() + lifetime;
    m_updates[name].push_back({ *ip, lifetime });
}

DnsNames::Updates DnsNames::takeUpdates()
{
    Updates out(std::make_move_iterator(m_updates.begin()), std::make_move_iterator(m_updates.end()));
    m_updates.clear();
    return out;
}

void DnsNames::observe(
    std::span<const std::uint8_t> packet, const std::function<bool(const std::string&)>& managed, bool fromRouter)
{
    std::optional<dns::ObservedAnswer> seen;
    try {
        seen = dns::parseObservedPacket(packet);
    } catch (const dns::ParseError&) {
        ++m_stats.ignored;
        return;
    }
    if (!seen)
        return;
    bool trusted = fromRouter || seen->server.toString() == m_options.resolver;
    if (!trusted || !managed(seen->client.toString())) {
        ++m_stats.ignored;
        log::write(Category::Dns, Level::Debug, Event::DnsAnswerRejected,
            "a DNS answer was not learnt (not from the devices' resolver, or not to a managed device)",
            { { "server", seen->server.toString() }, { "client", seen->client.toString() } });
        return;
    }
    // The name the device asked for, or any alias on the way: policies may name either.
    std::vector<std::string> candidates { seen->answer.name };
    candidates.insert(candidates.end(), seen->answer.cnameChain.begin(), seen->answer.cnameChain.end());
    bool used = false;
    for (const auto& name : candidates) {
        if (!m_names.count(name))
            continue;
        for (const auto& a : seen->answer.addresses)
            add(name, a.address.toString(), clamp(a.ttl));
        used = true;
    }
    used ? ++m_stats.observed : ++m_stats.ignored;
}

std::vector<std::string> DnsNames::addresses(const std::string& name) const
{
    std::vector<std::string> out;
    auto it = m_names.find(name);
    if (it == m_names.end())
        return out;
    auto now = SteadyClock::now();
    for (const auto& [a, expiry] : it->second.known)
        if (expiry > now)
            out.push_back(a);
    return out;
}

} // namespace mudguard::controller
