#include "cli/ApiClient.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>

#include <fmt/format.h>
#include <httplib.h>
#include <sys/stat.h>

#include "cli/Commands.h"
#include "json/BoundedJson.h"

namespace mudguard::controller::cli {

namespace {

constexpr std::size_t kMaxResponseBytes = 256u << 20; // 10,000 devices are a few MB
constexpr std::size_t kMaxTokenFileBytes = 4096;

std::string trim(std::string s)
{
    auto space = [](unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && space(static_cast<unsigned char>(s.back())))
        s.pop_back();
    std::size_t i = 0;
    while (i < s.size() && space(static_cast<unsigned char>(s[i])))
        ++i;
    return s.substr(i);
}

std::string readToken(const ApiClientOptions& o)
{
    if (!o.tokenFile.empty()) {
        struct stat st { };
        if (::stat(o.tokenFile.c_str(), &st) != 0)
            throw ClientError(
                fmt::format("cannot read the token file {}: {}", o.tokenFile, std::strerror(errno)), kExitUsage);
        if (!S_ISREG(st.st_mode) || st.st_size > static_cast<off_t>(kMaxTokenFileBytes))
            throw ClientError(fmt::format("{} is not a token file (a small regular file)", o.tokenFile), kExitUsage);
        if (st.st_mode & (S_IRWXG | S_IRWXO))
            std::cerr << fmt::format("mudguard: warning: the token file {} is accessible to other users (mode {:04o}); "
                                     "chmod 600 it\n",
                o.tokenFile, st.st_mode & 07777);
        std::ifstream in(o.tokenFile, std::ios::binary);
        std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in && !in.eof())
            throw ClientError("cannot read the token file " + o.tokenFile, kExitUsage);
        token = trim(token);
        if (token.empty())
            throw ClientError("the token file " + o.tokenFile + " is empty", kExitUsage);
        return token;
    }
    if (const char* env = std::getenv(kTokenEnvironment); env && *env)
        return trim(env);
    throw ClientError(fmt::format("no API token: give --token-file FILE or set {} (make one with `mudguard token`)",
                          kTokenEnvironment),
        kExitUsage);
}

std::string httpErrorText(httplib::Error e)
{
    switch (e) {
    case httplib::Error::Connection:
        return "cannot connect";
    case httplib::Error::ConnectionTimeout:
        return "the connection timed out";
    case httplib::Error::Read:
        return "the connection broke while reading the answer";
    case httplib::Error::Write:
        return "the connection broke while sending the request";
    case httplib::Error::SSLConnection:
        return "the TLS handshake failed";
    case httplib::Error::SSLServerVerification:
        return "the server's certificate is not trusted (use --ca-file)";
    case httplib::Error::Canceled:
        return "the answer was larger than the client accepts";
    default:
        return httplib::to_string(e);
    }
}

} // namespace

void addApiClientOptions(CLI::App& cmd, ApiClientOptions& o)
{
    cmd.add_option("--api", o.api, fmt::format("The daemon's API (default {}).", kDefaultApiUrl));
    cmd.add_option("--token-file", o.tokenFile,
        fmt::format("A file holding the API token (auditor or admin). Default: the {} environment variable.",
            kTokenEnvironment));
    cmd.add_option("--ca-file", o.caFile, "PEM file of the CA that signed the API's certificate (https only).");
    cmd.add_flag("--json", o.json, "Print the API's JSON answer instead of a table.");
}

ApiClient::ApiClient(const ApiClientOptions& o)
    : m_caFile(o.caFile)
    , m_url(o.api)
{
    std::string_view url = o.api;
    auto sep = url.find("://");
    if (sep == std::string_view::npos)
        throw ClientError(
            fmt::format("--api must be an http:// or https:// URL, not \"{}\"", printable(url)), kExitUsage);
    m_scheme = std::string(url.substr(0, sep));
    if (m_scheme != "http" && m_scheme != "https")
        throw ClientError(
            fmt::format("--api must be an http:// or https:// URL, not \"{}\"", printable(url)), kExitUsage);
    std::string_view rest = url.substr(sep + 3);
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    m_prefix = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
    while (!m_prefix.empty() && m_prefix.back() == '/')
        m_prefix.pop_back();
    std::string_view host = authority, port;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos)
            throw ClientError("--api has an unterminated [IPv6] address", kExitUsage);
        host = authority.substr(1, close - 1);
        if (close + 1 < authority.size() && authority[close + 1] == ':')
            port = authority.substr(close + 2);
    } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty() || authority.find('@') != std::string_view::npos)
        throw ClientError(fmt::format("--api has no usable host: \"{}\"", printable(url)), kExitUsage);
    m_host = std::string(host);
    m_port = m_scheme == "https" ? 443 : 80;
    if (!port.empty()) {
        if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })
            || std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535)
            throw ClientError(fmt::format("--api has an invalid port: \"{}\"", printable(url)), kExitUsage);
        m_port = std::stoi(std::string(port));
    }
    m_token = readToken(o);
}

