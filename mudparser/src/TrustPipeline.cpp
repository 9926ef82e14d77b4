#include "mudguard/mudparser/TrustPipeline.h"

#include <fmt/format.h>

#include "mudguard/mudparser/TimeText.h"

#include "Json.h"

namespace mudguard::mudparser {

namespace {

Diagnostic finding(Severity severity, std::string code, std::string message, const std::string& url)
{
    Diagnostic d;
    d.severity = severity;
    d.code = std::move(code);
    d.message = std::move(message);
    d.file = url;
    return d;
}

} // namespace

const char* toString(SignatureRequirement r)
{
    switch (r) {
    case SignatureRequirement::Require:
        return "require";
    case SignatureRequirement::Prefer:
        return "prefer";
    case SignatureRequirement::Off:
        return "off";
    }
    return "?";
}

std::optional<SignatureRequirement> parseSignatureRequirement(std::string_view text)
{
    if (text == "require")
        return SignatureRequirement::Require;
    if (text == "prefer")
        return SignatureRequirement::Prefer;
    if (text == "off")
        return SignatureRequirement::Off;
    return std::nullopt;
}

const char* toString(VerdictSource s)
{
    switch (s) {
    case VerdictSource::Network:
        return "network";
    case VerdictSource::NotModified:
        return "not modified";
    case VerdictSource::Cache:
        return "cache";
    case VerdictSource::LastKnownGood:
        return "last known good";
    case VerdictSource::Local:
        return "local file";
    }
    return "?";
}

const char* toString(RefusalStage s)
{
    switch (s) {
    case RefusalStage::None:
        return "none";
    case RefusalStage::Url:
        return "url";
    case RefusalStage::Fetch:
        return "fetch";
    case RefusalStage::Signature:
        return "signature";
    case RefusalStage::Signer:
        return "signer";
    case RefusalStage::Validation:
        return "validation";
    }
    return "?";
}

const TrustAnchors* TrustPolicy::anchorsFor(const std::string& authority) const
{
    if (auto it = authorityAnchors.find(authority); it != authorityAnchors.end() && it->second)
        return it->second.get();
    return anchors.get();
}

std::string Verdict::summary() const
{
    if (!accepted) {
        for (const auto& d : report.diagnostics)
            if (d.severity == Severity::Error)
                return fmt::format("refused: {} [{}]", d.message, d.code);
        return "refused";
    }
    std::string s = fmt::format("accepted ({}", toString(source));
    s += signer ? fmt::format(", signed by {}", signer->describe()) : std::string(", unsigned");
    if (unsupported)
        s += ", no longer supported by its maker";
    return s + ")";
}

std::optional<std::string> findMudSignature(std::string_view document)
{
    json::ParseError error;
    auto doc = json::Document::parse(document, Limits {}, error);
    if (!doc || !doc->isObject(doc->root()))
        return std::nullopt;
    auto mud = doc->member(doc->root(), "ietf-mud:mud");
    if (!doc->isObject(mud))
        return std::nullopt;
    auto signature = doc->string(doc->member(mud, "mud-signature"));
    if (!signature)
        return std::nullopt;
    return std::string(*signature);
}

Verdict evaluate(const EvaluateInput& input, const TrustPolicy& policy, const Parser& parser)
{
    Verdict v;
    v.source = VerdictSource::Local;
    v.url = input.url;
    v.body = std::string(input.body);
    v.signatureUrl = input.signatureUrl;
    auto& findings = v.report.diagnostics;
    // The first step that refuses names the stage.
    auto refuse = [&](RefusalStage stage, Diagnostic d) {
        if (d.severity == Severity::Error && v.stage == RefusalStage::None)
            v.stage = stage;
        findings.push_back(std::move(d));
    };
    auto parsed = Url::parse(input.url);
    if (!parsed) {
        refuse(RefusalStage::Url,
            finding(Severity::Error, parsed.code, "the MUD URL is not acceptable: " + parsed.message, input.url));
        return v;
    }
    v.url = parsed.url->str();

    // RFC 8520 section 13: the signature covers exactly the bytes that were fetched.
    if (policy.signature != SignatureRequirement::Off) {
        Severity missing = policy.signature == SignatureRequirement::Require ? Severity::Error : Severity::Warning;
        if (input.signature) {
            v.signature = std::string(*input.signature);
            const TrustAnchors* anchors = policy.anchorsFor(parsed.url->host());
            if (!anchors) {
                refuse(RefusalStage::Signature,
                    finding(Severity::Error, "signature-no-anchors",
                        fmt::format("no trust anchors are configured for {}, so its signature cannot be checked",
                            parsed.url->host()),
                        v.url));
            } else {
                VerifyOptions options;
                options.at = input.verifyAt ? input.verifyAt : policy.verifyAt;
                auto check = verifySignature(input.body, *input.signature, *anchors, options);
                if (check.valid) {
                    v.signer = check.signer;
                    v.chain = check.chain;
                } else
                    refuse(RefusalStage::Signature,
                        finding(Severity::Error, check.code,
                            input.signatureUrl.empty()
                                ? check.message
                                : fmt::format("{} (signature {})", check.message, input.signatureUrl),
                            v.url));
            }
        } else if (input.signatureProblem) {
            auto d = *input.signatureProblem;
            d.severity = missing;
            d.file = v.url;
            refuse(input.signatureProblemStage, std::move(d));
        } else {
            refuse(RefusalStage::Signature,
                finding(missing, "signature-missing",
                    missing == Severity::Error
                        ? "the file names no signature (mud-signature) and signatures are required"
                        : "the file names no signature (mud-signature); accepted unsigned because signatures are only "
                          "preferred",
                    v.url));
        }
    }

    ParseOptions options = policy.parse;
    options.fileName = v.url;
    auto result = parser.parse(input.body, options);
    for (auto& d : result.report.diagnostics)
        refuse(RefusalStage::Validation, std::move(d));
    if (result.profile) {
        // RFC 8520 section 3.3: the file must name the URL it was obtained from.
        auto inFile = Url::parse(result.profile->mudUrl);
        if (!inFile || inFile.url->str() != v.url)
            refuse(RefusalStage::Validation,
                finding(Severity::Error, "mud-url-mismatch",
                    fmt::format("the file's mud-url \"{}\" is not the URL it was obtained from ({})",
                        result.profile->mudUrl, v.url),
                    v.url));
        if (!result.profile->isSupported) {
            v.unsupported = true;
            findings.push_back(finding(Severity::Warning, "mud-unsupported",
                "the maker marks this device as no longer supported (is-supported: false); the file is kept as it "
                "is and no longer refreshed",
                v.url));
        }
    }
    v.accepted = result.profile.has_value() && !v.report.hasErrors();
    if (v.accepted)
        v.profile = std::move(result.profile);
    else if (v.stage == RefusalStage::None)
        v.stage = RefusalStage::Validation;
    return v;
}

TrustPipeline::TrustPipeline(std::shared_ptr<Fetcher> fetcher, TrustPolicy policy, std::shared_ptr<DocumentCache> cache,
    std::shared_ptr<SignerRegistry> signers)
    : m_fetcher(std::move(fetcher))
    , m_cache(std::move(cache))
    , m_signers(std::move(signers))
    , m_policy(std::make_shared<const TrustPolicy>(std::move(policy)))
{
}

void TrustPipeline::setPolicy(TrustPolicy policy)
{
    auto next = std::make_shared<const TrustPolicy>(std::move(policy));
    std::lock_guard lock(m_policyMutex);
    m_policy = std::move(next);
}

TrustPolicy TrustPipeline::policy() const
{
    std::lock_guard lock(m_policyMutex);
    return *m_policy;
}

Verdict TrustPipeline::obtain(const std::string& url, const Parser& parser, std::chrono::system_clock::time_point now)
{
    return run(url, parser, now, false);
}

Verdict TrustPipeline::refresh(const std::string& url, const Parser& parser, std::chrono::system_clock::time_point now)
{
    return run(url, parser, now, true);
}

namespace {

Verdict evaluateEntry(const CacheEntry& e, const TrustPolicy& policy, const Parser& parser, VerdictSource source,
    std::optional<std::chrono::system_clock::time_point> verifyAt)
{
    EvaluateInput in;
    in.url = e.url;
    in.body = e.body;
    if (!e.signature.empty())
        in.signature = e.signature;
    in.signatureUrl = e.signatureUrl;
    in.verifyAt = policy.verifyAt ? policy.verifyAt : verifyAt;
    auto v = evaluate(in, policy, parser);
    v.source = source;
    v.fetchedAt = e.fetchedAt;
    v.verifiedAt = e.verifiedAt;
    v.etag = e.etag;
    v.lastModified = e.lastModified;
    return v;
}

/// The cached copy stays in force; the failures of the refresh become warnings.
Verdict lastKnownGood(const CacheEntry& e, const TrustPolicy& policy, const Parser& parser,
    const std::vector<Diagnostic>& failures, RefusalStage why)
{
    auto v = evaluateEntry(e, policy, parser, VerdictSource::LastKnownGood, e.verifiedAt);
    if (v.accepted)
        v.stage = why;
    std::vector<Diagnostic> head;
    head.push_back(finding(Severity::Warning, "refresh-failed",
        fmt::format("refreshing the file failed; the copy fetched at {} stays in force", formatRfc3339(e.fetchedAt)),
        e.url));
    for (auto d : failures) {
        if (d.severity == Severity::Error)
            d.severity = Severity::Warning;
        head.push_back(std::move(d));
    }
    v.report.diagnostics.insert(v.report.diagnostics.begin(), head.begin(), head.end());
    return v;
}

} // namespace

Verdict TrustPipeline::run(
    const std::string& url, const Parser& parser, std::chrono::system_clock::time_point now, bool force)
{
    std::shared_ptr<const TrustPolicy> policy;
    {
        std::lock_guard lock(m_policyMutex);
        policy = m_policy;
    }
    auto parsed = Url::parse(url, m_fetcher->config().maxUrlLength);
    if (!parsed) {
        Verdict v;
        v.url = url;
        v.stage = RefusalStage::Url;
        v.report.diagnostics.push_back(
            finding(Severity::Error, parsed.code, "the MUD URL is not acceptable: " + parsed.message, url));
        return v;
    }
    const std::string key = parsed.url->str();
    const std::string authority = parsed.url->host();

    DocumentCache::Lookup cached;
    if (m_cache)
        cached = m_cache->lookup(key, now);
    if (cached && !force && cached.state != CacheState::Stale)
        return evaluateEntry(*cached.entry, *policy, parser, VerdictSource::Cache, cached.entry->verifiedAt);

    FetchRequest request { key, FetchKind::MudFile, std::nullopt, std::nullopt };
    if (cached && !cached.entry->etag.empty())
        request.ifNoneMatch = cached.entry->etag;
    if (cached && !cached.entry->lastModified.empty())
        request.ifModifiedSince = cached.entry->lastModified;
    auto fetched = m_fetcher->fetch(request);

    if (fetched.status == FetchResult::Status::NotModified && cached) {
        auto v = evaluateEntry(*cached.entry, *policy, parser, VerdictSource::NotModified, now);
        try {
            m_cache->confirm(key, now, fetched.etag, fetched.lastModified, v.accepted);
        } catch (const Error& e) {
            v.report.diagnostics.push_back(finding(Severity::Warning, "cache-write-failed", e.what(), key));
        }
        if (!v.accepted)
            return lastKnownGood(*cached.entry, *policy, parser, v.report.diagnostics, v.stage);
        v.fetchedAt = now;
        v.verifiedAt = now;
        if (!fetched.etag.empty())
            v.etag = fetched.etag;
        if (!fetched.lastModified.empty())
            v.lastModified = fetched.lastModified;
        return v;
    }
    if (!fetched.ok() || fetched.status == FetchResult::Status::NotModified) {
        std::vector<Diagnostic> failure { finding(Severity::Error, fetched.ok() ? "fetch-http-status" : fetched.code,
            fetched.ok() ? "the server answered 304 Not Modified but nothing is cached" : fetched.message, key) };
        if (cached)
            return lastKnownGood(*cached.entry, *policy, parser, failure, RefusalStage::Fetch);
        Verdict v;
        v.url = key;
        v.stage = RefusalStage::Fetch;
        v.report.diagnostics = std::move(failure);
        return v;
    }

    // The signature named by the file (a reference relative to the MUD URL), or the configured default.
    EvaluateInput in;
    in.url = key;
    in.body = fetched.body;
    std::string signatureBytes;
    if (policy->signature != SignatureRequirement::Off) {
        auto reference = findMudSignature(fetched.body);
        if (!reference && !policy->defaultSignatureSuffix.empty())
            reference = key + policy->defaultSignatureSuffix;
        if (reference) {
            auto target = parsed.url->resolve(*reference, m_fetcher->config().maxUrlLength);
            if (!target) {
                in.signatureProblem = finding(Severity::Error, "signature-url",
                    fmt::format("the signature location \"{}\" is not acceptable: {}", *reference, target.message),
                    key);
                in.signatureProblemStage = RefusalStage::Signature;
            } else {
                in.signatureUrl = target.url->str();
                auto sig = m_fetcher->fetch(
                    FetchRequest { in.signatureUrl, FetchKind::Signature, std::nullopt, std::nullopt });
                if (sig.status == FetchResult::Status::Ok) {
                    signatureBytes = std::move(sig.body);
                    in.signature = signatureBytes;
                } else {
                    in.signatureProblem = finding(Severity::Error, "signature-fetch",
                        fmt::format(
                            "the signature {} could not be fetched: {} [{}]", in.signatureUrl, sig.message, sig.code),
                        key);
                }
            }
        }
    }
    auto v = evaluate(in, *policy, parser);
    v.source = VerdictSource::Network;
    v.fetchedAt = now;
    v.verifiedAt = now;
    v.etag = fetched.etag;
    v.lastModified = fetched.lastModified;
    for (const auto& w : fetched.warnings)
        v.report.diagnostics.push_back(finding(Severity::Warning, "fetch-warning", w, key));

    // The same-signer rule (RFC 8520 section 13.2).
    if (v.accepted && v.signer && m_signers) {
        try {
            auto decision = m_signers->check(authority, *v.signer, key);
            if (decision.outcome == SignerDecision::Outcome::Changed) {
                v.report.diagnostics.push_back(finding(Severity::Error, "signer-changed",
                    fmt::format("the file is signed by {}, but the accepted signer for {} is {}; the file is refused "
                                "until an admin accepts the new signer",
                        v.signer->describe(), authority, decision.known ? decision.known->describe() : "(unknown)"),
                    key));
                v.accepted = false;
                v.profile.reset();
                v.stage = RefusalStage::Signer;
            } else if (decision.outcome == SignerDecision::Outcome::FirstUse) {
                v.report.diagnostics.push_back(finding(Severity::Info, "signer-first-use",
                    fmt::format("first signed file from {}: its signer {} is remembered from now on", authority,
                        v.signer->describe()),
                    key));
            }
        } catch (const Error& e) {
            v.report.diagnostics.push_back(finding(Severity::Error, "signer-registry",
                fmt::format("the signer could not be checked against the remembered one: {}", e.what()), key));
            v.accepted = false;
            v.profile.reset();
            v.stage = RefusalStage::Signer;
        }
    }

    if (!v.accepted) {
        if (cached)
            return lastKnownGood(*cached.entry, *policy, parser, v.report.diagnostics, v.stage);
        return v;
    }
    if (m_cache) {
        CacheEntry e;
        e.url = key;
        e.body = fetched.body;
        e.signature = v.signature;
        e.signatureUrl = v.signatureUrl;
        e.etag = fetched.etag;
        e.lastModified = fetched.lastModified;
        e.fetchedAt = now;
        e.verifiedAt = now;
        e.cacheValidityHours = v.profile->cacheValidity;
        e.isSupported = v.profile->isSupported;
        e.signer = v.signer;
        e.chain = v.chain;
        for (const auto& d : v.report.diagnostics)
            if (d.severity == Severity::Warning)
                e.diagnostics.push_back(d);
        try {
            m_cache->store(std::move(e));
        } catch (const Error& err) {
            v.report.diagnostics.push_back(finding(Severity::Warning, "cache-write-failed",
                fmt::format("the file is in force but could not be cached: {}", err.what()), key));
        }
    }
    return v;
}

} // namespace mudguard::mudparser
