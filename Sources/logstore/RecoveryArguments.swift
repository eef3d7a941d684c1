import ArgumentParser
import LogStore

/// `--recovery strict|point-in-time|salvage`: what opening the store does about damage
/// (docs/FORMAT.md §7.5), for every command that opens a ``Store``.
struct RecoveryArguments: ParsableArguments {
    /// The help of `--recovery`, shared by every command that has the option.
    static let help = ArgumentHelp(
        "What opening does about damage: strict refuses it; point-in-time and salvage drop data and change the store on disk.",
        discussion: """
            strict: cuts only a torn tail of the newest segment (an unacknowledged last write; \
            commands that only read open the store read-only and leave it in place); \
            any other damage refuses to open, naming the file and the offset. \
            point-in-time: cuts the log at the first damage in LSN order and drops everything \
            after it, also valid later writes: the damaged segment is truncated and sealed there, \
            later segments are renamed to <name>.dropped (kept for inspection), and the cut is \
            recorded in the manifest. \
            salvage: keeps every valid frame and drops only the damaged byte ranges, recording \
            them as skip ranges in the manifest (so later strict opens skip the same ranges); \
            Raft groups whose records cannot follow the gap are cut. \
            Either way a report of what was dropped goes to standard error; 'logstore recover' \
            prints it in full (or as JSON).
            """,
        valueName: "mode")

    @Option(name: .customLong("recovery"), help: Self.help)
    var recovery: RecoveryModeArgument = .strict

    /// The library's recovery mode.
    var mode: LogConfiguration.RecoveryMode { recovery.mode }

    /// The configuration of a command that only reads: read-only in strict mode, so nothing is
    /// written; point-in-time and salvage repair the store on disk, so with them the store is
    /// opened for writing (``configuration``).
    var readConfiguration: StoreConfiguration {
        var configuration = self.configuration
        configuration.readOnly = mode == .strict
        return configuration
    }

    /// The default store configuration with this recovery mode.
    var configuration: StoreConfiguration {
        var configuration = StoreConfiguration()
        configuration.recoveryMode = mode
        return configuration
    }
}

/// The spellings of ``LogConfiguration/RecoveryMode`` on the command line.
enum RecoveryModeArgument: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// ``LogConfiguration/RecoveryMode/strict``.
    case strict
    /// ``LogConfiguration/RecoveryMode/pointInTime``.
    case pointInTime = "point-in-time"
    /// ``LogConfiguration/RecoveryMode/salvage``.
    case salvage

    /// The library's mode.
    var mode: LogConfiguration.RecoveryMode {
        switch self {
        case .strict: .strict
        case .pointInTime: .pointInTime
        case .salvage: .salvage
        }
    }

    /// The command-line spelling of `mode`.
    init(_ mode: LogConfiguration.RecoveryMode) {
        switch mode {
        case .strict: self = .strict
        case .pointInTime: self = .pointInTime
        case .salvage: self = .salvage
        }
    }
}
