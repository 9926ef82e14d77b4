#include "mudguard/enforcer/Enforcer.h"

#include <algorithm>
#include <cerrno>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "mudguard/enforcer/Error.h"
#include "mudguard/enforcer/Render.h"

namespace mudguard::enforcer {

using ir::KeyType;
using ir::TableFamily;
using TimePoint = std::chrono::steady_clock::time_point;

namespace {

constexpr std::uint64_t kMinDnsTimeoutMs = 1000;

struct MacHash {
    std::size_t operator()(const MacAddress& m) const noexcept
    {
        std::size_t h = 0;
        for (auto b : m.bytes)
            h = h * 131 + b;
        return h;
    }
};

struct IpHash {
    std::size_t operator()(const IpAddress& a) const noexcept
    {
        std::size_t h = static_cast<std::size_t>(a.family);
        for (std::size_t i = 0; i < a.size(); ++i)
            h = h * 131 + a.bytes[i];
        return h;
    }
};

constexpr TableFamily kTables[] = { TableFamily::Inet, TableFamily::Bridge };

std::size_t tableIndex(TableFamily t) { return t == TableFamily::Inet ? 0 : 1; }

/// Removes duplicates and prefixes contained in others (the kernel refuses overlapping
/// intervals).
std::vector<Prefix> normalizePrefixes(std::vector<Prefix> in)
{
    std::sort(in.begin(), in.end(), [](const Prefix& a, const Prefix& b) {
        return a.address != b.address ? a.address < b.address : a.length < b.length;
    });
    auto contains = [](const Prefix& outer, const Prefix& inner) {
        if (outer.family() != inner.family() || outer.length > inner.length)
            return false;
        for (std::size_t bit = 0; bit < outer.length; ++bit) {
            auto mask = static_cast<std::uint8_t>(0x80 >> (bit % 8));
            if ((outer.address.bytes[bit / 8] & mask) != (inner.address.bytes[bit / 8] & mask))
                return false;
        }
        return true;
    };
    std::vector<Prefix> out;
    for (const auto& p : in) {
        bool covered = false;
        for (const auto& o : out)
            covered = covered || contains(o, p);
        if (!covered)
            out.push_back(p);
    }
    return out;
}

bool isPrefixClass(SetRef::Kind k)
{
    return k == SetRef::Kind::LocalNetworks || k == SetRef::Kind::Controller || k == SetRef::Kind::MyController;
}

/// `name` appears in a rule fingerprint as a set or chain reference.
bool references(const std::string& fingerprint, const std::string& name)
{
    for (const char* lead : { "set ", "-> " }) {
        std::string needle = lead + name;
        for (auto pos = fingerprint.find(needle); pos != std::string::npos; pos = fingerprint.find(needle, pos + 1)) {
            char after = pos + needle.size() < fingerprint.size() ? fingerprint[pos + needle.size()] : ' ';
            if (after == ' ' || after == ']')
                return true;
        }
    }
    return false;
}

using ElementKey = std::pair<std::string, ir::Element>; // set name, element (timeout ignored)

} // namespace

struct Enforcer::State {
    Config config;
    std::map<std::string, Policy> policies;
    std::unordered_map<MacAddress, Device, MacHash> devices;
    std::unordered_map<IpAddress, MacAddress, IpHash> owner;
    std::map<SetRef, std::vector<Prefix>> prefixes;
    std::map<std::string, std::map<IpAddress, TimePoint>> dns;
};

// -------------------------------------------------------------------------------------------
// Transaction

Transaction& Transaction::installPolicy(Policy policy)
{
    checkPolicy(policy);
    m_ops.emplace_back(InstallPolicy { std::move(policy) });
    return *this;
}

Transaction& Transaction::removePolicy(std::string id)
{
    m_ops.emplace_back(RemovePolicy { std::move(id) });
    return *this;
}

Transaction& Transaction::setDevice(const MacAddress& mac, Assignment assignment)
{
    m_ops.emplace_back(SetAssignment { mac, std::move(assignment) });
    return *this;
}

Transaction& Transaction::removeDevice(const MacAddress& mac)
{
    m_ops.emplace_back(RemoveDevice { mac });
    return *this;
}

Transaction& Transaction::setAddresses(const MacAddress& mac, std::vector<IpAddress> addresses)
{
    m_ops.emplace_back(SetAddresses { mac, std::move(addresses) });
    return *this;
}

Transaction& Transaction::addAddress(const MacAddress& mac, const IpAddress& address)
{
    m_ops.emplace_back(AddAddress { mac, address });
    return *this;
}

Transaction& Transaction::removeAddress(const MacAddress& mac, const IpAddress& address)
{
    m_ops.emplace_back(RemoveAddress { mac, address });
    return *this;
}

Transaction& Transaction::setClasses(
    const MacAddress& mac, std::optional<std::string> manufacturer, std::optional<std::string> model)
{
    m_ops.emplace_back(SetClasses { mac, std::move(manufacturer), std::move(model) });
    return *this;
}

Transaction& Transaction::setDnsAddresses(std::string name, std::vector<DnsAddress> addresses)
{
    m_ops.emplace_back(SetDns { std::move(name), std::move(addresses) });
    return *this;
}

Transaction& Transaction::removeDnsAddresses(std::string name, std::vector<IpAddress> addresses)
{
    m_ops.emplace_back(RemoveDns { std::move(name), std::move(addresses) });
    return *this;
}

Transaction& Transaction::setClassPrefixes(SetRef ref, std::vector<Prefix> prefixes)
{
    m_ops.emplace_back(SetClassPrefixes { std::move(ref), std::move(prefixes) });
    return *this;
}

Transaction& Transaction::setConfig(Config config)
{
    m_ops.emplace_back(SetConfig { std::move(config) });
    return *this;
}

// -------------------------------------------------------------------------------------------
// Enforcer internals

struct Enforcer::Impl {
    std::unique_ptr<Applier> applier;
    Clock clock;
    KernelFeatures features;
    State state;
    /// The structure in force: compiled layout, a name index of its sets, the class sets it
    /// refers to, and the same structure as a kernel read would return it (fingerprints).
    struct Applied {
        Layout layout;
        std::set<SetRef> refs;
        std::unordered_map<std::string, const ir::SetDef*> sets[2];
        std::optional<KernelTable> current[2];
        const ir::SetDef* set(TableFamily t, const std::string& name) const
        {
            auto it = sets[tableIndex(t)].find(name);
            return it == sets[tableIndex(t)].end() ? nullptr : it->second;
        }
        const ir::Table& table(TableFamily t) const { return t == TableFamily::Inet ? layout.inet : layout.bridge; }
    };
    std::shared_ptr<const Applied> applied;
    bool started = false;
    bool dirty = false; ///< the kernel may differ from `current` (a batch's outcome was unknown)

