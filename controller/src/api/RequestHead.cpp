#include "api/RequestHead.h"

#include <vector>

#include <fmt/format.h>

namespace mudguard::controller::http {

namespace {

Refusal refuse(int status, std::string code, std::string message)
{
    return Refusal { status, std::move(code), std::move(message) };
}

HeadCheck refused(int status, std::string code, std::string message)
{
    HeadCheck c;
    c.refusal = refuse(status, std::move(code), std::move(message));
    return c;
}

bool isTchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool isHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool equalsNoCase(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = static_cast<char>(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

std::optional<Refusal> checkTarget(std::string_view target, const HeadLimits& limits)
{
    if (target.size() > limits.maxTargetBytes)
        return refuse(414, "uri-too-long",
            fmt::format(
                "the request target has {} bytes, more than the limit of {}", target.size(), limits.maxTargetBytes));
    if (target.empty() || target[0] != '/')
        return refuse(400, "bad-request", "the request target must be a path starting with '/'");
    const std::size_t query = target.find('?');
    for (std::size_t i = 0; i < target.size(); ++i) {
        auto c = static_cast<unsigned char>(target[i]);
        if (c <= 0x20 || c >= 0x7f)
            return refuse(400, "bad-request", "the request target contains a character that is not printable ASCII");
        if (c != '%')
            continue;
        if (i + 2 >= target.size() || !isHex(target[i + 1]) || !isHex(target[i + 2]))
            return refuse(400, "bad-request", "the request target contains a malformed percent escape");
        // An encoded '/' would change how the path splits into segments after decoding.
        std::string_view esc = target.substr(i + 1, 2);
        if (i < query && (equalsNoCase(esc, "2f") || esc == "00"))
            return refuse(400, "bad-request", "the request path contains an encoded '/' or NUL");
    }
    return std::nullopt;
}

} // namespace

HeadCheck checkHead(std::string_view input, const HeadLimits& limits)
{
    const std::size_t end = input.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (input.size() > limits.maxHeadBytes)
            return refused(431, "headers-too-large",
                fmt::format("the request head is larger than the limit of {} bytes", limits.maxHeadBytes));
        // A request line far longer than any target allowed needs no more reading.
        if (input.find("\r\n") == std::string_view::npos && input.size() > limits.maxTargetBytes + 32)
            return refused(414, "uri-too-long",
                fmt::format("the request target is longer than the limit of {} bytes", limits.maxTargetBytes));
        return {};
    }
    const std::size_t length = end + 4;
    if (length > limits.maxHeadBytes)
        return refused(431, "headers-too-large",
            fmt::format("the request head has {} bytes, more than the limit of {}", length, limits.maxHeadBytes));

    // Split into lines; a lone CR or LF anywhere is refused (request smuggling relies on parsers
    // that disagree about line ends).
    std::vector<std::string_view> lines;
    const std::string_view text = input.substr(0, end);
    for (std::size_t pos = 0;;) {
        std::size_t crlf = text.find("\r\n", pos);
        std::string_view line = text.substr(pos, crlf == std::string_view::npos ? std::string_view::npos : crlf - pos);
        if (line.find_first_of("\r\n") != std::string_view::npos)
            return refused(400, "bad-request", "the request head contains a bare CR or LF");
        lines.push_back(line);
        if (crlf == std::string_view::npos)
            break;
        pos = crlf + 2;
    }

    // Request line.
    const std::string_view requestLine = lines[0];
    const std::size_t sp1 = requestLine.find(' ');
    const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : requestLine.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || requestLine.find(' ', sp2 + 1) != std::string_view::npos)
        return refused(400, "bad-request", "the request line is not 'METHOD target HTTP/1.1'");
    Head head;
    head.method = std::string(requestLine.substr(0, sp1));
    head.target = std::string(requestLine.substr(sp1 + 1, sp2 - sp1 - 1));
    const std::string_view version = requestLine.substr(sp2 + 1);
    if (head.method.empty() || head.method.size() > 16)
        return refused(400, "bad-request", "the request method is missing or too long");
    for (char c : head.method)
        if (c < 'A' || c > 'Z')
            return refused(400, "bad-request", "the request method must be upper-case letters");
    if (version != "HTTP/1.1" && version != "HTTP/1.0")
        return refused(400, "bad-request", "only HTTP/1.0 and HTTP/1.1 are served");
    if (auto r = checkTarget(head.target, limits))
        return HeadCheck { std::nullopt, std::move(r) };

    if (lines.size() - 1 > limits.maxHeaders)
        return refused(431, "headers-too-large",
            fmt::format(
                "the request has {} header fields, more than the limit of {}", lines.size() - 1, limits.maxHeaders));

    std::string out;
    out.reserve(length + 24);
    out.append(requestLine).append("\r\n");
    bool haveLength = false;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        const std::string_view line = lines[i];
        if (line.empty() || line[0] == ' ' || line[0] == '\t')
            return refused(400, "bad-request", "obsolete line folding in the request head is not accepted");
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
            return refused(400, "bad-request", "a header line has no field name");
        const std::string_view name = line.substr(0, colon);
        for (char c : name)
            if (!isTchar(static_cast<unsigned char>(c)))
                return refused(400, "bad-request", "a header field name contains an invalid character");
        std::string_view value = line.substr(colon + 1);
        for (char c : value) {
            auto u = static_cast<unsigned char>(c);
            if ((u < 0x20 && u != '\t') || u == 0x7f)
                return refused(400, "bad-request", "a header field value contains a control character");
        }
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
            value.remove_suffix(1);

        if (equalsNoCase(name, "transfer-encoding"))
            return refused(411, "length-required",
                "request bodies must be sent with a Content-Length; Transfer-Encoding is not accepted");
        if (equalsNoCase(name, "range") || equalsNoCase(name, "if-range"))
            continue;
        if (equalsNoCase(name, "content-length")) {
            if (haveLength)
                return refused(400, "bad-request", "the request has more than one Content-Length");
            if (value.empty() || value.size() > 18)
                return refused(400, "bad-request", "the Content-Length is not a decimal number");
            std::uint64_t n = 0;
            for (char c : value) {
                if (c < '0' || c > '9')
                    return refused(400, "bad-request", "the Content-Length is not a decimal number");
                n = n * 10 + static_cast<std::uint64_t>(c - '0');
            }
            if (n > limits.maxBodyBytes)
                return refused(413, "payload-too-large",
                    fmt::format("the request body has {} bytes, more than the limit of {}", n, limits.maxBodyBytes));
            haveLength = true;
            head.contentLength = n;
        }
        out.append(line).append("\r\n");
    }
    const std::string_view m = head.method;
    if (!haveLength && (m == "POST" || m == "PUT" || m == "PATCH" || m == "DELETE"))
        out.append("Content-Length: 0\r\n");
    out.append("\r\n");
    head.length = length;
    head.forLibrary = std::move(out);
    HeadCheck c;
    c.head = std::move(head);
    return c;
}

} // namespace mudguard::controller::http
