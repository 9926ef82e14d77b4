#include "store/Sqlite.h"

#include <fmt/format.h>

#include "mudguard/controller/Store.h"

namespace mudguard::controller::sqlite {

void fail(sqlite3* db, int rc, std::string_view what)
{
    std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    int code = db ? sqlite3_extended_errcode(db) : rc;
    throw StoreError(fmt::format("state database: {}: {} (SQLite code {})", what, detail, code), code);
}

Connection::Connection(const std::filesystem::path& path, int flags, std::chrono::milliseconds busyTimeout)
{
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    m_db.reset(raw); // sqlite3_open_v2 hands out a handle even on failure; it must be closed
    if (rc != SQLITE_OK)
        fail(raw, rc, fmt::format("cannot open {}", path.string()));
    sqlite3_extended_result_codes(raw, 1);
    if (int r = sqlite3_busy_timeout(raw, static_cast<int>(busyTimeout.count())); r != SQLITE_OK)
        fail(raw, r, "busy_timeout");
}

void Connection::exec(std::string_view sql)
{
    std::string s(sql);
    char* err = nullptr;
    int rc = sqlite3_exec(m_db.get(), s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        int code = sqlite3_extended_errcode(m_db.get());
        throw StoreError(fmt::format("state database: {} (SQLite code {})", msg, code), code);
    }
}

sqlite3_stmt* Connection::statement(std::string_view sql)
{
    std::string key(sql);
    if (auto it = m_cache.find(key); it != m_cache.end())
        return it->second.get();
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(
        m_db.get(), key.data(), static_cast<int>(key.size()), SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    StmtPtr stmt(raw);
    if (rc != SQLITE_OK)
        fail(m_db.get(), rc, fmt::format("prepare \"{}\"", key));
    auto* p = stmt.get();
    m_cache.emplace(std::move(key), std::move(stmt));
    return p;
}

std::string Connection::queryText(std::string_view sql)
{
    Use q(*this, sql);
    return q.step() ? q.text(0) : std::string();
}

std::int64_t Connection::queryInt(std::string_view sql)
{
    Use q(*this, sql);
    return q.step() ? q.i64(0) : 0;
}

Savepoint::Savepoint(Connection& c)
    : m_c(c)
{
    Use(m_c, "SAVEPOINT store_write").run();
}

Savepoint::~Savepoint()
{
    if (m_done)
        return;
    try {
        Use(m_c, "ROLLBACK TO store_write").run();
        Use(m_c, "RELEASE store_write").run();
    } catch (...) {
        // The connection is in trouble already; the exception that brought us here says why.
    }
}

void Savepoint::commit()
{
    Use(m_c, "RELEASE store_write").run();
    m_done = true;
}

} // namespace mudguard::controller::sqlite
