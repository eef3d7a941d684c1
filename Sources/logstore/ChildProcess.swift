import Foundation

/// Runs this same `logstore` binary again as a child process (for work that must end without
/// the cleanup a normal exit or close would do, e.g. `bench open-fill`).
enum ChildProcess {
    /// The path of the running executable (`/proc/self/exe` resolved; the first command-line
    /// argument where that is unavailable).
    static var executablePath: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 { return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return CommandLine.arguments[0]
    }

    /// Runs `logstore <arguments>` and waits for it on a dedicated thread. Its standard output
    /// goes to this process's standard error (so a JSON report on stdout stays clean); its
    /// standard error is shared.
    ///
    /// - Throws: ``BenchError`` if it cannot be started or does not exit with status 0.
    static func runSelf(_ arguments: [String]) async throws(BenchError) {
        let path = executablePath
        try await DedicatedThread.run(name: "logstore-child") { () throws(BenchError) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
            process.standardOutput = FileHandle.standardError
            do {
                try process.run()
            } catch {
                throw BenchError("run", path: path, error: error)
            }
            process.waitUntilExit()
            guard process.terminationReason == .exit, process.terminationStatus == 0 else {
                let how = process.terminationReason == .exit ? "exited with status" : "was killed by signal"
                throw BenchError(
                    "child process", path: path,
                    detail: "`logstore \(arguments.joined(separator: " "))` \(how) \(process.terminationStatus)")
            }
        }
    }
}
