import struct GRDB.DatabaseError
import struct GRDB.ResultCode

extension DatabaseUnavailable {
    /// Whether the database could not grow its files because the disk (or the quota) is
    /// full. The statement failed whole and reads still work, but retrying shortly will not
    /// help until an operator frees space, so this is answered `507 insufficient_storage`
    /// rather than 503.
    var isStorageFull: Bool {
        guard let error = underlying as? DatabaseError else { return false }
        return error.resultCode == .SQLITE_FULL
    }
}
