#pragma once
// Absolute https URLs as mudguard accepts them from devices, MUD files and servers: RFC 3986
// syntax with length limits, https only, no user information, no fragment, DNS host names or IP
// literals; relative references resolved by RFC 3986 section 5.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mudguard::mudparser {

struct UrlResult;

class Url {
public:
    static constexpr std::size_t kMaxLength = 2048;

    enum class HostKind { Name, Ipv4, Ipv6 };

    /// Parses an absolute https URL. Scheme and host are lower-cased, the default port 443 is
    /// dropped, an empty path becomes "/", and dot segments are removed.
    static UrlResult parse(std::string_view text, std::size_t maxLength = kMaxLength);

    /// Resolves a reference (absolute, network-path, absolute-path, relative-path, query-only
    /// or empty) against this URL. The result must again be an acceptable https URL.
    UrlResult resolve(std::string_view reference, std::size_t maxLength = kMaxLength) const;

    /// Host name (lower case) or IP literal, without brackets.
    const std::string& host() const { return m_host; }
    HostKind hostKind() const { return m_hostKind; }
    std::uint16_t port() const { return m_port; }
    const std::string& path() const { return m_path; }
    /// The query without '?', when there is one.
    const std::optional<std::string>& query() const { return m_query; }

    /// Path plus "?query": the HTTP request target.
    std::string target() const;
    /// host (bracketed for IPv6) plus ":port" when it is not 443.
    std::string authority() const;
    /// The normalised URL; two URLs are the same resource when their str() are equal.
    const std::string& str() const { return m_text; }

    bool operator==(const Url& o) const { return m_text == o.m_text; }

private:
    Url() = default;
    std::string m_host;
    HostKind m_hostKind = HostKind::Name;
    std::uint16_t m_port = 443;
    std::string m_path = "/";
    std::optional<std::string> m_query;
    std::string m_text;
};

/// A parsed URL, or the reason it was refused. `code` is stable (docs/trust.md lists each one):
/// url-empty, url-too-long, url-syntax, url-scheme, url-userinfo, url-host, url-port,
/// url-fragment.
struct UrlResult {
    std::optional<Url> url;
    std::string code;
    std::string message;
    explicit operator bool() const { return url.has_value(); }
};

/// RFC 3986 section 5.2.4.
std::string removeDotSegments(std::string_view path);

} // namespace mudguard::mudparser
