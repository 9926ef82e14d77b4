#include "FakeApplier.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "mudguard/enforcer/Error.h"
#include "mudguard/enforcer/Render.h"

namespace mudguard::test {

using namespace mudguard::enforcer;

namespace {

std::size_t index(ir::TableFamily f) { return f == ir::TableFamily::Inet ? 0 : 1; }

ir::Element plain(ir::Element e)
{
    e.timeoutMs.reset();
    return e;
}

bool mentions(const std::string& rule, const std::string& token)
{
    auto pos = rule.find(token);
    while (pos != std::string::npos) {
        std::size_t end = pos + token.size();
        if (end == rule.size() || rule[end] == ' ')
            return true;
        pos = rule.find(token, pos + 1);
    }
    return false;
}

bool refersToSet(const FakeApplier::Table& t, const std::string& set)
{
    for (const auto& c : t.chains)
        for (const auto& r : c.rules)
            if (mentions(r, "@" + set))
                return true;
    return false;
}

bool refersToChain(const FakeApplier::Table& t, const std::string& chain)
{
    for (const auto& c : t.chains)
        for (const auto& r : c.rules)
            if (mentions(r, "goto " + chain) || mentions(r, "jump " + chain))
                return true;
    return false;
}

} // namespace

void FakeApplier::apply(const Batch& batch)
{
    std::optional<Table> next[2] = { m_tables[0], m_tables[1] };
    auto fail = std::exchange(m_fail, std::nullopt);
    for (std::size_t i = 0; i < batch.ops.size(); ++i) {
        const BatchOp& op = batch.ops[i];
        auto refuse = [&](int err) { throw ApplyError(op.describe(), err, "fake kernel refused " + op.describe()); };
        if (fail && fail->first == i)
            refuse(fail->second);
        auto& slot = next[index(op.family)];
        if (op.kind == BatchOp::Kind::AddTable) {
            if (!slot)
                slot = Table {};
            continue;
        }
        if (!slot)
            refuse(ENOENT);
        Table& t = *slot;
        auto findSet = [&](const std::string& n) {
            for (auto it = t.sets.begin(); it != t.sets.end(); ++it)
                if (it->name == n)
                    return it;
            return t.sets.end();
        };
        auto findChain = [&](const std::string& n) {
            for (auto it = t.chains.begin(); it != t.chains.end(); ++it)
                if (it->name == n)
                    return it;
            return t.chains.end();
        };
        switch (op.kind) {
        case BatchOp::Kind::AddTable:
            break;
        case BatchOp::Kind::DeleteTable:
            slot.reset();
            break;
        case BatchOp::Kind::AddSet: {
            auto it = findSet(op.name);
            if (it == t.sets.end())
                t.sets.push_back(*op.set);
            else if (!(*it == *op.set))
                refuse(EEXIST);
            break;
        }
        case BatchOp::Kind::DeleteSet: {
            auto it = findSet(op.name);
            if (it == t.sets.end())
                refuse(ENOENT);
            if (refersToSet(t, op.name))
                refuse(EBUSY);
            t.sets.erase(it);
            t.elements.erase(op.name);
            break;
        }
        case BatchOp::Kind::FlushSet:
            if (findSet(op.name) == t.sets.end())
                refuse(ENOENT);
            t.elements[op.name].clear();
            break;
        case BatchOp::Kind::AddElements:
            if (findSet(op.name) == t.sets.end())
                refuse(ENOENT);
            for (const auto& e : op.elements)
                t.elements[op.name].insert(plain(e));
            break;
        case BatchOp::Kind::DeleteElements:
            if (findSet(op.name) == t.sets.end())
                refuse(ENOENT);
            for (const auto& e : op.elements)
                if (t.elements[op.name].erase(plain(e)) == 0)
                    refuse(ENOENT);
            break;
        case BatchOp::Kind::AddChain:
            if (findChain(op.name) == t.chains.end())
                t.chains.push_back({ op.name, op.chain->hook, op.chain->comment, {} });
            break;
        case BatchOp::Kind::DeleteChain: {
            auto it = findChain(op.name);
            if (it == t.chains.end())
                refuse(ENOENT);
            if (!it->rules.empty() || refersToChain(t, op.name))
                refuse(EBUSY);
            t.chains.erase(it);
            break;
        }
        case BatchOp::Kind::FlushChain: {
            auto it = findChain(op.name);
            if (it == t.chains.end())
                refuse(ENOENT);
            it->rules.clear();
            break;
        }
        case BatchOp::Kind::AddRule: {
            auto it = findChain(op.name);
            if (it == t.chains.end())
                refuse(ENOENT);
            for (const auto& s : op.rule->stmts) {
                if (auto* m = std::get_if<ir::Match>(&s); m && (m->op == ir::Op::InSet || m->op == ir::Op::NotInSet))
                    if (findSet(m->text) == t.sets.end())
                        refuse(ENOENT);
                if (auto* u = std::get_if<ir::Update>(&s); u && findSet(u->set) == t.sets.end())
                    refuse(ENOENT);
                if (auto* v = std::get_if<ir::Verdict>(&s);
                    v && !v->chain.empty() && findChain(v->chain) == t.chains.end())
                    refuse(ENOENT);
            }
            findChain(op.name)->rules.push_back(renderRule(*op.rule));
            break;
        }
        }
    }
    m_tables[0] = std::move(next[0]);
    m_tables[1] = std::move(next[1]);
    batches.push_back(batch);
}

std::optional<KernelTable> FakeApplier::read(ir::TableFamily family)
{
    const auto& t = m_tables[index(family)];
    if (!t)
        return std::nullopt;
    KernelTable k;
    k.sets = t->sets;
    for (const auto& [set, els] : t->elements)
        k.elements[set] = std::vector<ir::Element>(els.begin(), els.end());
    k.chains = t->chains;
    return k;
}

std::string FakeApplier::fingerprint(ir::TableFamily, const ir::Rule& rule) { return renderRule(rule); }

std::vector<RuleCounter> FakeApplier::ruleCounters(ir::TableFamily family, const std::vector<std::string>& chains)
{
    std::vector<RuleCounter> out;
    const auto& t = m_tables[index(family)];
    if (!t)
        return out;
    for (const auto& c : t->chains) {
        if (std::find(chains.begin(), chains.end(), c.name) == chains.end())
            continue;
        for (const auto& r : c.rules) {
            auto pos = r.find(" comment \"");
            std::string comment = pos == std::string::npos ? "" : r.substr(pos + 10, r.size() - pos - 11);
            Counter hits = ruleHits.count(comment) ? ruleHits[comment] : Counter {};
            out.push_back({ c.name, comment, hits });
        }
    }
    return out;
}

std::optional<Counter> FakeApplier::elementCounter(
    ir::TableFamily family, const std::string& set, const ir::Element& key)
{
    const auto& t = m_tables[index(family)];
    if (!t || !t->elements.count(set) || !t->elements.at(set).count(plain(key)))
        return std::nullopt;
    return Counter { 1, 100 };
}

bool FakeApplier::drainEvents() { return std::exchange(m_foreign, false); }

void FakeApplier::deleteTableForeign(ir::TableFamily family, bool silently)
{
    m_tables[index(family)].reset();
    m_foreign = m_foreign || !silently;
}

void FakeApplier::addElementForeign(ir::TableFamily family, const std::string& set, const ir::Element& e)
{
    m_tables[index(family)]->elements[set].insert(plain(e));
    m_foreign = true;
}

const std::optional<FakeApplier::Table>& FakeApplier::table(ir::TableFamily family) const
{
    return m_tables[index(family)];
}

std::map<BatchOp::Kind, std::size_t> opKinds(const Batch& b)
{
    std::map<BatchOp::Kind, std::size_t> out;
    for (const auto& op : b.ops)
        ++out[op.kind];
    return out;
}

bool elementsOnly(const Batch& b)
{
    for (const auto& op : b.ops)
        if (op.kind != BatchOp::Kind::AddElements && op.kind != BatchOp::Kind::DeleteElements)
            return false;
    return true;
}

} // namespace mudguard::test
