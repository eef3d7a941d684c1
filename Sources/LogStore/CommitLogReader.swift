import CLogStore

/// Reads records of a ``CommitLog`` in LSN order, from a snapshot of what was durable when
/// it was made. Every frame and record checksum is verified as it is read.
///
/// Not thread-safe: use one reader from one task at a time. Closing the log ends the reader
/// (``next()`` then throws ``LogError/Kind/closed``).
public final class CommitLogReader {
    private let log: CommitLog
    private var reader: OpaquePointer?  // guarded by the log's lock

    init(log: CommitLog, reader: OpaquePointer) {
        self.log = log
        self.reader = reader
    }

    deinit { log.unregister(self) }

    /// The next record, or `nil` at the end.
    ///
    /// - Throws: ``LogError/Kind/corrupt`` (with segment and offset) when a checksum does not
    ///   match; ``LogError/Kind/io`` when a read fails; ``LogError/Kind/closed``.
    public func next() throws(LogError) -> LoggedRecord? {
        try log.withOpenLog { () throws(LogError) -> LoggedRecord? in
            guard let reader else { throw LogError(kind: .closed, message: "the reader was closed with its log") }
            var record = ls_read_record()
            var error = ls_error()
            let status = ls_reader_next(reader, &record, &error)
            if status < 0 { throw LogError(error) }
            if status == 0 { return nil }
            let key = Array(UnsafeBufferPointer(start: record.key, count: Int(record.key_len)))
            let value = Array(UnsafeBufferPointer(start: record.value, count: Int(record.value_len)))
            return LoggedRecord(
                lsn: record.lsn,
                record: LogRecord(type: record.type, flags: record.flags, key: key, value: value))
        }
    }

    /// Hands the next record to `body` without copying it (its pointers are valid only inside
    /// `body`); returns `false` at the end. Recovery uses this to rebuild indexes.
    func nextRaw(_ body: (borrowing ls_read_record) throws(LogError) -> Void) throws(LogError) -> Bool {
        try log.withOpenLog { () throws(LogError) -> Bool in
            guard let reader else { throw LogError(kind: .closed, message: "the reader was closed with its log") }
            var record = ls_read_record()
            var error = ls_error()
            let status = ls_reader_next(reader, &record, &error)
            if status < 0 { throw LogError(error) }
            if status == 0 { return false }
            try body(record)
            return true
        }
    }

    /// Releases the C reader. Called with the log's lock held exclusively.
    func invalidate() {
        if let reader { ls_reader_close(reader) }
        reader = nil
    }
}