    TimePoint now() const { return clock ? clock() : std::chrono::steady_clock::now(); }

    // ---- A draft of the next state: the current state plus the transaction's changes. ----
    struct Draft {
        const State& base;
        std::optional<Config> config;
        std::map<std::string, std::optional<Policy>> policies;
        std::map<MacAddress, std::optional<Device>> devices;
        std::map<IpAddress, std::optional<MacAddress>> owner;
        std::map<SetRef, std::vector<Prefix>> prefixes;
        std::map<std::string, std::map<IpAddress, TimePoint>> dns;
        std::map<std::string, std::set<IpAddress>> dnsRefreshed, dnsRemoved, dnsAdded;
        bool structural = false;

        explicit Draft(const State& s)
            : base(s)
        {
        }

        const Config& cfg() const { return config ? *config : base.config; }

        const Policy* policy(const std::string& id) const
        {
            if (auto it = policies.find(id); it != policies.end())
                return it->second ? &*it->second : nullptr;
            auto b = base.policies.find(id);
            return b == base.policies.end() ? nullptr : &b->second;
        }

        std::vector<const Policy*> allPolicies() const
        {
            std::vector<const Policy*> out;
            for (const auto& [id, p] : base.policies)
                if (!policies.count(id))
                    out.push_back(&p);
            for (const auto& [id, p] : policies)
                if (p)
                    out.push_back(&*p);
            return out;
        }

        const Device* device(const MacAddress& mac) const
        {
            if (auto it = devices.find(mac); it != devices.end())
                return it->second ? &*it->second : nullptr;
            auto b = base.devices.find(mac);
            return b == base.devices.end() ? nullptr : &b->second;
        }

        Device& edit(const MacAddress& mac)
        {
            auto it = devices.find(mac);
            if (it == devices.end() || !it->second) {
                const Device* existing = it == devices.end() ? device(mac) : nullptr;
                Device d = existing ? *existing : Device { mac, Assignment::pending(), {}, {}, {} };
                it = devices.insert_or_assign(mac, std::move(d)).first;
            }
            return *it->second;
        }

        std::optional<MacAddress> ownerOf(const IpAddress& a) const
        {
            if (auto it = owner.find(a); it != owner.end())
                return it->second;
            auto b = base.owner.find(a);
            if (b == base.owner.end())
                return std::nullopt;
            return b->second;
        }

        template <class F> void forEachDevice(F f) const
        {
            for (const auto& [mac, d] : base.devices)
                if (!devices.count(mac))
                    f(d);
            for (const auto& [mac, d] : devices)
                if (d)
                    f(*d);
        }

        const std::vector<Prefix>* classPrefixes(const SetRef& ref) const
        {
            if (auto it = prefixes.find(ref); it != prefixes.end())
                return &it->second;
            auto b = base.prefixes.find(ref);
            return b == base.prefixes.end() ? nullptr : &b->second;
        }

        const std::map<IpAddress, TimePoint>* dnsEntries(const std::string& name) const
        {
            if (auto it = dns.find(name); it != dns.end())
                return &it->second;
            auto b = base.dns.find(name);
            return b == base.dns.end() ? nullptr : &b->second;
        }

        std::map<IpAddress, TimePoint>& editDns(const std::string& name)
        {
            auto it = dns.find(name);
            if (it == dns.end()) {
                auto b = base.dns.find(name);
                it = dns.emplace(name, b == base.dns.end() ? std::map<IpAddress, TimePoint> {} : b->second).first;
            }
            return it->second;
        }
    };

    void setAddresses(Draft& d, const MacAddress& mac, std::vector<IpAddress> addresses)
    {
        std::sort(addresses.begin(), addresses.end());
        addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
        Device& dev = d.edit(mac);
        for (const auto& old : dev.addresses)
            if (!std::binary_search(addresses.begin(), addresses.end(), old) && d.ownerOf(old) == mac)
                d.owner[old] = std::nullopt;
        for (const auto& a : addresses) {
            auto previous = d.ownerOf(a);
            if (previous && *previous != mac) {
                // The address moved: the other device no longer has it.
                Device& other = d.edit(*previous);
                other.addresses.erase(
                    std::remove(other.addresses.begin(), other.addresses.end(), a), other.addresses.end());
            }
            d.owner[a] = mac;
        }
        d.edit(mac).addresses = std::move(addresses);
    }

