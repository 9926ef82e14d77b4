#pragma once
// The text back end: renders the IR exactly as `nft -s list table` prints it (nftables 1.0.6),
// so that what auditors read is what the kernel holds. The output also loads with `nft -f`.

#include <map>
#include <string>
#include <vector>

#include "mudguard/enforcer/Ir.h"

namespace mudguard::enforcer {

/// Set name -> elements. Sets without an entry print without elements.
using ElementMap = ir::ElementMap;

/// "table inet mudguard { ... }\n". Elements are printed sorted; counters print as `counter`
/// (the stateless form) and timeouts as `timeout 5m`.
std::string render(const ir::Table& table, const ElementMap& elements = {});
std::string renderChain(const ir::Chain& chain);
/// One rule on one line, without indentation.
std::string renderRule(const ir::Rule& rule);
std::string renderElement(const ir::SetDef& set, const ir::Element& e);
/// nftables' time format: 1d2h3m4s5ms.
std::string renderDuration(std::uint64_t ms);

} // namespace mudguard::enforcer
