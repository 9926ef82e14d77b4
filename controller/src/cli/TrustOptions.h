#pragma once
// Options and helpers shared by the commands that deal with signatures and fetching
// (fetch, verify, sign, and validate --signature).

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "mudguard/mudparser/Diagnostic.h"
#include "mudguard/mudparser/Signature.h"

namespace mudguard::controller::cli {

/// --trust-anchor PEM, repeatable.
CLI::Option* addTrustAnchorOption(CLI::App* cmd, std::vector<std::string>& files);

/// The anchors in `files`, or the system CA store when there are none. Throws
/// mudparser::SignatureError when a file is unusable.
std::shared_ptr<const mudparser::TrustAnchors> loadTrustAnchors(const std::vector<std::string>& files);

/// Checks `content` against the signature in `signaturePath`: an error diagnostic with the reason
/// (code signature-*, or signature-io when the file cannot be read), or an info naming the signer
/// (code signature-valid).
mudparser::Diagnostic signatureDiagnostic(const std::string& file, std::string_view content,
    const std::string& signaturePath, const mudparser::TrustAnchors& anchors,
    std::optional<std::chrono::system_clock::time_point> at = std::nullopt);

} // namespace mudguard::controller::cli
