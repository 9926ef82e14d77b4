#pragma once
// The stable diagnostic codes. Tools match on them; docs/diagnostics.md explains each one.
// Never change the text of an existing code.

#include <string_view>

namespace mudguard::mudparser::codes {

// Input limits (Limits.h).
inline constexpr std::string_view kLimitSize = "limit-size";
inline constexpr std::string_view kLimitDepth = "limit-depth";
inline constexpr std::string_view kLimitString = "limit-string";
inline constexpr std::string_view kLimitValues = "limit-values";
inline constexpr std::string_view kLimitAcls = "limit-acls";
inline constexpr std::string_view kLimitAces = "limit-aces";

// JSON well-formedness.
inline constexpr std::string_view kJsonSyntax = "json-syntax";
inline constexpr std::string_view kJsonEncoding = "json-encoding";
inline constexpr std::string_view kJsonDuplicateMember = "json-duplicate-member";
inline constexpr std::string_view kJsonNotObject = "json-not-object";

// YANG validation (translated from libyang).
inline constexpr std::string_view kYangUnknownMember = "yang-unknown-member";
inline constexpr std::string_view kYangInvalidValue = "yang-invalid-value";
inline constexpr std::string_view kYangOutOfRange = "yang-out-of-range";
inline constexpr std::string_view kYangMandatoryMissing = "yang-mandatory-missing";
inline constexpr std::string_view kYangLeafref = "yang-leafref";
inline constexpr std::string_view kYangChoiceConflict = "yang-choice-conflict";
inline constexpr std::string_view kYangWhen = "yang-when";
inline constexpr std::string_view kYangMust = "yang-must";
inline constexpr std::string_view kYangEncoding = "yang-encoding";
inline constexpr std::string_view kYangOther = "yang-other";
inline constexpr std::string_view kDuplicateEntry = "duplicate-entry";

// RFC 8520 rules YANG cannot express.
inline constexpr std::string_view kMudMissing = "mud-missing";
inline constexpr std::string_view kMudUrlNotHttps = "mud-url-not-https";
inline constexpr std::string_view kMudVersionUnknown = "mud-version-unknown";
inline constexpr std::string_view kCacheValidityRange = "cache-validity-range";
inline constexpr std::string_view kSysteminfoLong = "systeminfo-long";
inline constexpr std::string_view kAclUndefined = "acl-undefined";
inline constexpr std::string_view kAclTypeMissing = "acl-type-missing";
inline constexpr std::string_view kAclUnreferenced = "acl-unreferenced";
inline constexpr std::string_view kAceTypeMismatch = "ace-type-mismatch";
inline constexpr std::string_view kControllerUrnUnregistered = "controller-urn-unregistered";
inline constexpr std::string_view kNetworkHostBits = "network-host-bits";
inline constexpr std::string_view kMudClassEmpty = "mud-class-empty";

// Contradictions inside an entry: matches that no packet satisfies together.
inline constexpr std::string_view kAclTypeConflict = "acl-type-conflict";
inline constexpr std::string_view kEthertypeConflict = "ethertype-conflict";
inline constexpr std::string_view kProtocolConflict = "protocol-conflict";

// Extensions (RFC 8520 section 3.8 and the IANA MUD extensions registry).
inline constexpr std::string_view kExtensionUndeclared = "extension-undeclared";
inline constexpr std::string_view kExtensionIgnored = "extension-ignored";
inline constexpr std::string_view kExtensionNotEnforced = "extension-not-enforced";

// Legacy forms: errors in strict mode, warnings (and rewritten) in lenient mode.
inline constexpr std::string_view kLegacyAccessLists = "legacy-access-lists";
inline constexpr std::string_view kLegacyAclType = "legacy-acl-type";
inline constexpr std::string_view kLegacyHexEthertype = "legacy-hex-ethertype";
inline constexpr std::string_view kLegacyStringBoolean = "legacy-string-boolean";
inline constexpr std::string_view kLegacyModulePrefix = "legacy-module-prefix";
inline constexpr std::string_view kLegacyLastUpdateTimezone = "legacy-last-update-timezone";

// Valid, but not enforced by mudguard.
inline constexpr std::string_view kMatchUnsupported = "match-unsupported";

} // namespace mudguard::mudparser::codes
