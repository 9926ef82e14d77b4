#pragma once
// The compile step: policies and configuration -> the structure of mudguard's two tables (sets
// without their elements, chains with their rules). Pure: no I/O, no clock, no globals.
//
// The layout and the reasons for it are described in docs/nftables-layout.md.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mudguard/enforcer/Config.h"
#include "mudguard/enforcer/Ir.h"
#include "mudguard/enforcer/Policy.h"

namespace mudguard::enforcer {

enum class Direction { FromDevice, ToDevice };

/// Where a device is held when it has no policy in force.
enum class Hold { Pending, Quarantine };

/// Object names. Every name is derived from typed values (policy ids, hashes of set keys), never
/// copied from a MUD file.
namespace names {
std::string policyChain(std::string_view policyId, Direction d); ///< p_<id>_from / p_<id>_to
std::string memberSet(std::string_view policyId, ir::KeyType k); ///< p_<id>_mac / _ip4 / _ip6
std::string holdSet(Hold h, ir::KeyType k); ///< pending_mac, quarantine_ip6, ...
std::string managedSet(ir::KeyType k); ///< managed_mac / _ip4 / _ip6: every device the enforcer holds
std::string classSet(const SetRef& ref, ir::KeyType k); ///< dns_<hash>_ip4, lan_ip6, mfr_<hash>_mac, ...
/// Drop counter sets: inet drop_mac / drop_ip4 / drop_ip6; bridge drop_from / drop_to.
std::string dropSet(ir::TableFamily t, Direction d, ir::KeyType k);
/// The chain a denied packet goes to: drop_from, reject_to, ...
std::string denyChain(Direction d, bool reject);
inline constexpr std::string_view kLogPrefixFrom = "mudguard-deny-from ";
inline constexpr std::string_view kLogPrefixTo = "mudguard-deny-to ";
inline constexpr std::string_view kLogPrefixAce = "mudguard-ace ";
inline constexpr std::string_view kLogPrefixDns = "mudguard-dns ";
inline constexpr std::string_view kDnsLogChain = "dns_log";
} // namespace names

/// The key types a class set has in a table: addresses in inet; in the bridge table devices
/// (manufacturer, model) are matched by MAC and everything else by address.
std::vector<ir::KeyType> classSetKeys(SetRef::Kind kind, ir::TableFamily table);

/// The sets a policy refers to, sorted, without duplicates.
std::vector<SetRef> referencedSets(const Policy& policy);

/// Throws CompileError naming the first ACE (or the policy id) that cannot be expressed.
void checkPolicy(const Policy& policy);

/// One policy's rules for one table and direction, ending with the default deny.
std::vector<ir::Rule> compileRules(const Policy& policy, Direction direction, ir::TableFamily table,
    const Config& config, const KernelFeatures& features);

/// Set elements for typed values.
ir::Element elementOf(const Prefix& p, std::optional<std::uint64_t> timeoutMs = std::nullopt);
ir::Element elementOf(const IpAddress& a, std::optional<std::uint64_t> timeoutMs = std::nullopt);
ir::Element elementOf(const MacAddress& m);

/// Adds the elements of the class sets behind `ref` in `table`: addresses (and prefixes) go to
/// the address sets, MACs to the MAC sets; entries of a kind the table's sets do not take are
/// skipped. `timeoutMs` applies to timeout sets (DNS names).
void addClassElements(ir::ElementMap& out, const SetRef& ref, ir::TableFamily table, const std::vector<Prefix>& nets,
    const std::vector<MacAddress>& macs, std::optional<std::uint64_t> timeoutMs = std::nullopt);

struct Layout {
    ir::Table inet { ir::TableFamily::Inet, {}, {} };
    ir::Table bridge { ir::TableFamily::Bridge, {}, {} };
};

/// The structure of both tables for these policies (sorted by id by the caller or not: the
/// output is sorted). Throws CompileError.
Layout compileLayout(const std::vector<const Policy*>& policies, const Config& config, const KernelFeatures& features);

} // namespace mudguard::enforcer
