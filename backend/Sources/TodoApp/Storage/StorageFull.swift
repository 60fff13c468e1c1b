import struct GRDB.DatabaseError
import struct GRDB.ResultCode
import PostgresNIO

extension DatabaseUnavailable {
    /// Whether the database could not grow its files because the disk (or the quota) is
    /// full: SQLite's `SQLITE_FULL`, PostgreSQL's `disk_full` (53100). The statement failed
    /// whole and reads still work, but retrying shortly will not help until an operator
    /// frees space, so this is answered `507 insufficient_storage` rather than 503.
    var isStorageFull: Bool {
        switch underlying {
        case let error as DatabaseError:
            return error.resultCode == .SQLITE_FULL
        case let error as PSQLError:
            return error.code == .server && error.serverInfo?[.sqlState] == "53100"
        default:
            return false
        }
    }
}
