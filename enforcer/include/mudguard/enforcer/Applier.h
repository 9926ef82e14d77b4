#pragma once
// The apply step: kernel transactions. The enforcer describes each change as a Batch of typed
// operations on its two tables; an Applier carries it out atomically. Production uses the
// libnftnl applier (NetlinkApplier.h); unit tests use a recording fake.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mudguard/enforcer/Config.h"
#include "mudguard/enforcer/Ir.h"

namespace mudguard::enforcer {

struct BatchOp {
    enum class Kind {
        AddTable, ///< creates the table if missing
        DeleteTable, ///< with everything in it
        AddSet, ///< `set` holds the definition
        DeleteSet, ///< the set must be unreferenced by then
        FlushSet, ///< removes every element
        AddElements, ///< adds (or keeps) `elements`
        DeleteElements, ///< the elements must exist
        AddChain, ///< `chain` holds name, hook and comment (its rules come as AddRule)
        DeleteChain, ///< the chain must be empty and unreferenced by then
        FlushChain, ///< removes every rule
        AddRule, ///< appends `rule` to chain `name`
    };
    Kind kind = Kind::AddTable;
    ir::TableFamily family = ir::TableFamily::Inet;
    std::string name; ///< set or chain
    std::optional<ir::SetDef> set; ///< AddSet, AddElements, DeleteElements
    std::optional<ir::Chain> chain;
    std::optional<ir::Rule> rule;
    std::vector<ir::Element> elements;

    /// "add rule inet mudguard p_x_from", for errors and logs.
    std::string describe() const;
};

/// An ordered list of operations the kernel applies all or nothing.
struct Batch {
    std::vector<BatchOp> ops;
    bool empty() const { return ops.empty(); }
    std::size_t elementCount() const;

    void addTable(ir::TableFamily f);
    void deleteTable(ir::TableFamily f);
    void addSet(ir::TableFamily f, const ir::SetDef& s);
    void deleteSet(ir::TableFamily f, const std::string& name);
    void flushSet(ir::TableFamily f, const std::string& name);
    /// Element operations carry the set's definition (key type, interval) for the encoder.
    void addElements(ir::TableFamily f, const ir::SetDef& set, std::vector<ir::Element> e);
    void deleteElements(ir::TableFamily f, const ir::SetDef& set, std::vector<ir::Element> e);
    void addChain(ir::TableFamily f, const ir::Chain& c); ///< the chain, then its rules
    void deleteChain(ir::TableFamily f, const std::string& name);
    void flushChain(ir::TableFamily f, const std::string& name);
    void addRule(ir::TableFamily f, const std::string& chain, const ir::Rule& r);

    /// Creates a whole table: the table, its sets with their elements, every chain (empty),
    /// then the rules (so that jumps find their targets).
    void createTable(const ir::Table& t, const ir::ElementMap& elements);
};

/// What the kernel holds of one of mudguard's tables, read back in one dump.
struct KernelTable {
    struct Chain {
        std::string name;
        std::optional<ir::Hook> hook;
        std::string comment;
        std::vector<std::string> rules; ///< fingerprints (Applier::fingerprint), in order
    };
    std::vector<ir::SetDef> sets;
    ir::ElementMap elements; ///< every set's elements (interval sets: as the kernel stores them)
    std::vector<Chain> chains;
};

struct Counter {
    std::uint64_t packets = 0, bytes = 0;
    Counter& operator+=(const Counter& o)
    {
        packets += o.packets;
        bytes += o.bytes;
        return *this;
    }
    bool operator==(const Counter&) const = default;
};

/// A rule's counter, identified by its chain and comment.
struct RuleCounter {
    std::string chain, comment;
    Counter counter;
};

class Applier {
public:
    virtual ~Applier() = default;
    /// Applies the batch atomically: all of it, or (on ApplyError) none of it.
    virtual void apply(const Batch& batch) = 0;
    /// Reads one of mudguard's tables (nullopt: it does not exist).
    virtual std::optional<KernelTable> read(ir::TableFamily family) = 0;
    /// A rule's identity as KernelTable::Chain::rules reports it (counter values left out).
    virtual std::string fingerprint(ir::TableFamily family, const ir::Rule& rule) = 0;
    /// The counters of the rules in these chains.
    virtual std::vector<RuleCounter> ruleCounters(ir::TableFamily family, const std::vector<std::string>& chains) = 0;
    /// The counter of one element of a counter set (nullopt: no such element).
    virtual std::optional<Counter> elementCounter(
        ir::TableFamily family, const std::string& set, const ir::Element& key)
        = 0;
    /// What the kernel supports; may change nothing in the kernel.
    virtual KernelFeatures probe() = 0;
    /// Change monitoring: a descriptor that becomes readable when the nftables ruleset changes
    /// (-1 when not supported), and the handler that drains it. `drainEvents` returns true when
    /// something other than this applier changed or deleted one of mudguard's tables.
    virtual int eventFd() const = 0;
    virtual bool drainEvents() = 0;
};

} // namespace mudguard::enforcer
