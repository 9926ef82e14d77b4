#pragma once
// Schema migrations: an ordered list of steps, each taking the database from version N-1 to N
// (PRAGMA user_version). Each step runs in its own transaction together with the version bump,
// so a crash or a failing step leaves the database at the previous version, untouched.

#include <span>

namespace mudguard::controller::sqlite {

class Connection;

struct Migration {
    int version; ///< the version after this step (1, 2, ...)
    const char* description; ///< for the log
    const char* sql;
};

/// The store's schema, oldest step first.
std::span<const Migration> storeMigrations();

/// Applies the steps above the database's version, in order. Returns the version found.
/// Throws StoreError when the database is newer than the last step (a newer mudguard made it).
int migrate(Connection& c, std::span<const Migration> steps);

} // namespace mudguard::controller::sqlite
