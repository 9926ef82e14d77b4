#pragma once
// The MUD-specific stages around YANG validation, all working on the JSON model:
//  * limits on ACLs and ACEs;
//  * legacy forms of real files (reported as errors in strict mode, as warnings in lenient
//    mode; rewritten in both so that later stages see the standard form);
//  * extension data (RFC 8520: declared in "extensions"; unknown extensions are ignored);
//  * the RFC 8520 rules YANG cannot express.
// Where a stage finds an error it also edits the document so that libyang, which reports only
// its first error, can look past it (a removed entry, a placeholder for a missing leaf).

#include <string>
#include <string_view>
#include <vector>

#include "mudguard/mudparser/Limits.h"
#include "mudguard/mudparser/Parser.h"

#include "Json.h"
#include "Sink.h"

namespace mudguard::mudparser {

inline constexpr std::string_view kMudContainer = "ietf-mud:mud";
inline constexpr std::string_view kAclsContainer = "ietf-access-control-list:acls";

/// False when a limit is exceeded (the document is then not looked at further).
bool checkAclLimits(const json::Document& doc, const Limits& limits, Sink& sink);

void rewriteLegacyForms(json::Document& doc, Mode mode, Sink& sink);

/// Removes extension data that is not validated with YANG (recognised-but-not-modelled data is
/// appended to `opaque`).
void handleExtensions(json::Document& doc, Mode mode, Sink& sink, std::vector<OpaqueExtension>& opaque);

void checkMudRules(json::Document& doc, Mode mode, Sink& sink);

/// True when extension name `declared` (from "extensions") covers data of YANG module
/// `module`: the module's name, split at "-", contains the extension's name as a run of whole
/// words ("directed-broadcasts" covers "mud-directed-broadcasts"; "ol" covers "ietf-ol").
bool extensionCovers(std::string_view declared, std::string_view module);

} // namespace mudguard::mudparser