    void applyOp(Draft& d, const Transaction::Op& op)
    {
        std::visit(
            [&](const auto& o) {
                using T = std::decay_t<decltype(o)>;
                if constexpr (std::is_same_v<T, Transaction::InstallPolicy>) {
                    d.policies[o.policy.id] = o.policy;
                    d.structural = true;
                } else if constexpr (std::is_same_v<T, Transaction::RemovePolicy>) {
                    if (!d.policy(o.id))
                        throw Error(fmt::format("cannot remove unknown policy '{}'", o.id));
                    d.policies[o.id] = std::nullopt;
                    d.structural = true;
                } else if constexpr (std::is_same_v<T, Transaction::SetAssignment>) {
                    d.edit(o.mac).assignment = o.assignment;
                } else if constexpr (std::is_same_v<T, Transaction::RemoveDevice>) {
                    if (const Device* dev = d.device(o.mac)) {
                        for (const auto& a : dev->addresses)
                            if (d.ownerOf(a) == o.mac)
                                d.owner[a] = std::nullopt;
                        d.devices[o.mac] = std::nullopt;
                    }
                } else if constexpr (std::is_same_v<T, Transaction::SetAddresses>) {
                    requireDevice(d, o.mac);
                    setAddresses(d, o.mac, o.addresses);
                } else if constexpr (std::is_same_v<T, Transaction::AddAddress>) {
                    requireDevice(d, o.mac);
                    auto list = d.device(o.mac)->addresses;
                    list.push_back(o.address);
                    setAddresses(d, o.mac, std::move(list));
                } else if constexpr (std::is_same_v<T, Transaction::RemoveAddress>) {
                    requireDevice(d, o.mac);
                    auto list = d.device(o.mac)->addresses;
                    list.erase(std::remove(list.begin(), list.end(), o.address), list.end());
                    setAddresses(d, o.mac, std::move(list));
                } else if constexpr (std::is_same_v<T, Transaction::SetClasses>) {
                    requireDevice(d, o.mac);
                    Device& dev = d.edit(o.mac);
                    dev.manufacturer = o.manufacturer;
                    dev.model = o.model;
                } else if constexpr (std::is_same_v<T, Transaction::SetDns>) {
                    auto& entries = d.editDns(o.name);
                    TimePoint t = now();
                    for (const auto& a : o.addresses) {
                        auto expiry = t + std::max<std::chrono::seconds>(a.ttl, std::chrono::seconds(1));
                        auto it = entries.find(a.address);
                        bool live = it != entries.end() && it->second > t;
                        if (live || d.dnsRemoved[o.name].count(a.address))
                            d.dnsRefreshed[o.name].insert(a.address);
                        else
                            d.dnsAdded[o.name].insert(a.address);
                        d.dnsRemoved[o.name].erase(a.address);
                        entries[a.address] = expiry;
                    }
                } else if constexpr (std::is_same_v<T, Transaction::RemoveDns>) {
                    auto& entries = d.editDns(o.name);
                    for (const auto& a : o.addresses) {
                        entries.erase(a);
                        d.dnsAdded[o.name].erase(a);
                        d.dnsRefreshed[o.name].erase(a);
                        d.dnsRemoved[o.name].insert(a);
                    }
                } else if constexpr (std::is_same_v<T, Transaction::SetClassPrefixes>) {
                    if (!isPrefixClass(o.ref.kind))
                        throw Error(
                            fmt::format("{} sets are filled from devices or DNS, not prefixes", toString(o.ref.kind)));
                    d.prefixes[o.ref] = normalizePrefixes(o.prefixes);
                } else {
                    validate(o.config);
                    d.config = o.config;
                    d.structural = true;
                }
            },
            op);
    }

    static void requireDevice(const Draft& d, const MacAddress& mac)
    {
        if (!d.device(mac))
            throw Error(fmt::format("unknown device {}", mac.toString()));
    }

    /// Every device must point at a policy that exists; devices of removed policies fall
    /// back to pending.
    void settleAssignments(Draft& d)
    {
        std::vector<MacAddress> orphans;
        for (const auto& entry : d.policies) {
            const std::string& id = entry.first; // a plain reference: lambdas may capture it
            if (!entry.second)
                d.forEachDevice([&](const Device& dev) {
                    if (dev.assignment.kind == Assignment::Kind::Policy && dev.assignment.policyId == id)
                        orphans.push_back(dev.mac);
                });
        }
        for (const auto& mac : orphans)
            d.edit(mac).assignment = Assignment::pending();
        for (const auto& [mac, dev] : d.devices)
            if (dev && dev->assignment.kind == Assignment::Kind::Policy && !d.policy(dev->assignment.policyId))
                throw Error(fmt::format(
                    "device {} is assigned to unknown policy '{}'", mac.toString(), dev->assignment.policyId));
    }

    // ---- Elements ----

    struct Contribution {
        TableFamily table;
        std::string set;
        ir::Element element;
    };

    static std::shared_ptr<Applied> makeApplied(Layout layout, std::set<SetRef> refs)
    {
        auto a = std::make_shared<Applied>();
        a->layout = std::move(layout);
        a->refs = std::move(refs);
        for (TableFamily t : kTables)
            for (const auto& s : a->table(t).sets)
                a->sets[tableIndex(t)][s.name] = &s;
        return a;
    }

