#pragma once
// A fake kernel for unit tests of the Enforcer (and of code that drives it): it records every
// batch and applies it to an in-memory model with the kernel's all-or-nothing semantics and its
// existence and reference checks (ENOENT, EBUSY). Failures can be injected at any operation.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mudguard/enforcer/Applier.h"

namespace mudguard::test {

class FakeApplier final : public enforcer::Applier {
public:
    struct Table {
        std::vector<enforcer::ir::SetDef> sets;
        std::map<std::string, std::set<enforcer::ir::Element>> elements; ///< timeouts dropped
        std::vector<enforcer::KernelTable::Chain> chains; ///< rules as rendered text
    };

    void apply(const enforcer::Batch& batch) override;
    std::optional<enforcer::KernelTable> read(enforcer::ir::TableFamily family) override;
    std::string fingerprint(enforcer::ir::TableFamily family, const enforcer::ir::Rule& rule) override;
    std::vector<enforcer::RuleCounter> ruleCounters(
        enforcer::ir::TableFamily family, const std::vector<std::string>& chains) override;
    std::optional<enforcer::Counter> elementCounter(
        enforcer::ir::TableFamily family, const std::string& set, const enforcer::ir::Element& key) override;
    enforcer::KernelFeatures probe() override { return features; }
    int eventFd() const override { return -1; }
    bool drainEvents() override;

    /// Makes operation `index` of the next batch fail with `errnum`.
    void failAt(std::size_t index, int errnum) { m_fail = std::pair { index, errnum }; }
    /// Another process deletes a table (and the change is announced unless `silently`).
    void deleteTableForeign(enforcer::ir::TableFamily family, bool silently = false);
    /// Another process adds an element.
    void addElementForeign(enforcer::ir::TableFamily family, const std::string& set, const enforcer::ir::Element& e);

    const std::optional<Table>& table(enforcer::ir::TableFamily family) const;
    std::vector<enforcer::Batch> batches;
    enforcer::KernelFeatures features;
    std::map<std::string, enforcer::Counter> ruleHits; ///< by rule comment

private:
    std::optional<Table> m_tables[2];
    std::optional<std::pair<std::size_t, int>> m_fail;
    bool m_foreign = false;
};

/// Counts the operations of each kind in a batch.
std::map<enforcer::BatchOp::Kind, std::size_t> opKinds(const enforcer::Batch& b);
/// True when a batch only adds and deletes elements (no table, set or chain operation).
bool elementsOnly(const enforcer::Batch& b);

} // namespace mudguard::test
