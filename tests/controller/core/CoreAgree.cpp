// agree(): memory (the core's state), the store (MemoryStore's rows) and the kernel (the
// enforcer's desired state and the fake kernel's tables) say the same of every device.

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "mudguard/enforcer/Layout.h"
#include "mudguard/enforcer/Render.h"

#include "CaseSupport.h"
#include "CoreFixture.h"
#include "Translate.h"

namespace mudguard::controller::test {

using enforcer::Assignment;
using enforcer::ir::KeyType;
using enforcer::ir::TableFamily;

namespace {

/// The fake kernel's tables rendered like the enforcer renders its desired state.
std::string renderFake(const mudguard::test::FakeApplier& fake, TableFamily f)
{
    const auto& t = fake.table(f);
    if (!t)
        return {};
    enforcer::ir::ElementMap elements;
    for (const auto& [set, els] : t->elements)
        elements[set] = std::vector<enforcer::ir::Element>(els.begin(), els.end());
    std::string text = enforcer::render(enforcer::ir::Table { f, t->sets, {} }, elements);
    text.pop_back(); // "}\n" of the table: chains follow
    text.pop_back();
    for (const auto& c : t->chains) {
        enforcer::ir::Chain shell { c.name, c.hook, c.comment, {} };
        std::string block = enforcer::renderChain(shell);
        block.erase(block.size() - 3); // "\t}\n"
        for (const auto& r : c.rules)
            block += "\t\t" + r + "\n";
        text += "\n" + block + "\t}\n";
    }
    return text + "}\n";
}

std::string withoutTimeouts(std::string s)
{
    for (auto pos = s.find(" timeout "); pos != std::string::npos; pos = s.find(" timeout ")) {
        auto end = s.find_first_of(",\n }", pos + 9);
        s.erase(pos, end - pos);
    }
    return s;
}

/// The sets of the fake kernel's table that hold `mac`, among the assignment sets.
std::set<std::string> holdingSets(const mudguard::test::FakeApplier& fake, TableFamily f, const MacAddress& mac)
{
    std::set<std::string> out;
    const auto& t = fake.table(f);
    if (!t)
        return out;
    const auto element = enforcer::elementOf(core::toEnforcer(mac));
    for (const auto& [set, els] : t->elements) {
        const bool assignment = set.rfind("p_", 0) == 0 || set.rfind("pending_", 0) == 0
            || set.rfind("quarantine_", 0) == 0 || set.rfind("managed_", 0) == 0;
        if (assignment && els.count(element))
            out.insert(set);
    }
    return out;
}

std::string describe(const Assignment& a)
{
    switch (a.kind) {
    case Assignment::Kind::Pending:
        return "pending";
    case Assignment::Kind::Quarantine:
        return "quarantine";
    case Assignment::Kind::Policy:
        break;
    }
    return "policy " + a.policyId;
}

} // namespace

::testing::AssertionResult CoreTest::agree() const
{
    std::vector<std::string> problems;
    auto problem = [&](std::string p) { problems.push_back(std::move(p)); };
    const core::State& s = core->state();

    // The kernel is what the enforcer wants it to be.
    std::string kernel = renderFake(*fake, TableFamily::Inet) + renderFake(*fake, TableFamily::Bridge);
    std::string diff
        = mudguard::test::lineDiff(mudguard::test::normalizeListing(withoutTimeouts(enforcer->render()), false),
            mudguard::test::normalizeListing(kernel, false));
    if (!diff.empty())
        problem("the kernel differs from the enforcer's desired state:\n" + diff);

    // The same devices everywhere.
    if (enforcer->deviceCount() != s.devices.size())
        problem(fmt::format("memory has {} devices, the kernel {}", s.devices.size(), enforcer->deviceCount()));
    for (const auto& [mac, row] : store.contents().devices) {
        auto m = MacAddress::parse(mac);
        if (!m || !s.devices.count(*m))
            problem(fmt::format("the store has device {} that memory does not know", mac));
    }

    std::map<std::string, std::size_t> use;
    for (const auto& [mac, r] : s.devices) {
        const std::string m = mac.toString();
        auto kd = enforcer->device(core::toEnforcer(mac));
        if (!kd) {
            problem(fmt::format("{}: in memory, not in the kernel", m));
            continue;
        }
        // Its assignment: enforced <=> its policy; quarantined <=> quarantine; otherwise pending.
        Assignment want = Assignment::pending();
        const core::PolicyRecord* policy = nullptr;
        if (!r.policyKey.empty()) {
            ++use[r.policyKey];
            auto p = s.policies.find(r.policyKey);
            if (p == s.policies.end())
                problem(fmt::format("{}: its policy {} is not in memory", m, r.policyKey));
            else
                policy = &p->second;
        }
        if (r.state == DeviceState::Enforced) {
            if (!policy)
                problem(fmt::format("{}: enforced without a policy", m));
            else if (!policy->installed)
                problem(fmt::format("{}: enforced with policy {} that is not installed", m, policy->key));
            else
                want = Assignment::policy(policy->id);
        } else if (r.state == DeviceState::Quarantined) {
            want = Assignment::quarantine();
        }
        if (kd->assignment != want)
            problem(fmt::format("{}: memory says {} ({}), the kernel holds it to {}", m, toString(r.state),
                describe(want), describe(kd->assignment)));
        for (auto f : { TableFamily::Inet, TableFamily::Bridge }) {
            auto sets = holdingSets(*fake, f, mac);
            std::string expected = want.kind == Assignment::Kind::Policy
                ? enforcer::names::memberSet(want.policyId, KeyType::EtherAddr)
                : enforcer::names::holdSet(
                    want.kind == Assignment::Kind::Quarantine ? enforcer::Hold::Quarantine : enforcer::Hold::Pending,
                    KeyType::EtherAddr);
            std::set<std::string> wantSets { expected, enforcer::names::managedSet(KeyType::EtherAddr) };
            if (sets != wantSets)
                problem(fmt::format("{}: the kernel's {} table has it in [{}], expected [{}]", m,
                    f == TableFamily::Inet ? "inet" : "bridge", fmt::join(sets, ", "), fmt::join(wantSets, ", ")));
        }
        // Its addresses.
        std::vector<enforcer::IpAddress> ips;
        for (const auto& ip : r.addresses)
            ips.push_back(core::toEnforcer(ip));
        if (kd->addresses != ips)
            problem(fmt::format("{}: memory and the kernel disagree on its addresses", m));
        for (const auto& ip : r.addresses)
            if (auto o = s.owners.find(ip); o == s.owners.end() || o->second != mac)
                problem(fmt::format("{}: address {} is not owned by it", m, ip.toString()));
        // Its classes (manufacturer and model sets).
        if (!r.mudUrl.empty()
            && (kd->manufacturer != std::optional(urlAuthority(r.mudUrl)) || kd->model != std::optional(r.mudUrl)))
            problem(fmt::format("{}: the kernel's classes are {} / {}, memory's URL is {}", m,
                kd->manufacturer.value_or("none"), kd->model.value_or("none"), r.mudUrl));

        // The store.
        auto row = store.device(m);
        if (!r.recorded) {
            if (row)
                problem(fmt::format("{}: held as unrecorded, but the store has it", m));
            // Held: never more open than what the store records (nothing).
            if (r.state == DeviceState::Enforced)
                problem(fmt::format("{}: enforced but not recorded", m));
            continue;
        }
        if (!row) {
            problem(fmt::format("{}: in memory, not in the store", m));
            continue;
        }
        if (row->state != r.state || row->reason != r.reason)
            problem(fmt::format("{}: memory says {} \"{}\", the store {} \"{}\"", m, toString(r.state), r.reason,
                toString(row->state), row->reason));
        std::optional<FailureStage> stage = r.state == DeviceState::Failed ? r.stage : std::nullopt;
        if (row->failureStage != stage)
            problem(fmt::format("{}: failure stage differs: memory {}, store {}", m, stage ? toString(*stage) : "none",
                row->failureStage ? toString(*row->failureStage) : "none"));
        if (row->source != r.source || row->mudUrl != r.mudUrl)
            problem(fmt::format("{}: source/URL differ: memory {} {}, store {} {}", m, toString(r.source), r.mudUrl,
                toString(row->source), row->mudUrl));
        const std::string policyId = policy ? policy->id : std::string();
        if (row->policyId != policyId)
            problem(fmt::format("{}: policy id differs: memory \"{}\", store \"{}\"", m, policyId, row->policyId));
        if (row->leaveAt != r.leaveAt || row->announcedAt != r.announcedAt)
            problem(fmt::format("{}: leave or announcement times differ", m));
        if ((row->localOverride.has_value() != (r.localDocument != nullptr))
            || (r.localDocument && *row->localOverride != *r.localDocument))
            problem(fmt::format("{}: local MUD file differs", m));
        std::vector<std::string> texts;
        for (const auto& ip : r.addresses)
            texts.push_back(ip.toString());
        std::sort(texts.begin(), texts.end());
        if (store.addressesOf(m) != texts)
            problem(fmt::format("{}: memory has addresses [{}], the store [{}]", m, fmt::join(texts, ", "),
                fmt::join(store.addressesOf(m), ", ")));
        const auto& bindings = store.contents().bindings;
        if (!r.mudUrl.empty()) {
            auto b = bindings.find(m);
            if (b == bindings.end() || b->second.mudUrl != r.mudUrl)
                problem(fmt::format("{}: bound to {} in memory, the store's binding is {}", m, r.mudUrl,
                    b == bindings.end() ? "missing" : b->second.mudUrl));
        }
        const auto& changes = store.contents().urlChanges;
        auto c = changes.find(m);
        std::optional<std::string> storedChange;
        if (c != changes.end())
            storedChange = c->second.newUrl;
        if (storedChange != r.pendingUrl)
            problem(fmt::format("{}: pending URL change differs: memory {}, store {}", m, r.pendingUrl.value_or("none"),
                storedChange.value_or("none")));
    }

    // Policies: those installed in memory are the kernel's, and counted right.
    std::set<std::string> installed;
    for (const auto& [key, p] : s.policies)
        if (p.installed)
            installed.insert(p.id);
    auto ids = enforcer->policyIds();
    std::set<std::string> inKernel(ids.begin(), ids.end());
    if (installed != inKernel)
        problem(fmt::format(
            "installed policies: memory [{}], kernel [{}]", fmt::join(installed, ", "), fmt::join(inKernel, ", ")));
    for (const auto& [key, n] : s.policyUse)
        if (use[key] != n)
            problem(fmt::format("policy {}: memory counts {} devices, {} use it", key, n, use[key]));
    for (const auto& [key, n] : use)
        if (!s.policyUse.count(key))
            problem(fmt::format("policy {}: used by {} devices, not counted", key, n));
    for (const auto& [key, p] : s.policies)
        if (!p.local && !p.hash.empty()) {
            auto doc = store.contents().documents.find(p.url);
            if (doc == store.contents().documents.end() || doc->second.hash != p.hash)
                problem(fmt::format("policy {}: the store does not hold its file", key));
        }

    // Signers.
    std::set<std::pair<std::string, std::string>> signers, storedSigners;
    for (const auto& [authority, list] : s.signers)
        for (const auto& id : list)
            signers.emplace(authority, core::encodeSigner(id));
    for (const auto& [key, row] : store.contents().signers)
        storedSigners.insert(key);
    if (signers != storedSigners)
        problem("accepted signers differ between memory and the store");
    std::set<std::pair<std::string, std::string>> pending, storedPending;
    for (const auto& p : s.pendingSigners)
        pending.emplace(p.authority, core::encodeSigner(p.identity));
    for (const auto& [key, row] : store.contents().pendingSigners)
        storedPending.insert(key);
    if (pending != storedPending)
        problem("pending signers differ between memory and the store");

    if (problems.empty())
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "memory, store and kernel disagree:\n  "
                                         << fmt::format("{}", fmt::join(problems, "\n  "));
}

} // namespace mudguard::controller::test