    /// The set elements a device is responsible for, in the sets this structure has.
    static void contributions(const Device& dev, const Applied& applied, std::vector<Contribution>& out)
    {
        auto add = [&](TableFamily t, const std::string& set, ir::Element e) {
            if (applied.set(t, set))
                out.push_back({ t, set, std::move(e) });
        };
        auto addAddresses = [&](TableFamily t, auto name) {
            for (const auto& a : dev.addresses)
                add(t, name(a.family == Family::Ipv6 ? KeyType::Ipv6Addr : KeyType::Ipv4Addr), elementOf(a));
        };
        auto member = [&](KeyType k) {
            switch (dev.assignment.kind) {
            case Assignment::Kind::Pending:
                return names::holdSet(Hold::Pending, k);
            case Assignment::Kind::Quarantine:
                return names::holdSet(Hold::Quarantine, k);
            case Assignment::Kind::Policy:
                break;
            }
            return names::memberSet(dev.assignment.policyId, k);
        };
        for (TableFamily t : kTables) {
            add(t, names::managedSet(KeyType::EtherAddr), elementOf(dev.mac));
            add(t, member(KeyType::EtherAddr), elementOf(dev.mac));
            if (t == TableFamily::Inet) {
                addAddresses(t, names::managedSet);
                addAddresses(t, member);
            }
            for (const auto& [kind, key] : { std::pair { SetRef::Kind::Manufacturer, dev.manufacturer },
                     std::pair { SetRef::Kind::Model, dev.model } }) {
                if (!key)
                    continue;
                SetRef ref { kind, *key };
                for (KeyType k : classSetKeys(kind, t)) {
                    if (k == KeyType::EtherAddr)
                        add(t, names::classSet(ref, k), elementOf(dev.mac));
                }
                if (t == TableFamily::Inet)
                    addAddresses(t, [&](KeyType k) { return names::classSet(ref, k); });
            }
        }
    }

    std::optional<std::uint64_t> remainingMs(TimePoint expiry, TimePoint t) const
    {
        if (expiry <= t)
            return std::nullopt;
        auto ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(expiry - t).count());
        return std::max(ms, kMinDnsTimeoutMs);
    }

    /// Every element of every (non-dynamic) set of both tables, from the draft's state.
    ir::ElementMap fullElements(const Draft& d, const Applied& a, TableFamily t) const
    {
        ir::ElementMap out;
        std::vector<Contribution> contrib;
        d.forEachDevice([&](const Device& dev) { contributions(dev, a, contrib); });
        for (auto& c : contrib)
            if (c.table == t)
                out[c.set].push_back(std::move(c.element));
        TimePoint now_ = now();
        for (const auto& ref : a.refs) {
            std::vector<Prefix> nets;
            if (isPrefixClass(ref.kind)) {
                if (const auto* p = d.classPrefixes(ref))
                    nets = *p;
                addClassElements(out, ref, t, nets, {});
            } else if (ref.kind == SetRef::Kind::DnsName) {
                if (const auto* entries = d.dnsEntries(ref.key))
                    for (const auto& [addr, expiry] : *entries)
                        if (auto ms = remainingMs(expiry, now_))
                            addClassElements(out, ref, t, { Prefix::host(addr) }, {}, ms);
            }
        }
        return out;
    }

    static std::set<SetRef> refsOf(const std::vector<const Policy*>& policies)
    {
        std::set<SetRef> out;
        for (const Policy* p : policies) {
            auto r = referencedSets(*p);
            out.insert(r.begin(), r.end());
        }
        return out;
    }

    // ---- Structure diff ----

    KernelTable asKernel(const ir::Table& t) const
    {
        KernelTable k;
        k.sets = t.sets;
        for (const auto& c : t.chains) {
            KernelTable::Chain kc { c.name, c.hook, c.comment, {} };
            for (const auto& r : c.rules)
                kc.rules.push_back(applier->fingerprint(t.family, r));
            k.chains.push_back(std::move(kc));
        }
        return k;
    }

    /// Adds to `b` what turns `current` into `desired` structurally. `fill` gives the elements
    /// of sets that are created; `persisting` receives the names of sets kept as they are.
    void diffStructure(Batch& b, const ir::Table& desired, const std::optional<KernelTable>& cur,
        const ir::ElementMap& fill, std::set<std::string>& persisting, bool& structural) const
    {
        TableFamily f = desired.family;
        if (!cur) {
            b.createTable(desired, fill);
            structural = true;
            return;
        }
        std::map<std::string, const ir::SetDef*> curSets;
        for (const auto& s : cur->sets)
            curSets[s.name] = &s;
        std::map<std::string, const KernelTable::Chain*> curChains;
        for (const auto& c : cur->chains)
            curChains[c.name] = &c;

        std::vector<const ir::SetDef*> newSets, recreateSets;
        std::set<std::string> goneSets;
        for (const auto& s : desired.sets) {
            auto it = curSets.find(s.name);
            if (it == curSets.end())
                newSets.push_back(&s);
            else if (!(*it->second == s))
                recreateSets.push_back(&s), goneSets.insert(s.name);
            else
                persisting.insert(s.name);
        }
        std::vector<std::string> deleteSets;
        for (const auto& s : cur->sets)
            if (!desired.findSet(s.name))
                deleteSets.push_back(s.name), goneSets.insert(s.name);

        std::vector<const ir::Chain*> newChains, replaceChains, refillChains;
        std::set<std::string> goneChains;
        for (const auto& c : desired.chains) {
            auto it = curChains.find(c.name);
            if (it == curChains.end()) {
                newChains.push_back(&c);
            } else if (it->second->hook != c.hook || it->second->comment != c.comment) {
                replaceChains.push_back(&c);
                goneChains.insert(c.name);
            }
        }
        std::vector<std::string> deleteChains;
        for (const auto& c : cur->chains)
            if (!desired.findChain(c.name))
                deleteChains.push_back(c.name), goneChains.insert(c.name);
        // Kept chains are refilled when their rules differ or refer to something that goes.
        for (const auto& c : desired.chains) {
            auto it = curChains.find(c.name);
            if (it == curChains.end() || goneChains.count(c.name))
                continue;
            const auto& have = it->second->rules;
            bool differs = have.size() != c.rules.size();
            for (std::size_t i = 0; !differs && i < have.size(); ++i)
                differs = have[i] != applier->fingerprint(f, c.rules[i]);
            for (const auto& fp : have) {
                if (differs)
                    break;
                for (const auto& g : goneSets)
                    differs = differs || references(fp, g);
                for (const auto& g : goneChains)
                    differs = differs || references(fp, g);
            }
            if (differs)
                refillChains.push_back(&c);
        }
        if (newSets.empty() && recreateSets.empty() && deleteSets.empty() && newChains.empty() && replaceChains.empty()
            && refillChains.empty() && deleteChains.empty())
            return;
        structural = true;

        auto fillOf = [&](const ir::SetDef& s) {
            auto it = fill.find(s.name);
            return it == fill.end() ? std::vector<ir::Element> {} : it->second;
        };
        for (const auto* s : newSets) {
            b.addSet(f, *s);
            b.addElements(f, *s, fillOf(*s));
        }
        for (const auto* c : newChains)
            b.addChain(f, ir::Chain { c->name, c->hook, c->comment, {} });
        for (const auto* c : refillChains)
            b.flushChain(f, c->name);
        for (const auto* c : replaceChains)
            b.flushChain(f, c->name);
        for (const auto& n : deleteChains)
            b.flushChain(f, n);
        for (const auto* c : replaceChains)
            b.deleteChain(f, c->name);
        for (const auto& n : deleteChains)
            b.deleteChain(f, n);
        for (const auto* s : recreateSets) {
            b.deleteSet(f, s->name);
            b.addSet(f, *s);
            b.addElements(f, *s, fillOf(*s));
        }
        for (const auto& n : deleteSets)
            b.deleteSet(f, n);
        for (const auto* c : replaceChains)
            b.addChain(f, ir::Chain { c->name, c->hook, c->comment, {} });
        for (const auto* list : { &newChains, &replaceChains, &refillChains })
            for (const auto* c : *list)
                for (const auto& r : c->rules)
                    b.addRule(f, c->name, r);
    }

