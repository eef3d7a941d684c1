/// How a key-value ``Store`` is laid out, commits and bounds its input.
public struct StoreConfiguration: Sendable, Equatable {
    /// The log underneath: segment size, commit caps, I/O backend, compression, recovery mode.
    public var log = LogConfiguration()
    /// The longest key, in bytes (1...65,000; default 1,024). Longer keys are refused with
    /// ``StoreError/Kind/keyTooLarge``.
    public var maxKeySize = 1024
    /// The longest value, in bytes (default 16 MiB; with the key it must fit in one frame
    /// of a segment). Longer values are refused with ``StoreError/Kind/valueTooLarge``.
    public var maxValueSize = 16 << 20

    /// The defaults.
    public init() {}

    /// Bytes per segment file (see ``LogConfiguration/segmentSize``).
    public var segmentSize: UInt64 {
        get { log.segmentSize }
        set { log.segmentSize = newValue }
    }

    /// Which kernel interface makes writes durable (see ``LogConfiguration/backend``).
    public var backend: LogConfiguration.Backend {
        get { log.backend }
        set { log.backend = newValue }
    }

    /// What open does with damage that is not a torn tail (see ``LogConfiguration/recoveryMode``).
    public var recoveryMode: LogConfiguration.RecoveryMode {
        get { log.recoveryMode }
        set { log.recoveryMode = newValue }
    }

    /// Checks the bounds against each other and against what one frame can hold.
    func validate() throws(StoreError) {
        guard (1...65_000).contains(maxKeySize) else {
            throw StoreError(kind: .invalidArgument, message: "maxKeySize must be in 1...65000, not \(maxKeySize)")
        }
        guard maxValueSize >= 0 else {
            throw StoreError(kind: .invalidArgument, message: "maxValueSize cannot be negative")
        }
        // A frame body holds at most the segment minus its header, the seal frame and the frame header.
        let frameCapacity = Int(clamping: log.segmentSize) - 64 - 56 - 40
        let largestRecord = 12 + 1 + Namespace.maxLength + maxKeySize + maxValueSize
        guard largestRecord <= frameCapacity else {
            throw StoreError(
                kind: .invalidArgument,
                message: "maxValueSize \(maxValueSize) with maxKeySize \(maxKeySize) does not fit one frame of a "
                    + "\(log.segmentSize)-byte segment (at most \(frameCapacity) bytes): raise segmentSize or lower them")
        }
    }
}
