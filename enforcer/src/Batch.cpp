#include <fmt/format.h>

#include "mudguard/enforcer/Applier.h"

namespace mudguard::enforcer {

std::string BatchOp::describe() const
{
    std::string table = fmt::format("{} {}", ir::toString(family), ir::kTableName);
    switch (kind) {
    case Kind::AddTable:
        return "add table " + table;
    case Kind::DeleteTable:
        return "delete table " + table;
    case Kind::AddSet:
        return fmt::format("add set {} {}", table, name);
    case Kind::DeleteSet:
        return fmt::format("delete set {} {}", table, name);
    case Kind::FlushSet:
        return fmt::format("flush set {} {}", table, name);
    case Kind::AddElements:
        return fmt::format("add element {} {} ({} elements)", table, name, elements.size());
    case Kind::DeleteElements:
        return fmt::format("delete element {} {} ({} elements)", table, name, elements.size());
    case Kind::AddChain:
        return fmt::format("add chain {} {}", table, name);
    case Kind::DeleteChain:
        return fmt::format("delete chain {} {}", table, name);
    case Kind::FlushChain:
        return fmt::format("flush chain {} {}", table, name);
    case Kind::AddRule:
        return fmt::format("add rule {} {}", table, name);
    }
    return "?";
}

std::size_t Batch::elementCount() const
{
    std::size_t n = 0;
    for (const auto& op : ops)
        n += op.elements.size();
    return n;
}

void Batch::addTable(ir::TableFamily f) { ops.push_back({ BatchOp::Kind::AddTable, f, {}, {}, {}, {}, {} }); }

void Batch::deleteTable(ir::TableFamily f) { ops.push_back({ BatchOp::Kind::DeleteTable, f, {}, {}, {}, {}, {} }); }

void Batch::addSet(ir::TableFamily f, const ir::SetDef& s)
{
    ops.push_back({ BatchOp::Kind::AddSet, f, s.name, s, {}, {}, {} });
}

void Batch::deleteSet(ir::TableFamily f, const std::string& name)
{
    ops.push_back({ BatchOp::Kind::DeleteSet, f, name, {}, {}, {}, {} });
}

void Batch::flushSet(ir::TableFamily f, const std::string& name)
{
    ops.push_back({ BatchOp::Kind::FlushSet, f, name, {}, {}, {}, {} });
}

void Batch::addElements(ir::TableFamily f, const ir::SetDef& set, std::vector<ir::Element> e)
{
    if (!e.empty())
        ops.push_back({ BatchOp::Kind::AddElements, f, set.name, set, {}, {}, std::move(e) });
}

void Batch::deleteElements(ir::TableFamily f, const ir::SetDef& set, std::vector<ir::Element> e)
{
    if (!e.empty())
        ops.push_back({ BatchOp::Kind::DeleteElements, f, set.name, set, {}, {}, std::move(e) });
}

void Batch::addChain(ir::TableFamily f, const ir::Chain& c)
{
    ir::Chain def { c.name, c.hook, c.comment, {} };
    ops.push_back({ BatchOp::Kind::AddChain, f, c.name, {}, std::move(def), {}, {} });
    for (const auto& r : c.rules)
        addRule(f, c.name, r);
}

void Batch::deleteChain(ir::TableFamily f, const std::string& name)
{
    ops.push_back({ BatchOp::Kind::DeleteChain, f, name, {}, {}, {}, {} });
}

void Batch::flushChain(ir::TableFamily f, const std::string& name)
{
    ops.push_back({ BatchOp::Kind::FlushChain, f, name, {}, {}, {}, {} });
}

void Batch::addRule(ir::TableFamily f, const std::string& chain, const ir::Rule& r)
{
    ops.push_back({ BatchOp::Kind::AddRule, f, chain, {}, {}, r, {} });
}

void Batch::createTable(const ir::Table& t, const ir::ElementMap& elements)
{
    addTable(t.family);
    for (const auto& s : t.sets) {
        addSet(t.family, s);
        if (auto it = elements.find(s.name); it != elements.end())
            addElements(t.family, s, it->second);
    }
    for (const auto& c : t.chains)
        addChain(t.family, ir::Chain { c.name, c.hook, c.comment, {} });
    for (const auto& c : t.chains)
        for (const auto& r : c.rules)
            addRule(t.family, c.name, r);
}

} // namespace mudguard::enforcer
