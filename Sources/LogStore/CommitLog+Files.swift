import CLogStore

/// Whole files in the store's `snapshots/` directory (Raft snapshots, index checkpoints),
/// written atomically and verified when read by the C core (`ls_blob.h`, docs/FORMAT.md §12).
///
/// Names are 1...200 bytes of `A-Z a-z 0-9 . _ -`, not starting with `.` and not ending in
/// `.tmp`; any other name is ``LogError/Kind/invalidArgument``. Every call may run
/// concurrently with appends and with each other; after ``close()`` they throw
/// ``LogError/Kind/closed``.
extension CommitLog {
    /// Writes `bytes` as `snapshots/<name>` atomically (tmp → write → fsync → rename → fsync dir).
    ///
    /// When this returns the file is durable. A crash at any step leaves the old file (or none)
    /// or the complete new one; the next open removes the unfinished `<name>.tmp`.
    ///
    /// - Throws: ``LogError/Kind/invalidArgument`` for a bad name; ``LogError/Kind/noSpace``
    ///   (nothing replaced) or ``LogError/Kind/io`` with the errno when a step failed (after a
    ///   failed rename or directory fsync the file may hold the old or the new contents: the
    ///   message says so); ``LogError/Kind/failed`` once the log has failed (fail-stop).
    func writeFile(named name: String, bytes: [UInt8]) throws(LogError) {
        try Self.checkFileName(name)
        try withHandle { (log) throws(LogError) in
            var error = ls_error()
            let status = name.withCString { cName in
                bytes.withUnsafeBytes { ls_blob_write(log, cName, $0.baseAddress, $0.count, &error) }
            }
            guard status == 0 else { throw LogError(error) }
        }
    }

    /// The verified contents of `snapshots/<name>`, or nil if there is no such file.
    ///
    /// - Throws: ``LogError/Kind/corrupt`` naming the file and the offset of the damage when
    ///   its size, header or checksums do not match; ``LogError/Kind/invalidArgument`` for a
    ///   bad name; ``LogError/Kind/io`` when reading failed.
    func readFile(named name: String) throws(LogError) -> [UInt8]? {
        try Self.checkFileName(name)
        return try withHandle { (log) throws(LogError) -> [UInt8]? in
            var error = ls_error()
            var data: UnsafeMutablePointer<UInt8>?
            var count = 0
            let status = name.withCString { ls_blob_read(log, $0, &data, &count, &error) }
            if status == LS_E_NOT_FOUND.rawValue { return nil }
            guard status == 0, let data else { throw LogError(error) }
            defer { ls_blob_free(data) }
            return Array(UnsafeBufferPointer(start: data, count: count))
        }
    }

    /// Removes `snapshots/<name>` (no error if it is missing) and fsyncs the directory.
    ///
    /// - Throws: ``LogError/Kind/invalidArgument`` for a bad name; ``LogError/Kind/io`` when the
    ///   unlink or the fsync failed; ``LogError/Kind/failed`` once the log has failed.
    func removeFile(named name: String) throws(LogError) {
        try Self.checkFileName(name)
        try withHandle { (log) throws(LogError) in
            var error = ls_error()
            let status = name.withCString { ls_blob_remove(log, $0, &error) }
            guard status == 0 else { throw LogError(error) }
        }
    }

    /// Names of the complete files in `snapshots/`, sorted (never a `.tmp` being written).
    ///
    /// - Throws: ``LogError/Kind/io`` when the directory cannot be read.
    func fileNames() throws(LogError) -> [String] {
        try withHandle { (log) throws(LogError) -> [String] in
            var names: [String] = []
            var error = ls_error()
            let status = withUnsafeMutablePointer(to: &names) { ls_blob_list(log, collectFileName, $0, &error) }
            guard status == 0 else { throw LogError(error) }
            return names.sorted()
        }
    }

    /// Refuses what C cannot see whole: a NUL byte would cut the name short at the C boundary.
    /// The C core checks everything else (length, characters, `.tmp`).
    private static func checkFileName(_ name: String) throws(LogError) {
        if name.utf8.contains(0) {
            throw LogError(
                kind: .invalidArgument, message: "invalid file name for snapshots/: the name holds a NUL byte")
        }
    }
}

/// Appends one name reported by `ls_blob_list` to the `[String]` behind `context`.
private func collectFileName(_ context: UnsafeMutableRawPointer?, _ name: UnsafePointer<CChar>?) {
    context!.assumingMemoryBound(to: [String].self).pointee.append(String(cString: name!))
}
