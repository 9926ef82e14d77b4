#include "cli/Enforceability.h"

#include <fmt/format.h>

#include "mudguard/enforcer/Layout.h"

#include "CompileContext.h"
#include "Translate.h"

namespace mudguard::controller::cli {

namespace {

/// A list key as a YANG path predicate value, quoted as mudparser quotes it.
std::string quoted(const std::string& v)
{
    char q = v.find('\'') == std::string::npos ? '\'' : '"';
    return fmt::format("{}{}{}", q, v, q);
}

/// The path of the ACE a refusal names ("acl/ace"), or "" when it names none.
std::string acePath(const mudparser::Profile& profile, const std::string& rule)
{
    for (const auto& acl : profile.acls)
        for (const auto& ace : acl.aces)
            if (acl.name + "/" + ace.name == rule)
                return fmt::format("/ietf-access-control-list:acls/acl[name={}]/aces/ace[name={}]", quoted(acl.name),
                    quoted(ace.name));
    return {};
}

} // namespace

mudparser::Diagnostic unenforceableDiagnostic(
    const std::string& file, const mudparser::Profile& profile, const enforcer::CompileError& refusal)
{
    mudparser::Diagnostic d;
    d.severity = mudparser::Severity::Error;
    d.code = kUnenforceableCode;
    d.message = fmt::format("cannot enforce {}", refusal.what());
    d.file = file;
    d.path = acePath(profile, refusal.rule());
    return d;
}

std::optional<mudparser::Diagnostic> checkEnforceable(const std::string& file, const mudparser::Profile& profile)
{
    try {
        enforcer::Policy policy = translate(profile, policyIdFor(profile.mudUrl));
        enforcer::compileLayout({ &policy }, defaultCompileContext().posture, enforcer::KernelFeatures {});
    } catch (const enforcer::CompileError& e) {
        return unenforceableDiagnostic(file, profile, e);
    }
    return std::nullopt;
}

} // namespace mudguard::controller::cli