rapidjson::Document ApiClient::get(const std::string& pathAndQuery, std::string* bodyOut)
{
    std::unique_ptr<httplib::ClientImpl> cli;
    if (m_scheme == "https") {
        auto ssl = std::make_unique<httplib::SSLClient>(m_host, m_port);
        if (!m_caFile.empty())
            ssl->set_ca_cert_path(m_caFile.c_str());
        ssl->enable_server_certificate_verification(true);
        cli = std::move(ssl);
    } else {
        cli = std::make_unique<httplib::ClientImpl>(m_host, m_port);
    }
    cli->set_connection_timeout(std::chrono::seconds(5));
    cli->set_read_timeout(std::chrono::seconds(60));
    cli->set_write_timeout(std::chrono::seconds(10));
    cli->set_keep_alive(false);
    cli->set_follow_location(false);
    cli->set_bearer_token_auth(m_token.c_str());

    std::string body;
    bool tooLarge = false;
    auto result = cli->Get(
        m_prefix + pathAndQuery, httplib::Headers { { "Accept", "application/json" } },
        [](const httplib::Response&) { return true; },
        [&](const char* data, std::size_t n) {
            if (body.size() + n > kMaxResponseBytes) {
                tooLarge = true;
                return false;
            }
            body.append(data, n);
            return true;
        });
    if (!result) {
        if (result.error() == httplib::Error::Connection)
            throw ClientError(fmt::format("cannot reach the mudguard API at {}: is `mudguard run` running there? "
                                          "(set the address with --api)",
                                  printable(m_url)),
                kExitUsage);
        throw ClientError(fmt::format("the request to {} failed: {}", printable(m_url),
                              tooLarge ? "the answer was larger than 256 MiB" : httpErrorText(result.error())),
            kExitUsage);
    }

    rapidjson::Document doc;
    json::Limits limits;
    limits.maxBytes = kMaxResponseBytes;
    limits.maxDepth = 64;
    std::string problem = json::parse(body, doc, limits);
    const int status = result->status;
    if (status == 200) {
        if (!problem.empty())
            throw ClientError(fmt::format("the answer from {} is not JSON ({}); is --api the mudguard API?",
                                  printable(m_url), problem),
                kExitUsage);
        if (bodyOut)
            *bodyOut = std::move(body);
        return doc;
    }
    std::string message = problem.empty() && doc.IsObject() ? text(doc, "message") : std::string("-");
    std::string code = problem.empty() && doc.IsObject() ? text(doc, "error") : std::string("-");
    if (code == "-")
        throw ClientError(fmt::format("{} answered HTTP {} without a mudguard error; is --api the mudguard API?",
                              printable(m_url), status),
            kExitUsage);
    if (status == 401)
        throw ClientError(fmt::format("the API refused the token ({}): {}; check --token-file or {}", code, message,
                              kTokenEnvironment),
            kExitRefused);
    if (status == 403)
        throw ClientError(fmt::format("the token may not do this ({}): {}", code, message), kExitRefused);
    throw ClientError(fmt::format("{} ({} {})", message, status, code), kExitRefused);
}

int runClientCommand(const std::function<void()>& body)
{
    try {
        body();
        return kExitOk;
    } catch (const ClientError& e) {
        std::cout.flush();
        std::cerr << "mudguard: " << e.what() << "\n";
        return e.exitCode();
    }
}

// --- output ---------------------------------------------------------------------------------------

std::string printable(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == '\t') { // nft rule listings indent with tabs
            out += "    ";
            ++i;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            out += '?';
            ++i;
            continue;
        }
        if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        const std::size_t len = json::utf8SequenceLength(s, i);
        bool ok = len > 0;
        // C1 controls (U+0080..U+009F, encoded C2 80..C2 9F) act as escape sequences on some terminals.
        if (ok && len == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0)
            ok = false;
        if (!ok) {
            out += '?';
            ++i;
            continue;
        }
        out.append(s.substr(i, len));
        i += len;
    }
    return out;
}

namespace {

std::size_t displayWidth(std::string_view s)
{
    return static_cast<std::size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

} // namespace

Table::Table(std::vector<std::string> headers) { m_rows.push_back(std::move(headers)); }

void Table::add(std::vector<std::string> cells)
{
    for (auto& c : cells)
        c = printable(c);
    m_rows.push_back(std::move(cells));
}

void Table::print(std::ostream& out) const
{
    std::vector<std::size_t> widths;
    for (const auto& row : m_rows)
        for (std::size_t i = 0; i < row.size(); ++i) {
            if (widths.size() <= i)
                widths.push_back(0);
            widths[i] = std::max(widths[i], displayWidth(row[i]));
        }
    for (const auto& row : m_rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size())
                line += std::string(widths[i] - displayWidth(row[i]) + 2, ' ');
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        out << line << '\n';
    }
}

std::string text(const rapidjson::Value& object, const char* member)
{
    const auto* v = json::member(object, member);
    if (!v || v->IsNull())
        return "-";
    if (v->IsString())
        return v->GetStringLength() ? json::str(*v) : "-";
    if (v->IsBool())
        return v->GetBool() ? "yes" : "no";
    if (v->IsUint64())
        return std::to_string(v->GetUint64());
    if (v->IsInt64())
        return std::to_string(v->GetInt64());
    return "?";
}

std::uint64_t number(const rapidjson::Value& object, const char* member)
{
    const auto* v = json::member(object, member);
    return v && v->IsUint64() ? v->GetUint64() : 0;
}

std::string when(const rapidjson::Value& object, const char* member)
{
    std::string t = text(object, member);
    // 2023-11-14T22:13:20.000Z -> 2023-11-14 22:13:20
    if (t.size() >= 19 && t[10] == 'T')
        return t.substr(0, 10) + " " + t.substr(11, 8);
    return t;
}

std::string joined(const rapidjson::Value& object, const char* member, const char* sep)
{
    const auto* v = json::member(object, member);
    if (!v || !v->IsArray() || v->Empty())
        return "-";
    std::string out;
    for (const auto& e : v->GetArray()) {
        if (!e.IsString())
            continue;
        if (!out.empty())
            out += sep;
        out += json::str(e);
    }
    return out;
}

} // namespace mudguard::controller::cli
