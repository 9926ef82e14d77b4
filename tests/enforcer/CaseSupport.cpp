#include "CaseSupport.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include "TestSupport.h"

namespace mudguard::test {

using namespace mudguard::enforcer;

std::filesystem::path enforcerDataDir() { return sourceDir() / "tests" / "data" / "enforcer"; }

std::vector<std::string> goldenCases()
{
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(enforcerDataDir())) {
        std::string name = e.path().filename().string();
        const std::string suffix = ".in.json";
        if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            out.push_back(name.substr(0, name.size() - suffix.size()));
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string caseTestName(const ::testing::TestParamInfo<std::string>& info)
{
    std::string n = info.param;
    for (auto& ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch)))
            ch = '_';
    return n;
}

CompiledCase compileCaseText(const std::string& json)
{
    CompiledCase c;
    c.input = json::parseCase(json);
    std::vector<const Policy*> policies;
    for (const auto& p : c.input.policies)
        policies.push_back(&p);
    c.layout = compileLayout(policies, c.input.config, c.input.features);
    for (const auto& [set, texts] : c.input.elements) {
        const ir::SetDef* def = c.layout.inet.findSet(set);
        if (!def)
            def = c.layout.bridge.findSet(set);
        if (!def)
            throw std::runtime_error("elements for unknown set " + set);
        for (const auto& t : texts)
            c.elements[set].push_back(json::parseElement(def->key, t));
    }
    return c;
}

CompiledCase compileCase(const std::string& name)
{
    return compileCaseText(readFile(enforcerDataDir() / (name + ".in.json")));
}

std::string CompiledCase::text() const
{
    ElementMap bridgeElements;
    for (const auto& [set, els] : elements)
        if (layout.bridge.findSet(set))
            bridgeElements[set] = els;
    ElementMap inetElements;
    for (const auto& [set, els] : elements)
        if (layout.inet.findSet(set))
            inetElements[set] = els;
    return render(layout.inet, inetElements) + render(layout.bridge, bridgeElements);
}

namespace {

std::vector<std::string> lines(const std::string& text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string l;
    while (std::getline(in, l))
        out.push_back(l);
    return out;
}

std::string trim(const std::string& s)
{
    auto b = s.find_first_not_of(" \t");
    auto e = s.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

} // namespace

std::string normalizeListing(const std::string& text, bool dropDynamic)
{
    // Parse into tables -> objects (name -> lines), joining element lists.
    std::string out;
    auto ls = lines(text);
    std::size_t i = 0;
    while (i < ls.size()) {
        std::string l = ls[i++];
        if (l.rfind("table ", 0) != 0)
            continue;
        out += l + "\n";
        std::map<std::string, std::vector<std::string>> objects;
        while (i < ls.size() && ls[i] != "}") {
            std::string t = trim(ls[i++]);
            if (t.empty())
                continue;
            // An object header: "set x {" or "chain y {".
            std::string key = t;
            std::vector<std::string> body;
            bool dynamic = false;
            while (i < ls.size() && trim(ls[i]) != "}") {
                std::string b = trim(ls[i++]);
                if (b == "flags dynamic")
                    dynamic = true;
                if (b.rfind("elements = {", 0) == 0) {
                    std::string all = b;
                    while (all.back() != '}' && i < ls.size())
                        all += " " + trim(ls[i++]);
                    std::string inner = trim(all.substr(12, all.size() - 13));
                    std::vector<std::string> els;
                    std::string cur;
                    std::istringstream in(inner);
                    while (std::getline(in, cur, ','))
                        els.push_back(trim(cur));
                    std::sort(els.begin(), els.end());
                    if (dynamic && dropDynamic)
                        continue;
                    body.push_back("elements:");
                    for (const auto& e : els)
                        body.push_back("  " + e);
                    continue;
                }
                body.push_back(b);
            }
            ++i; // the object's closing brace
            objects[key] = body;
        }
        ++i; // the table's closing brace
        for (const auto& [k, body] : objects) {
            out += "  " + k + "\n";
            for (const auto& b : body)
                out += "    " + b + "\n";
        }
    }
    return out;
}

std::string lineDiff(const std::string& expected, const std::string& actual)
{
    auto a = lines(expected), b = lines(actual);
    std::string out;
    std::size_t n = std::max(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        std::string x = i < a.size() ? a[i] : "<none>", y = i < b.size() ? b[i] : "<none>";
        if (x != y)
            out += "line " + std::to_string(i + 1) + ":\n  expected: " + x + "\n  actual:   " + y + "\n";
        if (out.size() > 4000)
            break;
    }
    return out;
}

namespace {
std::atomic<unsigned> g_netnsCounter { 0 };
}

NftNetns::NftNetns(const std::string& tag)
    : m_name("mudguard-test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(g_netnsCounter++))
{
    auto r = runCommand({ "ip", "netns", "add", m_name });
    if (r.exitCode != 0)
        throw std::runtime_error("ip netns add " + m_name + ": " + r.err);
    runCommand({ "ip", "-n", m_name, "link", "set", "lo", "up" });
}

NftNetns::~NftNetns()
{
    // Kill whatever still runs inside, then remove the namespace.
    auto pids = runCommand({ "ip", "netns", "pids", m_name });
    std::istringstream in(pids.out);
    std::string pid;
    while (in >> pid)
        runCommand({ "kill", "-9", pid });
    runCommand({ "ip", "netns", "del", m_name });
}

NftNetns::Result NftNetns::run(const std::vector<std::string>& argv, const std::string& input) const
{
    std::vector<std::string> full { "ip", "netns", "exec", m_name };
    full.insert(full.end(), argv.begin(), argv.end());
    auto r = runCommand(full, input);
    return { r.exitCode, r.out, r.err };
}

std::string NftNetns::must(const std::vector<std::string>& argv, const std::string& input) const
{
    auto r = run(argv, input);
    if (r.exitCode != 0) {
        std::string cmd;
        for (const auto& a : argv)
            cmd += a + " ";
        ADD_FAILURE() << "in " << m_name << ": " << cmd << "exited " << r.exitCode << "\n" << r.err;
    }
    return r.out;
}

std::string NftNetns::listTable(const std::string& family) const
{
    auto r = run({ "nft", "-s", "list", "table", family, "mudguard" });
    return r.exitCode == 0 ? r.out : std::string();
}

EnterNetns::EnterNetns(const NftNetns& ns)
{
    m_saved = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int fd = ::open(("/run/netns/" + ns.name()).c_str(), O_RDONLY | O_CLOEXEC);
    if (m_saved < 0 || fd < 0 || ::setns(fd, CLONE_NEWNET) != 0)
        throw std::runtime_error("cannot enter network namespace " + ns.name());
    ::close(fd);
}

EnterNetns::~EnterNetns()
{
    if (m_saved >= 0) {
        ::setns(m_saved, CLONE_NEWNET);
        ::close(m_saved);
    }
}

} // namespace mudguard::test
