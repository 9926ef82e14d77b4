#pragma once
// The libnftnl back end: IR objects -> libnftnl objects, with the same bytecode nft 1.0.6 emits
// for the same text (dependencies such as `meta nfproto` in inet, adjacent payload matches
// merged), so that `nft list` prints exactly what the renderer prints.

#include <cstdint>
#include <string>
#include <vector>

#include "mudguard/enforcer/Ir.h"

#include "Handles.h"

namespace mudguard::enforcer::netlink {

std::uint16_t nfproto(ir::TableFamily f);

TablePtr makeTable(ir::TableFamily f);
SetPtr makeSet(ir::TableFamily f, const ir::SetDef& s, std::uint32_t setId);
/// A set object carrying elements (for NEWSETELEM / DELSETELEM); empty `elements` flushes.
SetPtr makeElements(ir::TableFamily f, const std::string& set, ir::KeyType key, bool interval,
    const std::vector<ir::Element>& elements);
ChainPtr makeChain(ir::TableFamily f, const ir::Chain& c);
RulePtr makeRule(ir::TableFamily f, const std::string& chain, const ir::Rule& r);

/// A rule's identity: its expressions as libnftnl prints them (counter values cleared) and its
/// comment. The same for an encoded rule and for the rule the kernel dumps back.
std::string fingerprint(nftnl_rule* r);

/// The rule's comment (userdata), or "".
std::string ruleComment(nftnl_rule* r);
std::string chainComment(nftnl_chain* c);
std::string setComment(nftnl_set* s);

/// Decodes an element key of an interval set back into prefixes: the kernel stores a start and
/// an end (exclusive, flagged) per range.
std::vector<ir::Element> intervalsToPrefixes(const std::vector<std::pair<std::vector<std::uint8_t>, bool>>& keys);

} // namespace mudguard::enforcer::netlink
