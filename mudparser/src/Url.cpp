#include "mudguard/mudparser/Url.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "mudguard/mudparser/IpAddress.h"
#include "mudguard/mudparser/MudString.h"

namespace mudguard::mudparser {

namespace {

UrlResult refuse(std::string code, std::string message)
{
    UrlResult r;
    r.code = std::move(code);
    r.message = std::move(message);
    return r;
}

bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool isUnreserved(char c) { return isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~'; }
bool isSubDelim(char c)
{
    return c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ','
        || c == ';' || c == '=';
}
bool isPchar(char c) { return isUnreserved(c) || isSubDelim(c) || c == ':' || c == '@'; }

std::string describeChar(char c)
{
    auto u = static_cast<unsigned char>(c);
    if (u == 0x20)
        return "a space";
    if (u > 0x20 && u < 0x7f)
        return fmt::format("'{}'", c);
    return fmt::format("byte 0x{:02x}", u);
}

/// Checks a path or query: pchar, '/', ('?' in a query) and valid percent-encoding.
std::optional<UrlResult> checkComponent(std::string_view s, bool query, std::size_t offset)
{
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size() || !isHex(s[i + 1]) || !isHex(s[i + 2]))
                return refuse("url-syntax", fmt::format("malformed percent-encoding at position {}", offset + i + 1));
            i += 2;
            continue;
        }
        if (c == '#')
            return refuse("url-fragment", "a MUD URL must not have a fragment ('#...')");
        if (isPchar(c) || c == '/' || (query && c == '?'))
            continue;
        return refuse("url-syntax",
            fmt::format("{} at position {} is not allowed in a URL{}", describeChar(c), offset + i + 1,
                c == ' ' ? " (spaces must be percent-encoded)" : ""));
    }
    return std::nullopt;
}

/// A DNS host name: labels of letters, digits and hyphens, 1..63 octets each, 253 in all; the
/// last label is not all digits (that would be a numeric address in a non-standard form).
std::optional<std::string> checkHostName(std::string_view h)
{
    if (h.size() > 253)
        return fmt::format("the host name is longer than 253 characters");
    std::size_t start = 0;
    bool lastAllDigits = false;
    while (true) {
        auto dot = h.find('.', start);
        auto label = h.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty())
            return fmt::format("the host name \"{}\" has an empty label", h);
        if (label.size() > 63)
            return fmt::format("a label of the host name is longer than 63 characters");
        if (label.front() == '-' || label.back() == '-')
            return fmt::format("a label of the host name \"{}\" starts or ends with '-'", h);
        lastAllDigits = true;
        for (char c : label) {
            if (!isAlpha(c) && !isDigit(c) && c != '-')
                return fmt::format("{} is not allowed in a host name (only letters, digits, '-' and '.'; "
                                   "internationalised names must be in their xn-- form)",
                    describeChar(c));
            if (!isDigit(c))
                lastAllDigits = false;
        }
        if (dot == std::string_view::npos)
            break;
        start = dot + 1;
    }
    if (lastAllDigits)
        return fmt::format("the host \"{}\" is neither a host name nor a dotted-quad IPv4 address", h);
    return std::nullopt;
}