    // ---- Commit ----

    struct Prepared {
        std::unique_ptr<Draft> draft;
        std::shared_ptr<const Applied> next;
        Batch batch;
        CommitStats stats;
    };

    Prepared prepare(const Transaction& t, bool buildBatch)
    {
        Prepared p;
        p.draft = std::make_unique<Draft>(state);
        Draft& d = *p.draft;
        for (const auto& op : t.ops())
            applyOp(d, op);
        settleAssignments(d);

        bool structural = d.structural || !applied;
        if (!structural) {
            p.next = applied;
        } else {
            auto policies = d.allPolicies();
            auto next = makeApplied(compileLayout(policies, d.cfg(), features), refsOf(policies));
            if (buildBatch)
                for (TableFamily tf : kTables)
                    next->current[tableIndex(tf)] = asKernel(next->table(tf));
            p.next = std::move(next);
        }
        if (!buildBatch)
            return p;

        std::set<std::string> persisting[2];
        for (TableFamily tf : kTables) {
            static const std::optional<KernelTable> none;
            const auto& cur = applied ? applied->current[tableIndex(tf)] : none;
            if (structural) {
                ir::ElementMap fill = fullElements(d, *p.next, tf);
                diffStructure(p.batch, p.next->table(tf), cur, fill, persisting[tableIndex(tf)], p.stats.structural);
            } else {
                for (const auto& s : p.next->table(tf).sets)
                    persisting[tableIndex(tf)].insert(s.name);
            }
        }
        elementDeltas(p, persisting);
        p.stats.operations = p.batch.ops.size();
        p.stats.elements = p.batch.elementCount();
        return p;
    }

