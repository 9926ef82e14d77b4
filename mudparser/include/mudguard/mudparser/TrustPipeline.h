#pragma once
// From a MUD URL to a policy that may be enforced: fetch (or cache) -> signature -> YANG
// validation -> the file's mud-url equals the URL -> same signer as before. Every refusal has a
// reason an admin can act on, and a refresh that fails leaves the last known good file in force.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mudguard/mudparser/Diagnostic.h"
#include "mudguard/mudparser/Fetcher.h"
#include "mudguard/mudparser/MudCache.h"
#include "mudguard/mudparser/Parser.h"
#include "mudguard/mudparser/Profile.h"
#include "mudguard/mudparser/Signature.h"
#include "mudguard/mudparser/SignerRegistry.h"

namespace mudguard::mudparser {

enum class SignatureRequirement {
    Require, ///< no valid signature, no policy (the default)
    Prefer, ///< a missing signature is a warning; an invalid one is still refused
    Off, ///< signatures are not looked at
};

const char* toString(SignatureRequirement r);
std::optional<SignatureRequirement> parseSignatureRequirement(std::string_view text);

struct TrustPolicy {
    SignatureRequirement signature = SignatureRequirement::Require;
    /// Anchors for every authority without its own.
    std::shared_ptr<const TrustAnchors> anchors;
    /// Anchors per authority (the MUD URL's host); for that host they replace the global ones.
    std::map<std::string, std::shared_ptr<const TrustAnchors>> authorityAnchors;
    /// When a file has no mud-signature: look for the signature at the MUD URL plus this suffix
    /// (for example ".p7s"). Empty: a file without mud-signature is unsigned.
    std::string defaultSignatureSuffix;
    /// Verification time for every signature (tests, forensics); unset: now.
    std::optional<std::chrono::system_clock::time_point> verifyAt;
    /// How documents are parsed (strict or lenient, limits).
    ParseOptions parse;

    /// The anchors that apply to `authority`, or nullptr when none are configured.
    const TrustAnchors* anchorsFor(const std::string& authority) const;
};

enum class VerdictSource {
    Network, ///< fetched now
    NotModified, ///< the server confirmed the cached copy (304)
    Cache, ///< the cached copy, still fresh (or unsupported: never refreshed)
    LastKnownGood, ///< a refresh failed or was refused; the cached copy stays in force
    Local, ///< a file given by the caller
};

const char* toString(VerdictSource s);

/// Where on its way a file was refused. Set by the step that refused it, never guessed from a code.
enum class RefusalStage {
    None, ///< not refused
    Url, ///< the MUD URL is not acceptable
    Fetch, ///< the file or its signature could not be obtained
    Signature, ///< the signature is missing where required, or does not verify
    Signer, ///< the same-signer rule (only with a SignerRegistry)
    Validation, ///< not a valid MUD file, or it names another mud-url
};

const char* toString(RefusalStage s);

struct Verdict {
    bool accepted = false;
    VerdictSource source = VerdictSource::Network;
    std::string url; ///< the MUD URL (normalised when it could be parsed)
    std::optional<Profile> profile;
    std::string body; ///< the MUD file's bytes, when there are any
    std::string signature; ///< the DER signature, when there is one
    std::string signatureUrl;
    std::optional<SignerIdentity> signer; ///< set when the signature was verified
    std::vector<std::string> chain; ///< with `signer`: subjects from the signer up to the trust anchor
    bool unsupported = false; ///< is-supported: false (flag it for auditors)
    std::optional<std::chrono::system_clock::time_point> fetchedAt;
    /// When the signature was last found valid (now for a fresh fetch; for a cached copy, when it
    /// was accepted or last confirmed).
    std::optional<std::chrono::system_clock::time_point> verifiedAt;
    std::string etag, lastModified; ///< the server's validators for the copy in the verdict
    /// Refused: where. LastKnownGood: where the refresh was refused (the copy in force stays).
    RefusalStage stage = RefusalStage::None;
    /// Errors say why the file was refused; warnings what an admin should know (including a
    /// failed refresh when the last known good copy stays in force); then the parser's findings.
    Report report;

    /// "accepted (network, signed by ...)" / "refused: <first error>".
    std::string summary() const;
};

/// The offline core, without network or state: the signature (when given or required), the
/// parse and validation, and the mud-url check against `url`.
struct EvaluateInput {
    std::string url;
    std::string_view body;
    std::optional<std::string_view> signature;
    std::string signatureUrl;
    /// Verification time for this signature, overriding the policy's (cached copies are checked
    /// as of the time they were accepted).
    std::optional<std::chrono::system_clock::time_point> verifyAt;
    /// Why no signature could be obtained (for example a failed signature fetch); reported instead
    /// of a plain "signature-missing", with the severity the requirement gives a missing signature.
    std::optional<Diagnostic> signatureProblem;
    /// Where `signatureProblem` belongs: the signature could not be fetched, or its location is not
    /// acceptable.
    RefusalStage signatureProblemStage = RefusalStage::Fetch;
};
Verdict evaluate(const EvaluateInput& input, const TrustPolicy& policy, const Parser& parser);

/// The `mud-signature` leaf of a MUD document, read with the bounded JSON model (before the document
/// is trusted or validated). nullopt when absent or when the text is not JSON.
std::optional<std::string> findMudSignature(std::string_view document);

/// The daemon's entry point, shared by the fetch workers: thread-safe, as long as each worker
/// passes its own Parser.
class TrustPipeline {
public:
    /// `cache` and `signers` may be null (no cache; no same-signer rule, which the caller then
    /// applies to the verdict's signer itself).
    TrustPipeline(std::shared_ptr<Fetcher> fetcher, TrustPolicy policy, std::shared_ptr<DocumentCache> cache = nullptr,
        std::shared_ptr<SignerRegistry> signers = nullptr);

    /// The policy for a MUD URL: the cached copy while it is fresh (or unsupported), otherwise a
    /// (conditional) fetch; on failure the last known good copy with the reason.
    Verdict obtain(const std::string& url, const Parser& parser,
        std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

    /// Like obtain(), but refreshes even a fresh copy (an admin's "refresh").
    Verdict refresh(const std::string& url, const Parser& parser,
        std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

    /// Replaces the trust policy (configuration reload).
    void setPolicy(TrustPolicy policy);
    TrustPolicy policy() const;

private:
    Verdict run(const std::string& url, const Parser& parser, std::chrono::system_clock::time_point now, bool force);

    std::shared_ptr<Fetcher> m_fetcher;
    std::shared_ptr<DocumentCache> m_cache;
    std::shared_ptr<SignerRegistry> m_signers;
    mutable std::mutex m_policyMutex;
    std::shared_ptr<const TrustPolicy> m_policy;
};

} // namespace mudguard::mudparser