std::string lower(std::string_view s)
{
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

/// The scheme of a reference ("https" in "https://..."), when it has one.
std::optional<std::string_view> schemeOf(std::string_view s)
{
    if (s.empty() || !isAlpha(s[0]))
        return std::nullopt;
    for (std::size_t i = 1; i < s.size(); ++i) {
        char c = s[i];
        if (c == ':')
            return s.substr(0, i);
        if (!isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.')
            return std::nullopt;
    }
    return std::nullopt;
}

} // namespace

std::string removeDotSegments(std::string_view path)
{
    std::string in(path);
    std::string out;
    while (!in.empty()) {
        if (in.starts_with("../")) {
            in.erase(0, 3);
        } else if (in.starts_with("./")) {
            in.erase(0, 2);
        } else if (in.starts_with("/./")) {
            in.erase(0, 2);
        } else if (in == "/.") {
            in = "/";
        } else if (in.starts_with("/../") || in == "/..") {
            in = in.size() == 3 ? std::string("/") : in.substr(3);
            auto slash = out.rfind('/');
            out.erase(slash == std::string::npos ? 0 : slash);
        } else if (in == "." || in == "..") {
            in.clear();
        } else {
            auto next = in.find('/', in[0] == '/' ? 1 : 0);
            out += in.substr(0, next);
            in.erase(0, next == std::string::npos ? in.size() : next);
        }
    }
    return out;
}

UrlResult Url::parse(std::string_view text, std::size_t maxLength)
{
    if (text.empty())
        return refuse("url-empty", "the URL is empty");
    if (text.size() > maxLength)
        return refuse("url-too-long",
            fmt::format("the URL is {} characters long; at most {} are accepted", text.size(), maxLength));
    for (std::size_t i = 0; i < text.size(); ++i) {
        auto u = static_cast<unsigned char>(text[i]);
        if (u <= 0x20 || u >= 0x7f)
            return refuse("url-syntax",
                fmt::format("{} at position {} is not allowed in a URL{}", describeChar(text[i]), i + 1,
                    u == 0x20 ? " (spaces must be percent-encoded)" : ""));
    }
    auto scheme = schemeOf(text);
    if (!scheme)
        return refuse("url-syntax", "not an absolute URL (no scheme such as \"https:\")");
    if (lower(*scheme) != "https")
        return refuse("url-scheme", fmt::format("only https URLs are accepted, not \"{}:\"", *scheme));
    auto rest = text.substr(scheme->size() + 1);
    if (!rest.starts_with("//"))
        return refuse("url-syntax", "\"https:\" must be followed by \"//\" and a host");
    rest.remove_prefix(2);

    auto authorityEnd = rest.find_first_of("/?#");
    auto authority = rest.substr(0, authorityEnd);
    auto tail = authorityEnd == std::string_view::npos ? std::string_view() : rest.substr(authorityEnd);
    std::size_t tailOffset = scheme->size() + 3 + authority.size();

    if (authority.find('@') != std::string_view::npos)
        return refuse("url-userinfo", "the URL carries user information (\"user@\"), which is not accepted");

    Url url;
    std::string_view hostPart, portPart;
    bool hasPort = false;
    if (authority.starts_with("[")) {
        auto close = authority.find(']');
        if (close == std::string_view::npos)
            return refuse("url-host", "an IPv6 literal lacks its closing ']'");
        hostPart = authority.substr(1, close - 1);
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':')
                return refuse("url-host", "unexpected text after the IPv6 literal");
            hasPort = true;
            portPart = after.substr(1);
        }
        auto a = IpAddress::parse(hostPart);
        if (!a || !a->isV6())
            return refuse(
                "url-host", fmt::format("\"[{}]\" is not an IPv6 address (zone indexes are not accepted)", hostPart));
        url.m_hostKind = HostKind::Ipv6;
        url.m_host = a->str();
    } else {
        auto colon = authority.rfind(':');
        hostPart = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            hasPort = true;
            portPart = authority.substr(colon + 1);
        }
        if (hostPart.empty())
            return refuse("url-host", "the URL has no host");
        auto a = IpAddress::parse(hostPart);
        if (a && a->isV4()) {
            url.m_hostKind = HostKind::Ipv4;
            url.m_host = a->str();
        } else {
            if (auto problem = checkHostName(hostPart))
                return refuse("url-host", *problem);
            url.m_hostKind = HostKind::Name;
            url.m_host = lower(hostPart);
        }
    }
    if (hasPort) {
        unsigned port = 0;
        auto [end, ec] = std::from_chars(portPart.data(), portPart.data() + portPart.size(), port);
        if (portPart.empty() || ec != std::errc() || end != portPart.data() + portPart.size() || port == 0
            || port > 65535)
            return refuse("url-port", fmt::format("\"{}\" is not a port number (1..65535)", portPart));
        url.m_port = static_cast<std::uint16_t>(port);
    }

    auto question = tail.find('?');
    auto pathPart = tail.substr(0, question);
    if (auto bad = checkComponent(pathPart, false, tailOffset))
        return *bad;
    if (question != std::string_view::npos) {
        auto queryPart = tail.substr(question + 1);
        if (auto bad = checkComponent(queryPart, true, tailOffset + question + 1))
            return *bad;
        url.m_query = std::string(queryPart);
    }
    url.m_path = removeDotSegments(pathPart);
    if (url.m_path.empty())
        url.m_path.push_back('/');
    url.m_text = "https://" + url.authority() + url.target();
    if (url.m_text.size() > maxLength)
        return refuse("url-too-long", fmt::format("the URL is longer than {} characters", maxLength));
    UrlResult r;
    r.url = std::move(url);
    return r;
}

UrlResult Url::resolve(std::string_view reference, std::size_t maxLength) const
{
    if (reference.size() > maxLength)
        return refuse("url-too-long",
            fmt::format("the reference is {} characters long; at most {} are accepted", reference.size(), maxLength));
    if (schemeOf(reference))
        return parse(reference, maxLength);
    if (reference.starts_with("//"))
        return parse("https:" + std::string(reference), maxLength);
    for (std::size_t i = 0; i < reference.size(); ++i) {
        auto u = static_cast<unsigned char>(reference[i]);
        if (u <= 0x20 || u >= 0x7f)
            return refuse("url-syntax",
                fmt::format("{} at position {} is not allowed in a URL reference", describeChar(reference[i]), i + 1));
    }
    if (reference.find('#') != std::string_view::npos)
        return refuse("url-fragment", "a MUD URL must not have a fragment ('#...')");

    auto question = reference.find('?');
    auto refPath = reference.substr(0, question);
    std::string path;
    std::optional<std::string> query;
    if (question != std::string_view::npos)
        query = std::string(reference.substr(question + 1));
    if (refPath.empty()) {
        path = m_path;
        if (!query)
            query = m_query;
    } else if (refPath.front() == '/') {
        path = removeDotSegments(refPath);
    } else {
        auto slash = m_path.rfind('/');
        path = removeDotSegments(m_path.substr(0, slash + 1) + std::string(refPath));
    }
    return parse("https://" + authority() + path + (query ? "?" + *query : std::string()), maxLength);
}

std::string Url::target() const { return m_query ? m_path + "?" + *m_query : m_path; }

std::string Url::authority() const
{
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) about "x" + std::string here.
    std::string a;
    if (m_hostKind == HostKind::Ipv6)
        a.append(1, '[').append(m_host).append(1, ']');
    else
        a = m_host;
    if (m_port != 443)
        a.append(1, ':').append(std::to_string(m_port));
    return a;
}

MudStringResult parseMudString(std::string_view raw)
{
    MudStringResult r;
    if (raw.size() > kMaxMudStringBytes) {
        r.code = "mudstring-too-long";
        r.message = fmt::format(
            "the MUD string is {} octets long; RFC 8520 allows at most {}", raw.size(), kMaxMudStringBytes);
        return r;
    }
    auto space = raw.find(' ');
    auto urlText = raw.substr(0, space);
    if (space != std::string_view::npos)
        r.reserved = std::string(raw.substr(space + 1));
    if (urlText.empty()) {
        r.code = "mudstring-empty";
        r.message = "the MUD string holds no URL";
        return r;
    }
    static_cast<UrlResult&>(r) = Url::parse(urlText, kMaxMudStringBytes);
    return r;
}

} // namespace mudguard::mudparser
