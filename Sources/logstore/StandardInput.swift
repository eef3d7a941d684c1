import Foundation

/// Reads standard input to its end, as bytes.
enum StandardInput {
    /// Bytes per `read`.
    static let chunkSize = 64 << 10

    /// Everything on standard input, retrying after EINTR.
    ///
    /// - Throws: ``CLIFailure`` naming the `errno` if a `read` fails.
    static func readAll() throws(CLIFailure) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress!, $0.count) }
            if n == 0 { return bytes }
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIFailure("reading standard input failed (errno \(errno): \(String(cString: strerror(errno))))")
            }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }
}
