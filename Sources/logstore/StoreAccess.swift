import Foundation
import LogStore

/// Opens and closes the store for one key-value command.
///
/// Open and close do file I/O (recovery, segment preparation, the final sync), so they run
/// on a thread of their own (``DedicatedThread``), never on the cooperative pool.
enum StoreAccess {
    /// Opens the store at `path`, runs `body` with it and closes it, also when `body` throws.
    ///
    /// When the open lost data (a point-in-time cut, salvage skip ranges, Raft groups cut), a
    /// short report of it goes to standard error first (``RecoveryText/short(_:)``); standard
    /// output stays the command's.
    ///
    /// - Parameters:
    ///   - path: The store directory.
    ///   - create: Whether a missing directory becomes a new, empty store (`put`); otherwise a
    ///     missing directory is an error and nothing is created (`get`, `delete`, `list`).
    ///   - configuration: How to open the store (the defaults unless a command says otherwise;
    ///     `--recovery` sets its recovery mode).
    ///   - body: The command's work.
    /// - Returns: What `body` returned.
    /// - Throws: ``CLIFailure``: `body`'s, else the open's or the close's.
    static func withStore<T: Sendable>(
        at path: String, create: Bool, configuration: StoreConfiguration = StoreConfiguration(),
        _ body: (Store) async throws(CLIFailure) -> T
    ) async throws(CLIFailure) -> T {
        try await withOpenedStore(at: path, create: create, configuration: configuration) {
            (store, outcome) throws(CLIFailure) -> T in
            Console.error(RecoveryText.short(outcome))
            return try await body(store)
        }
    }

    /// Opens the store at `path`, runs `body` with it and what its recovery did, and closes it,
    /// also when `body` throws. Prints nothing of its own but a failed close after `body` failed.
    ///
    /// In point-in-time and salvage mode `segments/` is listed before and after the open, so
    /// the outcome can name the files the open truncated or renamed (``SegmentListing``).
    ///
    /// - Parameters: As ``withStore(at:create:configuration:_:)``.
    /// - Returns: What `body` returned.
    /// - Throws: ``CLIFailure``: `body`'s, else the open's or the close's.
    static func withOpenedStore<T: Sendable>(
        at path: String, create: Bool, configuration: StoreConfiguration = StoreConfiguration(),
        _ body: (Store, RecoveryOutcome) async throws(CLIFailure) -> T
    ) async throws(CLIFailure) -> T {
        if !create { try requireDirectory(path) }
        let (store, outcome) = try await DedicatedThread.run(name: "logstore-open") {
            () throws(CLIFailure) -> (Store, RecoveryOutcome) in
            try open(at: path, configuration: configuration)
        }
        let result: Result<T, CLIFailure>
        do {
            result = .success(try await body(store, outcome))
        } catch {
            result = .failure(error)
        }
        let closed = await DedicatedThread.run(name: "logstore-close") { () -> Result<Void, StoreError> in
            Result { () throws(StoreError) in try store.close() }
        }
        if case .failure(let closeError) = closed {
            if case .failure = result {
                // The command's own error is the one to exit with; still say that close failed.
                Console.error("error: closing the store also failed: \(closeError)\n")
            } else {
                throw CLIFailure(closeError)
            }
        }
        return try result.get()
    }

    /// Fails unless `path` is an existing directory (nothing is created).
    static func requireDirectory(_ path: String) throws(CLIFailure) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CLIFailure("no store at \(path): the directory does not exist")
        }
        guard isDirectory.boolValue else { throw CLIFailure("no store at \(path): not a directory") }
    }

    /// Opens the store (blocking file I/O: call it off the cooperative pool). A strict open
    /// refused for damage says how to open the store anyway.
    private static func open(at path: String, configuration: StoreConfiguration) throws(CLIFailure) -> (Store, RecoveryOutcome) {
        let lossy = configuration.recoveryMode != .strict
        let before = lossy ? SegmentListing(store: path) : nil
        let store: Store
        do throws(StoreError) {
            store = try Store.open(at: path, configuration: configuration)
        } catch {
            var failure = CLIFailure(error)
            if error.kind == .corrupt && !lossy {
                failure = CLIFailure(failure.message + "\n" + Self.strictHint)
            }
            throw failure
        }
        let after = lossy ? SegmentListing(store: path) : nil
        return (store, RecoveryOutcome(store: store, before: before, after: after))
    }

    /// The line after a strict open's corruption error.
    static let strictHint =
        "hint: strict recovery refuses damaged data; --recovery point-in-time or salvage opens the store by dropping it "
        + "(see 'logstore recover --help'; 'logstore verify' lists the damage without changing anything)"
}
