import Foundation
import LogStore

/// What one open of a store did in its recovery mode: the library's report, plus what the
/// open did to the files of `segments/` (from listings taken before and after it).
struct RecoveryOutcome: Sendable {
    /// The byte range point-in-time recovery cut off the damaged segment.
    struct Cut: Sendable {
        /// The segment file's path.
        let path: String
        /// Where it was cut (the damage), the start of the range dropped.
        let offset: UInt64
        /// The file's size before the open, the end of the range dropped.
        let end: UInt64
    }

    /// The store directory.
    let path: String
    /// The mode the store was opened in.
    let mode: LogConfiguration.RecoveryMode
    /// What the library reported.
    let report: StoreRecoveryReport
    /// The cut inside the damaged segment (point-in-time, damage past the segment header).
    let cut: Cut?
    /// Segments this open renamed to `<name>.dropped` (paths), with their sizes.
    let droppedFiles: [(path: String, bytes: UInt64)]
    /// The groups of ``StoreRecoveryReport/raftGroupsCommitPastLastIndex`` with their commit
    /// and last index.
    let commitPastLastIndex: [(group: RaftGroupID, commit: UInt64, lastIndex: UInt64)]
    /// Raft groups the store holds after the open.
    let raftGroups: Int

    /// Builds the outcome from the open store's report and the listings of `segments/` taken
    /// before and after the open (`nil`: not taken, as in strict mode).
    init(store: Store, before: SegmentListing?, after: SegmentListing?) {
        let path = store.path
        let report = store.recoveryReport
        let mode = store.configuration.recoveryMode
        self.path = path
        self.mode = mode
        self.report = report
        commitPastLastIndex = report.raftGroupsCommitPastLastIndex.compactMap { group in
            store.raft.info(group).map { (group: group, commit: $0.hardState.commit, lastIndex: $0.lastIndex) }
        }
        raftGroups = store.raft.groupIDs.count
        let segments = path + "/segments/"
        if let before, let after {
            droppedFiles = before.droppedFiles(after: after).map { (path: segments + $0.name, bytes: $0.bytes) }
        } else {
            droppedFiles = []
        }
        // Only point-in-time truncates the damaged file; salvage leaves its bytes and skips them.
        if mode == .pointInTime, let dropped = report.log.dropped, dropped.firstDamageOffset > 0,
            let name = dropped.firstDamagePath.split(separator: "/").last.map(String.init),
            let size = before?.sizes[name], after?.sizes[name] != nil, size > dropped.firstDamageOffset
        {
            cut = Cut(path: dropped.firstDamagePath, offset: dropped.firstDamageOffset, end: size)
        } else {
            cut = nil
        }
    }

    /// Whether data is missing after this open: recovery dropped or skipped damaged data, cut a
    /// Raft group (now, or after damage an earlier salvage skipped), or a Raft group's commit
    /// index is past its last index. A torn tail (an unacknowledged write) does not count.
    var lostData: Bool {
        report.log.dropped != nil || !report.raftGroupsCut.isEmpty || !report.raftGroupsCommitPastLastIndex.isEmpty
    }

    /// Whether a command should print the short report on standard error: something was lost,
    /// or, in a non-strict mode, the open removed files.
    var isWorthReporting: Bool { lostData || !droppedFiles.isEmpty }
}
