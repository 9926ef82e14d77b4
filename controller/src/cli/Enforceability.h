#pragma once
// Whether this router can enforce a valid MUD file. mudparser decides what is valid and knows
// nothing of nftables; a valid file may still hold an entry the translation or the enforcer
// refuses (a match mudguard does not carry, two address classes for one peer, ...). The
// commands that examine MUD files report such a refusal as one error with the code
// "unenforceable", so that `mudguard validate` refuses what `mudguard compile` refuses.

#include <optional>
#include <string>

#include "mudguard/enforcer/Error.h"
#include "mudguard/mudparser/Diagnostic.h"
#include "mudguard/mudparser/Profile.h"

namespace mudguard::controller::cli {

inline constexpr const char* kUnenforceableCode = "unenforceable";

/// The error for a refusal of `profile`: "cannot enforce 'acl/ace': reason", located at the
/// JSON path of the ACE the refusal names (no line: the profile does not keep positions).
mudparser::Diagnostic unenforceableDiagnostic(
    const std::string& file, const mudparser::Profile& profile, const enforcer::CompileError& refusal);

/// Translates `profile` and compiles the policy on its own with the default posture, as
/// `mudguard compile` does without a context: the refusal, or nothing when it compiles.
std::optional<mudparser::Diagnostic> checkEnforceable(const std::string& file, const mudparser::Profile& profile);

} // namespace mudguard::controller::cli
