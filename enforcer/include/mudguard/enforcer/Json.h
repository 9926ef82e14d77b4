#pragma once
// JSON forms of the enforcer's model: policies, configuration and compiled tables. Used by the
// golden tests (tests/data/enforcer/*.in.json) and by `mudguard compile --format json`.
// Input is bounded (1 MiB, depth 32); errors throw enforcer::Error with a JSON path.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "mudguard/enforcer/Config.h"
#include "mudguard/enforcer/Ir.h"
#include "mudguard/enforcer/Policy.h"
#include "mudguard/enforcer/Render.h"

namespace mudguard::enforcer::json {

/// A compile case: configuration, kernel features, policies and set contents (set name ->
/// elements as text: "192.0.2.0/24", "02:00:00:00:00:01", "192.0.2.1 timeout 300000").
struct Case {
    Config config;
    KernelFeatures features;
    std::vector<Policy> policies;
    std::map<std::string, std::vector<std::string>> elements;
};

Case parseCase(std::string_view text);
Policy parsePolicy(std::string_view text);
Config parseConfig(std::string_view text);

std::string toJson(const Policy& policy);
/// The compiled tables: sets (with elements) and chains with each rule as nft text.
std::string toJson(const Policy& policy, const std::vector<const ir::Table*>& tables, const ElementMap& elements);

/// Parses one element in its text form for a set of this key type.
ir::Element parseElement(ir::KeyType key, std::string_view text);

} // namespace mudguard::enforcer::json
