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

    /// Reads up to `buffer.count` (at least 1) next records into `buffer` and returns how many,
    /// 0 at the end. Their key and value pointers are valid until the next call on this reader
    /// (they point into the segment's mapping, not copies). A batch may end early where going
    /// on would move records it holds (the end of a segment, for example). Recovery uses this to
    /// rebuild indexes: one call, and one lock of the log, per batch rather than per record.
    func nextBatch(into buffer: UnsafeMutableBufferPointer<ls_read_record>) throws(LogError) -> Int {
        try log.withOpenLog { () throws(LogError) -> Int in
            guard let reader else { throw LogError(kind: .closed, message: "the reader was closed with its log") }
            var error = ls_error()
            let status = ls_reader_next_batch(reader, buffer.baseAddress, buffer.count, &error)
            if status < 0 { throw LogError(error) }
            return Int(status)
        }
    }

    /// Releases the C reader. Called with the log's lock held exclusively.
    func invalidate() {
        if let reader { ls_reader_close(reader) }
        reader = nil
    }
}
