import ArgumentParser
import Foundation
import LogStore

/// `logstore get`: prints one value.
struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Print the value of a key.",
        discussion: """
            Prints the value to standard output byte for byte (no newline added), or with \
            --hex as hex digits and a newline, or with --json as one JSON object: namespace, \
            key_utf8, key_base64, version, value_length, value_utf8 (null when the value is \
            not valid UTF-8) and value_base64 (plus key_hex and value_hex with --hex).

            The store must exist; get opens it read-only (replaying its log, writing nothing), \
            so it fails while another process holds it open.

            Examples:
              logstore get ./store users alice
              logstore get --json ./store assets logo.png | jq -r .value_base64 | base64 -d > logo.png

            Exit codes: 0 printed; 1 the key does not exist (a message on standard error) or \
            another failure (no store, store locked, I/O error, corruption); 2 bad input \
            (namespace or key the store refuses, malformed hex); 64 command-line usage error.
            """)

    @OptionGroup var store: StoreArguments

    @Argument(help: "The key (UTF-8 text, or hex with --hex).")
    var key: String

    @Flag(help: "Print one JSON object (value in base64 and, when valid, UTF-8; version) instead of the raw value.")
    var json = false

    func run() async throws {
        do {
            let (key, found) = try await get()
            let output = render(key: key, found)
            FileHandle.standardOutput.write(Data(output))
        } catch {
            throw error.report()
        }
    }

    private func get() async throws(CLIFailure) -> ([UInt8], VersionedValue) {
        let namespace = try store.validatedNamespace()
        let key = try store.key(self.key)
        let found = try await StoreAccess.withStore(at: store.storeDirectory, create: false, configuration: store.recovery.readConfiguration) {
            (s) throws(CLIFailure) -> VersionedValue? in
            do throws(StoreError) {
                return try s.get(key, in: namespace)
            } catch {
                throw CLIFailure(error)
            }
        }
        guard let found else {
            throw CLIFailure("key \(store.encoding.quoted(key)) not found in namespace \(namespace)")
        }
        return (key, found)
    }

    /// What to print: the raw value, hex digits and a newline, or a JSON line.
    private func render(key: [UInt8], _ found: VersionedValue) -> [UInt8] {
        guard json else {
            return store.hex ? Array((ByteEncoding.hex(found.value) + "\n").utf8) : found.value
        }
        var object = JSONObject()
        object["namespace"] = .string(store.namespace)
        object.setBytes("key", key, hex: store.hex)
        object["version"] = .unsigned(found.version.lsn)
        object["value_length"] = .integer(Int64(found.value.count))
        object.setBytes("value", found.value, hex: store.hex)
        return Array((object.serialized + "\n").utf8)
    }
}

extension JSONObject {
    /// Sets `<name>_utf8` (the text, or null when not valid UTF-8) and `<name>_base64`, and
    /// with `hex` also `<name>_hex`.
    mutating func setBytes(_ name: String, _ bytes: [UInt8], hex: Bool) {
        self[name + "_utf8"] = ByteEncoding.utf8Text(bytes).map { .string($0) } ?? .null
        self[name + "_base64"] = .string(ByteEncoding.base64(bytes))
        if hex { self[name + "_hex"] = .string(ByteEncoding.hex(bytes)) }
    }
}