    void elementDeltas(Prepared& p, const std::set<std::string> persisting[2])
    {
        Draft& d = *p.draft;
        // Devices: the net difference of what the touched devices contribute.
        std::vector<Contribution> before, after;
        std::vector<std::pair<TableFamily, std::pair<std::string, ir::Element>>> dropCleanup;
        for (const auto& [mac, dev] : d.devices) {
            auto old = state.devices.find(mac);
            if (old != state.devices.end() && applied)
                contributions(old->second, *applied, before);
            if (dev)
                contributions(*dev, *p.next, after);
            // Drop counters of a leaving device or of addresses it gave up.
            if (old != state.devices.end()) {
                if (!dev) {
                    dropCleanup.push_back({ TableFamily::Inet, { "drop_mac", elementOf(mac) } });
                    dropCleanup.push_back({ TableFamily::Bridge, { "drop_from", elementOf(mac) } });
                    dropCleanup.push_back({ TableFamily::Bridge, { "drop_to", elementOf(mac) } });
                }
                for (const auto& a : old->second.addresses)
                    if (!dev || !std::binary_search(dev->addresses.begin(), dev->addresses.end(), a))
                        dropCleanup.push_back({ TableFamily::Inet,
                            { a.family == Family::Ipv6 ? "drop_ip6" : "drop_ip4", elementOf(a) } });
            }
        }
        auto keyed = [&](const std::vector<Contribution>& list, TableFamily t) {
            std::set<ElementKey> out;
            for (const auto& c : list)
                if (c.table == t && persisting[tableIndex(t)].count(c.set))
                    out.insert({ c.set, c.element });
            return out;
        };
        for (TableFamily t : kTables) {
            auto b = keyed(before, t), a = keyed(after, t);
            std::map<std::string, std::vector<ir::Element>> adds, dels;
            for (const auto& k : b)
                if (!a.count(k))
                    dels[k.first].push_back(k.second);
            for (const auto& k : a)
                if (!b.count(k))
                    adds[k.first].push_back(k.second);
            for (auto& [set, els] : dels)
                p.batch.deleteElements(t, *p.next->set(t, set), std::move(els));
            for (auto& [set, els] : adds)
                p.batch.addElements(t, *p.next->set(t, set), std::move(els));
            // Counter elements exist only once the packet path created them: add first, so
            // that the delete always finds them.
            std::map<std::string, std::vector<ir::Element>> cleanup;
            for (const auto& [table, entry] : dropCleanup)
                if (table == t && p.next->set(t, entry.first))
                    cleanup[entry.first].push_back(entry.second);
            for (auto& [set, els] : cleanup) {
                const ir::SetDef& def = *p.next->set(t, set);
                p.batch.addElements(t, def, els);
                p.batch.deleteElements(t, def, std::move(els));
            }
        }

        // Prefix classes whose contents changed: replaced whole (small interval sets).
        for (const auto& [ref, prefixes] : d.prefixes) {
            auto old = state.prefixes.find(ref);
            if (old != state.prefixes.end() && old->second == prefixes)
                continue;
            if (!p.next->refs.count(ref))
                continue;
            for (TableFamily t : kTables) {
                ir::ElementMap m;
                addClassElements(m, ref, t, prefixes, {});
                for (auto& [set, els] : m) {
                    if (!persisting[tableIndex(t)].count(set))
                        continue; // created in this batch with its contents
                    p.batch.flushSet(t, set);
                    p.batch.addElements(t, *p.next->set(t, set), std::move(els));
                }
            }
        }

        // DNS names: refreshed addresses are re-added with their new timeout (add, delete,
        // add: correct whether or not the kernel already let the old one expire).
        TimePoint t0 = now();
        for (const auto& dnsEntry : d.dns) {
            const auto& name = dnsEntry.first;
            const auto& entries = dnsEntry.second; // a plain reference: the lambda below captures it
            SetRef ref { SetRef::Kind::DnsName, name };
            if (!p.next->refs.count(ref))
                continue;
            auto ofFamily = [&](const std::set<IpAddress>& addrs, Family fam, bool withTimeout) {
                std::vector<ir::Element> out;
                for (const auto& a : addrs) {
                    if (a.family != fam)
                        continue;
                    std::optional<std::uint64_t> ms;
                    if (withTimeout) {
                        auto it = entries.find(a);
                        if (it == entries.end() || !(ms = remainingMs(it->second, t0)))
                            continue;
                    } else {
                        ms = kMinDnsTimeoutMs;
                    }
                    out.push_back(elementOf(a, ms));
                }
                return out;
            };
            std::set<IpAddress> stale = d.dnsRefreshed[name];
            stale.insert(d.dnsRemoved[name].begin(), d.dnsRemoved[name].end());
            std::set<IpAddress> fresh = d.dnsRefreshed[name];
            fresh.insert(d.dnsAdded[name].begin(), d.dnsAdded[name].end());
            for (TableFamily t : kTables)
                for (auto [fam, key] :
                    { std::pair { Family::Ipv4, KeyType::Ipv4Addr }, std::pair { Family::Ipv6, KeyType::Ipv6Addr } }) {
                    std::string set = names::classSet(ref, key);
                    if (!persisting[tableIndex(t)].count(set))
                        continue;
                    const ir::SetDef& def = *p.next->set(t, set);
                    auto gone = ofFamily(stale, fam, false);
                    p.batch.addElements(t, def, gone);
                    p.batch.deleteElements(t, def, std::move(gone));
                    p.batch.addElements(t, def, ofFamily(fresh, fam, true));
                }
        }
    }

    void swapIn(Prepared& p)
    {
        Draft& d = *p.draft;
        if (d.config)
            state.config = *d.config;
        for (auto& [id, pol] : d.policies) {
            if (pol)
                state.policies[id] = std::move(*pol);
            else
                state.policies.erase(id);
        }
        for (auto& [mac, dev] : d.devices) {
            if (dev)
                state.devices[mac] = std::move(*dev);
            else
                state.devices.erase(mac);
        }
        for (auto& [addr, mac] : d.owner) {
            if (mac)
                state.owner[addr] = *mac;
            else
                state.owner.erase(addr);
        }
        for (auto& [ref, prefixes] : d.prefixes)
            state.prefixes[ref] = std::move(prefixes);
        TimePoint t = now();
        for (auto& [name, entries] : d.dns) {
            std::erase_if(entries, [&](const auto& e) { return e.second <= t; });
            if (entries.empty())
                state.dns.erase(name);
            else
                state.dns[name] = std::move(entries);
        }
        applied = p.next;
    }

    bool tablesPresent()
    {
        return applier->read(TableFamily::Inet).has_value() && applier->read(TableFamily::Bridge).has_value();
    }

    CommitStats reconcileNow()
    {
        Draft d(state);
        Batch batch;
        bool structural = false;
        auto next = makeApplied(applied->layout, applied->refs);
        for (TableFamily tf : kTables) {
            const ir::Table& desired = next->table(tf);
            auto kernel = applier->read(tf);
            ir::ElementMap fill = fullElements(d, *next, tf);
            std::set<std::string> persisting;
            diffStructure(batch, desired, kernel, fill, persisting, structural);
            // Elements of the sets that stayed: make them equal to the desired contents.
            for (const auto& set : persisting) {
                const ir::SetDef* def = next->set(tf, set);
                if (!def || def->dynamic)
                    continue;
                auto want = fill.count(set) ? fill.at(set) : std::vector<ir::Element> {};
                auto have = kernel->elements.count(set) ? kernel->elements.at(set) : std::vector<ir::Element> {};
                auto strip = [](std::vector<ir::Element> v) {
                    for (auto& e : v)
                        e.timeoutMs.reset();
                    std::sort(v.begin(), v.end());
                    return v;
                };
                auto w = strip(want), h = strip(have);
                if (w == h)
                    continue;
                if (def->interval || def->timeout) {
                    batch.flushSet(tf, set);
                    batch.addElements(tf, *def, std::move(want));
                    continue;
                }
                std::vector<ir::Element> adds, dels;
                std::set_difference(w.begin(), w.end(), h.begin(), h.end(), std::back_inserter(adds));
                std::set_difference(h.begin(), h.end(), w.begin(), w.end(), std::back_inserter(dels));
                batch.deleteElements(tf, *def, std::move(dels));
                batch.addElements(tf, *def, std::move(adds));
            }
            next->current[tableIndex(tf)] = asKernel(desired);
        }
        if (!batch.empty())
            applier->apply(batch);
        dirty = false;
        applied = std::move(next);
        return CommitStats { batch.ops.size(), batch.elementCount(), structural };
    }
};

