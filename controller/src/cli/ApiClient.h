#pragma once
// The HTTP client behind `mudguard devices`, `device`, `policies` and `events`, and what those
// commands share: the --api/--token-file/--ca-file/--json options, the token (from a file or
// MUDGUARD_TOKEN, never from the command line, where other users could read it in the process
// list), clear errors, and output that is safe to print on a terminal.

#include <cstdint>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <rapidjson/document.h>

namespace mudguard::controller::cli {

inline constexpr const char* kDefaultApiUrl = "http://127.0.0.1:8181";
inline constexpr const char* kTokenEnvironment = "MUDGUARD_TOKEN";

struct ApiClientOptions {
    std::string api = kDefaultApiUrl;
    std::string tokenFile;
    std::string caFile;
    bool json = false;
};

/// Adds --api, --token-file, --ca-file and --json to a subcommand.
void addApiClientOptions(CLI::App& cmd, ApiClientOptions& o);

/// A failed request, with the exit code the command should return (kExitRefused when the API
/// answered with an error, kExitUsage when it could not be asked).
class ClientError : public std::runtime_error {
public:
    ClientError(const std::string& message, int exitCode)
        : std::runtime_error(message)
        , m_exitCode(exitCode)
    {
    }
    int exitCode() const noexcept { return m_exitCode; }

private:
    int m_exitCode;
};

class ApiClient {
public:
    /// Checks the URL and reads the token. Throws ClientError.
    explicit ApiClient(const ApiClientOptions& o);

    /// GETs `pathAndQuery` (below the URL's own path) and returns the JSON body of a 200 answer.
    /// `body` receives the text as sent (for --json). Throws ClientError.
    rapidjson::Document get(const std::string& pathAndQuery, std::string* body = nullptr);

private:
    std::string m_scheme, m_host, m_prefix;
    int m_port = 0;
    std::string m_token;
    std::string m_caFile;
    std::string m_url;
};

/// Runs a command body, turning ClientError into its message on stderr and its exit code.
int runClientCommand(const std::function<void()>& body);

// --- output ---------------------------------------------------------------------------------------

/// The text with control characters, escape sequences and invalid UTF-8 replaced by '?', so that
/// data from devices and MUD files cannot drive the terminal.
std::string printable(std::string_view s);

/// Columns padded to their widest cell; the last column is not padded.
class Table {
public:
    explicit Table(std::vector<std::string> headers);
    void add(std::vector<std::string> cells);
    void print(std::ostream& out) const;
    std::size_t rows() const { return m_rows.size(); }

private:
    std::vector<std::vector<std::string>> m_rows;
};

/// Accessors that tolerate absent members and nulls (printed as "-").
std::string text(const rapidjson::Value& object, const char* member);
std::uint64_t number(const rapidjson::Value& object, const char* member);
/// "2023-11-14 22:13:20" from the API's RFC 3339 time, "-" when absent.
std::string when(const rapidjson::Value& object, const char* member);
/// The strings of an array member joined with `sep`.
std::string joined(const rapidjson::Value& object, const char* member, const char* sep = ",");

} // namespace mudguard::controller::cli
