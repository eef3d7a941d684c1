import Foundation
import LogStore

/// Opens and closes the store for one key-value command.
///
/// Open and close do file I/O (recovery, segment preparation, the final sync), so they run
/// on a thread of their own (``DedicatedThread``), never on the cooperative pool.
enum StoreAccess {
    /// Opens the store at `path`, runs `body` with it and closes it, also when `body` throws.
    ///
    /// - Parameters:
    ///   - path: The store directory.
    ///   - create: Whether a missing directory becomes a new, empty store (`put`); otherwise a
    ///     missing directory is an error and nothing is created (`get`, `delete`, `list`).
    ///   - configuration: How to open the store (the defaults unless a command says otherwise).
    ///   - body: The command's work.
    /// - Returns: What `body` returned.
    /// - Throws: ``CLIFailure``: `body`'s, else the open's or the close's.
    static func withStore<T: Sendable>(
        at path: String, create: Bool, configuration: StoreConfiguration = StoreConfiguration(),
        _ body: (Store) async throws(CLIFailure) -> T
    ) async throws(CLIFailure) -> T {
        if !create {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CLIFailure("no store at \(path): the directory does not exist")
            }
            guard isDirectory.boolValue else { throw CLIFailure("no store at \(path): not a directory") }
        }
        let store = try await DedicatedThread.run(name: "logstore-open") { () throws(CLIFailure) -> Store in
            do throws(StoreError) {
                return try Store.open(at: path, configuration: configuration)
            } catch {
                throw CLIFailure(error)
            }
        }
        let outcome: Result<T, CLIFailure>
        do {
            outcome = .success(try await body(store))
        } catch {
            outcome = .failure(error)
        }
        let closed = await DedicatedThread.run(name: "logstore-close") { () -> Result<Void, StoreError> in
            Result { () throws(StoreError) in try store.close() }
        }
        if case .failure(let closeError) = closed {
            if case .failure = outcome {
                // The command's own error is the one to exit with; still say that close failed.
                Console.error("error: closing the store also failed: \(closeError)\n")
            } else {
                throw CLIFailure(closeError)
            }
        }
        return try outcome.get()
    }
}