// -------------------------------------------------------------------------------------------
// Enforcer

Transaction& Transaction::append(const Transaction& other)
{
    m_ops.insert(m_ops.end(), other.m_ops.begin(), other.m_ops.end());
    return *this;
}

Transaction Enforcer::undoOf(const Transaction& transaction) const
{
    Impl& i = *m_impl;
    auto p = i.prepare(transaction, false);
    const auto& d = *p.draft;
    const State& s = i.state;
    Transaction u;
    if (d.config)
        u.setConfig(s.config);
    // Policies it replaced or removed come back first, so that devices can be assigned to them.
    for (const auto& entry : d.policies)
        if (auto b = s.policies.find(entry.first); b != s.policies.end())
            u.installPolicy(b->second);
    for (const auto& [mac, dev] : d.devices) {
        auto b = s.devices.find(mac);
        if (b == s.devices.end()) {
            if (dev)
                u.removeDevice(mac);
            continue;
        }
        const Device& old = b->second;
        u.setDevice(mac, old.assignment);
        u.setAddresses(mac, old.addresses);
        u.setClasses(mac, old.manufacturer, old.model);
    }
    for (const auto& entry : d.policies)
        if (!s.policies.count(entry.first))
            u.removePolicy(entry.first);
    for (const auto& [ref, prefixes] : d.prefixes) {
        auto b = s.prefixes.find(ref);
        u.setClassPrefixes(ref, b == s.prefixes.end() ? std::vector<Prefix> {} : b->second);
    }
    for (const auto& [name, added] : d.dnsAdded)
        if (!added.empty())
            u.removeDnsAddresses(name, { added.begin(), added.end() });
    auto t = i.now();
    for (const auto& [name, removed] : d.dnsRemoved) {
        auto b = s.dns.find(name);
        if (b == s.dns.end())
            continue;
        std::vector<DnsAddress> back;
        for (const auto& a : removed)
            if (auto e = b->second.find(a); e != b->second.end() && e->second > t)
                back.push_back(DnsAddress { a, std::chrono::ceil<std::chrono::seconds>(e->second - t) });
        if (!back.empty())
            u.setDnsAddresses(name, std::move(back));
    }
    return u;
}

Enforcer::Enforcer(std::unique_ptr<Applier> applier, Config config, Clock clock)
    : m_impl(std::make_unique<Impl>())
{
    validate(config);
    m_impl->applier = std::move(applier);
    m_impl->clock = std::move(clock);
    m_impl->state.config = std::move(config);
}

Enforcer::~Enforcer() = default;

CommitStats Enforcer::start(Transaction initial)
{
    Impl& i = *m_impl;
    if (i.started)
        throw Error("the enforcer is already started");
    i.features = i.applier->probe();
    State saved = i.state;
    try {
        i.applied.reset();
        auto p = i.prepare(initial, false);
        i.swapIn(p);
        i.started = true;
        return i.reconcileNow();
    } catch (...) {
        i.state = std::move(saved);
        i.applied.reset();
        i.started = false;
        throw;
    }
}

CommitStats Enforcer::commit(const Transaction& transaction)
{
    Impl& i = *m_impl;
    if (!i.started)
        throw Error("the enforcer has not been started");
    if (transaction.empty())
        return {};
    if (i.dirty)
        i.reconcileNow();
    auto p = i.prepare(transaction, true);
    try {
        if (!p.batch.empty())
            i.applier->apply(p.batch);
    } catch (const ApplyError& e) {
        if (e.errnum() == EPROTO || e.errnum() == ENOBUFS)
            i.dirty = true; // the outcome is unknown: read the kernel before the next change
        // A table that vanished under us: restore the previous state, then retry once.
        if (e.errnum() != ENOENT || i.tablesPresent())
            throw;
        i.reconcileNow();
        p = i.prepare(transaction, true);
        i.applier->apply(p.batch);
    }
    CommitStats stats = p.stats;
    i.swapIn(p);
    return stats;
}

CommitStats Enforcer::reconcile()
{
    if (!m_impl->started)
        throw Error("the enforcer has not been started");
    return m_impl->reconcileNow();
}

int Enforcer::eventFd() const { return m_impl->applier->eventFd(); }

bool Enforcer::handleEvents()
{
    if (!m_impl->applier->drainEvents() || !m_impl->started)
        return false;
    auto stats = m_impl->reconcileNow();
    return stats.operations > 0;
}

const Config& Enforcer::config() const { return m_impl->state.config; }

const KernelFeatures& Enforcer::features() const { return m_impl->features; }

const Policy* Enforcer::policy(const std::string& id) const
{
    auto it = m_impl->state.policies.find(id);
    return it == m_impl->state.policies.end() ? nullptr : &it->second;
}

