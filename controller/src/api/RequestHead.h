#pragma once
// The first look at an HTTP/1.x request head, before cpp-httplib parses it. cpp-httplib 0.11.4
// reads chunked bodies without a size limit, grows header lines without bound, waits for EOF on a
// POST without Content-Length and applies Range to every response. checkHead() therefore accepts
// only heads the API needs, within limits, and rewrites them into a form the library handles
// safely:
//   * request line: METHOD SP origin-form SP HTTP/1.0|HTTP/1.1, the target in printable ASCII,
//     percent escapes well-formed, no encoded '/' or NUL in the path;
//   * lines end in CRLF; no bare CR or LF, no obsolete line folding, header names are tokens,
//     values are visible characters, space and tab;
//   * Transfer-Encoding is refused (411): bodies must have a Content-Length;
//   * Content-Length: one, decimal, at most the body limit (413 otherwise);
//   * Range and If-Range are dropped (a server may ignore them, RFC 9110 section 14.2);
//   * POST, PUT, PATCH and DELETE without a Content-Length get "Content-Length: 0" (RFC 9112
//     section 6.3: such a request has no body).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mudguard::controller::http {

struct HeadLimits {
    std::size_t maxHeadBytes = 16 * 1024;
    std::size_t maxTargetBytes = 2048;
    std::size_t maxBodyBytes = 64 * 1024;
    unsigned maxHeaders = 64;
};

/// Why a head is refused: the HTTP status and the API's error code (docs/api.md).
struct Refusal {
    int status = 400;
    std::string code; ///< "bad-request", "payload-too-large", ...
    std::string message;
};

struct Head {
    std::size_t length = 0; ///< bytes of the head in the input, the final CRLF CRLF included
    std::string method;
    std::string target;
    std::uint64_t contentLength = 0;
    std::string forLibrary; ///< the head to hand to cpp-httplib, ending in CRLF CRLF
};

/// Exactly one member is set, or neither while the head is incomplete (read more).
struct HeadCheck {
    std::optional<Head> head;
    std::optional<Refusal> refusal;
};

/// Looks at the buffered start of a request. Pure: no I/O, no clock.
HeadCheck checkHead(std::string_view input, const HeadLimits& limits);

} // namespace mudguard::controller::http
