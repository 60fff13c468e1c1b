#ifndef TODOLIST_SQLITE_SETTINGS_H
#define TODOLIST_SQLITE_SETTINGS_H

/// Turns off SQLite's memory statistics for the whole process and returns SQLite's result
/// code (`SQLITE_OK`, or `SQLITE_MISUSE` once SQLite has been initialized, when it can no
/// longer be changed).
///
/// With the statistics on (the library's default), every allocation and free SQLite makes
/// takes one process-wide mutex to count it, so threads reading through different
/// connections at once queue on that mutex, several times per row. The server reads on
/// every event loop at once and uses no statistic (`sqlite3_memory_used`,
/// `sqlite3_soft_heap_limit64`).
///
/// A C function because `sqlite3_config` is variadic, which Swift cannot call.
int todolist_sqlite_disable_memory_statistics(void);

#endif