std::vector<std::string> Enforcer::policyIds() const
{
    std::vector<std::string> out;
    for (const auto& [id, p] : m_impl->state.policies)
        out.push_back(id);
    return out;
}

std::optional<Device> Enforcer::device(const MacAddress& mac) const
{
    auto it = m_impl->state.devices.find(mac);
    if (it == m_impl->state.devices.end())
        return std::nullopt;
    return it->second;
}

std::size_t Enforcer::deviceCount() const { return m_impl->state.devices.size(); }

std::vector<IpAddress> Enforcer::dnsAddresses(const std::string& name) const
{
    std::vector<IpAddress> out;
    auto it = m_impl->state.dns.find(name);
    if (it == m_impl->state.dns.end())
        return out;
    auto t = m_impl->now();
    for (const auto& [a, expiry] : it->second)
        if (expiry > t)
            out.push_back(a);
    return out;
}

std::vector<AceCounter> Enforcer::policyCounters(const std::string& policyId)
{
    std::vector<AceCounter> out;
    if (!policy(policyId))
        return out;
    for (Direction d : { Direction::FromDevice, Direction::ToDevice }) {
        std::string chain = names::policyChain(policyId, d);
        std::map<std::string, Counter> sums;
        std::vector<std::string> order;
        for (TableFamily t : kTables)
            for (const auto& rc : m_impl->applier->ruleCounters(t, { chain })) {
                if (!sums.count(rc.comment))
                    order.push_back(rc.comment);
                sums[rc.comment] += rc.counter;
            }
        for (const auto& ace : order)
            out.push_back({ d, ace, sums[ace] });
    }
    return out;
}

DeviceCounters Enforcer::deviceCounters(const MacAddress& mac)
{
    DeviceCounters out;
    auto dev = device(mac);
    if (!dev)
        return out;
    Applier& a = *m_impl->applier;
    auto add = [&](Counter& into, TableFamily t, const std::string& set, const ir::Element& key) {
        if (auto c = a.elementCounter(t, set, key))
            into += *c;
    };
    add(out.deniedFrom, TableFamily::Inet, names::dropSet(TableFamily::Inet, Direction::FromDevice, KeyType::EtherAddr),
        elementOf(mac));
    add(out.deniedFrom, TableFamily::Bridge,
        names::dropSet(TableFamily::Bridge, Direction::FromDevice, KeyType::EtherAddr), elementOf(mac));
    add(out.deniedTo, TableFamily::Bridge, names::dropSet(TableFamily::Bridge, Direction::ToDevice, KeyType::EtherAddr),
        elementOf(mac));
    for (const auto& addr : dev->addresses)
        add(out.deniedTo, TableFamily::Inet,
            names::dropSet(TableFamily::Inet, Direction::ToDevice,
                addr.family == Family::Ipv6 ? KeyType::Ipv6Addr : KeyType::Ipv4Addr),
            elementOf(addr));
    return out;
}

std::string Enforcer::render() const
{
    Impl& i = *m_impl;
    Impl::Draft d(i.state);
    std::string out;
    if (!i.applied)
        return out;
    for (TableFamily t : kTables)
        out += enforcer::render(i.applied->table(t), i.fullElements(d, *i.applied, t));
    return out;
}

std::string Enforcer::renderDevice(const MacAddress& mac) const
{
    Impl& i = *m_impl;
    auto it = i.state.devices.find(mac);
    if (it == i.state.devices.end() || !i.applied)
        return {};
    const Device& dev = it->second;
    std::vector<Impl::Contribution> own;
    Impl::contributions(dev, *i.applied, own);
    const Policy* pol = dev.assignment.kind == Assignment::Kind::Policy ? policy(dev.assignment.policyId) : nullptr;
    std::set<std::string> policySets;
    if (pol)
        for (const auto& ref : referencedSets(*pol))
            for (TableFamily t : kTables)
                for (KeyType k : classSetKeys(ref.kind, t))
                    policySets.insert(names::classSet(ref, k));
    Impl::Draft d(i.state);
    std::string out;
    for (TableFamily t : kTables) {
        const ir::Table& full = i.applied->table(t);
        ir::Table view { t, {}, {} };
        ir::ElementMap elements;
        std::set<std::string> ownSets;
        for (const auto& c : own)
            if (c.table == t) {
                ownSets.insert(c.set);
                elements[c.set].push_back(c.element);
            }
        ir::ElementMap all = i.fullElements(d, *i.applied, t);
        for (const auto& s : full.sets) {
            if (ownSets.count(s.name)) {
                view.sets.push_back(s);
            } else if (policySets.count(s.name)) {
                view.sets.push_back(s);
                elements[s.name] = all[s.name];
            }
        }
        for (const auto& c : full.chains) {
            if (c.name == "from_dev" || c.name == "to_dev") {
                ir::Chain filtered { c.name, c.hook, c.comment, {} };
                for (const auto& r : c.rules)
                    for (const auto& st : r.stmts)
                        if (auto* m = std::get_if<ir::Match>(&st);
                            m && (m->op == ir::Op::InSet || m->op == ir::Op::NotInSet) && ownSets.count(m->text))
                            filtered.rules.push_back(r);
                view.chains.push_back(std::move(filtered));
            } else if (c.name.rfind("p_", 0) == 0) {
                if (pol
                    && (c.name == names::policyChain(pol->id, Direction::FromDevice)
                        || c.name == names::policyChain(pol->id, Direction::ToDevice)))
                    view.chains.push_back(c);
            } else {
                view.chains.push_back(c);
            }
        }
        out += enforcer::render(view, elements);
    }
    return out;
}

const Layout& Enforcer::layout() const
{
    static const Layout empty;
    return m_impl->applied ? m_impl->applied->layout : empty;
}

} // namespace mudguard::enforcer
