import LogStore

/// A one-line progress report on stderr while a run is going: elapsed seconds, appends so
/// far and their mean rate, about once a second. On a terminal the line is rewritten in
/// place (`\r`) and erased at the end; elsewhere (a log file) each update is a line of its own.
///
/// It reads the log's ``LogStatistics/appends`` (durable appends), so appenders share no
/// counter. Its loop sleeps with `Task.sleep`, never blocking a thread of the pool.
struct ProgressLine: Sendable {
    /// Time between updates.
    static let interval = Duration.seconds(1)
    /// ANSI "erase the whole line", used when stderr is a terminal.
    static let eraseLine = "\u{1B}[2K"

    /// Names the run, e.g. "append threads=16".
    let label: String
    /// Whether stderr is a terminal: then the line is rewritten in place and erased at the end.
    let interactive: Bool

    init(label: String) {
        self.label = label
        self.interactive = Console.errorIsTerminal
    }

    /// Updates the line once per ``interval`` until the task is cancelled.
    ///
    /// - Parameters:
    ///   - log: The log whose durable appends are counted.
    ///   - start: When the run started.
    func run(log: CommitLog, start: ContinuousClock.Instant) async {
        while true {
            do {
                try await Task.sleep(for: Self.interval)
            } catch {
                return  // CancellationError: the run ended.
            }
            let elapsed = start.duration(to: .now).seconds
            let ops = log.statistics.appends
            let rate = elapsed > 0 ? Double(ops) / elapsed : 0
            draw("\(label)  \(Format.fixed(elapsed, 1)) s  \(ops) ops  \(Format.fixed(rate, 0)) ops/s")
        }
    }

    /// Shows a one-off status after the label, e.g. while the fsync ceiling is measured.
    func show(_ status: String) {
        draw("\(label): \(status)")
    }

    /// Ends the line: erases it on a terminal (elsewhere every update already ended its line).
    func finish() {
        if interactive { Console.error("\r" + Self.eraseLine) }
    }

    private func draw(_ text: String) {
        Console.error(interactive ? "\r" + Self.eraseLine + text : text + "\n")
    }
}
