#pragma once
// The one place that speaks both vocabularies: a parsed MUD profile (mudparser) becomes the
// enforcer's neutral policy. MUD classes become references to the enforcer's shared sets;
// anything the enforcer cannot express is refused here or by the enforcer's compile step,
// naming the ACE.

#include <string>
#include <string_view>

#include "mudguard/enforcer/Policy.h"
#include "mudguard/mudparser/Profile.h"

namespace mudguard::controller {

/// Translates `profile` into a policy with the given id. Throws enforcer::CompileError naming
/// the ACE ("acl/ace") that cannot be enforced (unsupported matches, two address classes on
/// one side, ...). Entries whose matches contradict each other are refused by the parser
/// already; they are refused here too.
enforcer::Policy translate(const mudparser::Profile& profile, const std::string& policyId);

/// A stable policy id for a MUD URL (16 hex digits): the same URL always gets the same id.
std::string policyIdFor(std::string_view mudUrl);

/// The authority (host, lower case, without user info and port) of an https URL, or "".
std::string urlAuthority(std::string_view url);

/// A DNS name as the enforcer keys it: lower case, without a trailing dot.
std::string canonicalDnsName(std::string_view name);

} // namespace mudguard::controller
