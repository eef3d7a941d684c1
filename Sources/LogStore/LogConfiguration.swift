import CLogStore

/// How a ``CommitLog`` lays out its files and forms its group commits.
public struct LogConfiguration: Sendable, Equatable {
    /// Which kernel interface makes appends durable.
    public enum Backend: Sendable, Equatable, CustomStringConvertible {
        /// io_uring when a probe at open succeeds (it can be disabled by sysctl or seccomp), else ``pwritev``.
        case automatic
        /// io_uring; opening fails where it is unavailable.
        case ioUring
        /// `pwritev` followed by `fdatasync`.
        case pwritev

        /// "auto", "io_uring" or "pwritev".
        public var description: String {
            switch self {
            case .automatic: "auto"
            case .ioUring: "io_uring"
            case .pwritev: "pwritev"
            }
        }
    }

    /// How the io_uring backend makes a write durable.
    public enum UringMode: Sendable, Equatable {
        /// A `writev` linked to an `fdatasync`, submitted together.
        case linkedFdatasync
        /// One `writev` with `RWF_DSYNC`.
        case dsyncWrite
    }

    /// Bytes per segment file (64 KiB to 1 GiB, a multiple of 8). Default 64 MiB. One append
    /// can be as large as a segment less its header, seal frame and frame header (160 bytes).
    public var segmentSize: UInt64 = 64 << 20
    /// Most appends gathered into one group commit. Default 1024.
    public var commitMaxOps: Int = 1024
    /// Most body bytes in one group commit; a larger single append is written alone. Default 4 MiB.
    public var commitMaxBytes: Int = 4 << 20
    /// Appends whose encoded records reach this many bytes are zstd-compressed on the caller's
    /// thread into one container record of the shared frame; `nil` never compresses. Default `nil`.
    public var compressionThreshold: Int? = nil
    /// zstd level for compressed appends. Default 1 (fastest).
    public var compressionLevel: Int32 = 1
    /// Longest the writer waits for the appends it expects before writing a batch, in
    /// microseconds; 0 writes as soon as anything is queued. Default 200.
    public var lingerMaxMicroseconds: UInt32 = 200
    /// How long the idle writer thread polls for the next append (yielding its CPU) before it
    /// sleeps, in microseconds; 0 sleeps at once. Waking a sleeping thread costs tens of
    /// microseconds on a virtual machine. After a few polls in a row that found nothing the
    /// writer polls only now and then, so sparse appends do not keep a CPU busy. While it
    /// gathers a batch it polls at most a quarter of ``lingerMaxMicroseconds``. Default 200.
    public var writerSpinMicroseconds: UInt32 = 200
    /// Zero-fill new segments so appends overwrite written blocks (cheaper `fdatasync`s) while
    /// commits are small. `false` only preallocates. Default `true`.
    ///
    /// The zeros go to the disk with direct I/O (`O_DIRECT`, 256 KiB at a time) where the file
    /// system takes it (``LogStatistics/directZeroFills``; see ``directZeroFill``), through the
    /// page cache elsewhere.
    /// Direct, they stay out of the page cache and reach the disk between the writer's syncs;
    /// through the cache, they reached it in one burst per segment, and the commit behind it
    /// waited tens of milliseconds (docs/FORMAT.md §10 note 9).
    ///
    /// The zeros cost as much disk bandwidth as the data, so a log written faster than the
    /// preparer can zero-fill would wait for it at rotations (``LogStatistics/rotationWaits``).
    /// On the development VM that happened from about 250 KiB per commit, with p99 latencies of
    /// 100–200 ms. So even with `true`, a segment is only preallocated while the commits since
    /// the previous one averaged 192 KiB or more (``LogStatistics/zeroFillSkips`` counts them;
    /// docs/FORMAT.md §6.1, §10 note 8).
    public var prewriteSegments: Bool = true
    /// Zero-fill new segments with direct I/O where the file system takes it (see
    /// ``prewriteSegments``). `false` zero-fills through the page cache. Default `true`.
    ///
    /// A trade in the latency distribution, at the same throughput. Through the cache, a
    /// segment's zeros reach the disk in one burst and the commit behind it waits for all of
    /// them; directly, many commits wait a little. Measured with `logstore bench raft`
    /// (`--cached-zero-fill` for `false`; docs/FORMAT.md §10 note 9): the longest commit fell
    /// from 50–70 ms to 8–14 ms at `--batch 256` and from 47–49 ms to 4–8 ms at `--batch 16`,
    /// the p999 at `--batch 256` from 36–40 ms to 3.1–3.4 ms; the p99 rose from 0.46–0.55 to
    /// 0.68–0.75 ms at `--batch 256` and from 0.23–0.29 to 0.47–0.50 ms at `--batch 16`.
    public var directZeroFill: Bool = true
    /// Write each commit to the active segment with direct I/O (`O_DIRECT`) where the file
    /// system takes it. `false` writes through the page cache. Default `true`.
    ///
    /// A direct write must start and end on a block boundary, so each one starts at the page
    /// that holds the end of the log, rewrites that page's earlier bytes unchanged (as the page
    /// cache's own write-back of a partly written page does), and is padded with zeros to the next
    /// page (docs/FORMAT.md §6.2). Nothing is copied into the page cache and the sync that follows
    /// has no dirty pages to write back. Measured against `--buffered-writes` (docs/FORMAT.md §10
    /// note 10): `logstore bench raft --batch 256` 13–16% more entries per second with a p999 of
    /// 0.8 ms instead of 3–4 ms; `bench put --threads 64` 8–40% more puts per second; 1,000 Raft
    /// groups about the same.
    ///
    /// The cost is on reads: the first read of data written this way comes from the disk, not
    /// the page cache (reopening a just-written store of a million keys took 580 ms instead of
    /// 390 ms). Applies only where ``segmentSize`` is a multiple of the page size;
    /// ``LogStatistics/directWrites`` counts the writes made so.
    public var directWrites: Bool = true
    /// How many bytes of the sealed segments this log wrote may stay in the page cache; past it,
    /// the segment preparer releases the oldest one's cached pages (`POSIX_FADV_DONTNEED`).
    /// `nil` never releases. Default 256 MiB (four segments of the default size).
    ///
    /// Pages the kernel has not used for a while are slow to take on a virtual machine that
    /// returns free memory to its host: on the development VM, zero-filling a 64 MiB segment
    /// through the page cache into new pages took 150–280 ms of CPU time, into pages freed a
    /// moment before 7 ms, and the writer waited for it at rotations; the writer's own appends
    /// take pages the same way. Releasing sealed segments keeps the log's pages in use instead
    /// of taking new ones. The data is untouched; reads of a released segment (Raft
    /// entry-cache misses, point reads of pages not mapped yet) go to the disk. Pages a point
    /// read has mapped stay. ``LogStatistics/cacheReleases`` counts releases (docs/FORMAT.md §6.4).
    public var sealedSegmentCacheBytes: UInt64? = 256 << 20
    /// The durable-write backend. Default ``Backend/pwritev``: measured on this project's
    /// machines it is the faster one, because io_uring runs every fsync on a kernel worker
    /// thread and the extra wake-up costs about a third of an `fdatasync` per commit
    /// (`logstore bench append --backend io_uring|pwritev`). Choose ``Backend/automatic``
    /// to prefer io_uring where a probe at open succeeds.
    public var backend: Backend = .pwritev
    /// How io_uring makes writes durable. Default ``UringMode/linkedFdatasync``.
    public var uringMode: UringMode = .linkedFdatasync

    /// Whether the writer hands a written batch to its completer thread and starts the next
    /// write while that batch's callers are woken and come back.
    public enum Pipelining: Sendable, Equatable {
        /// Pipeline while the callers of a batch take longer to come back than a sync takes
        /// (many concurrent appenders); complete on the writer thread otherwise.
        case automatic
        /// The writer completes every batch itself before the next write.
        case never
        /// Every written batch is completed on the completer thread (for tests and benchmarks).
        case always
    }

    /// Whether group commits are pipelined. Default ``Pipelining/never``: on this project's
    /// 2-vCPU machines the time callers need to come back is CPU time they share with the
    /// completer, so pipelining measured neutral for 64 concurrent puts and 15–25% slower for
    /// 1,000 Raft groups appending one entry each (its half-size batches cost more syncs per
    /// entry): `logstore bench put|raft --pipelining never|auto|always`. It is meant for
    /// machines with cores to spare for the callers' return.
    public var pipelining: Pipelining = .never

    /// What opening does about damaged data (docs/FORMAT.md §7.5).
    public enum RecoveryMode: Sendable, Equatable {
        /// Cut a torn tail (an unacknowledged last write) off the newest segment; refuse to open
        /// on any other damage with ``LogError/Kind/corrupt``, naming the file and offset.
        case strict
        /// Cut the log at the first damage in LSN order: that segment is truncated there and
        /// sealed, later segments are recorded obsolete in the manifest and renamed to
        /// `<name>.dropped` for inspection. What was dropped is in ``RecoveryReport/dropped``.
        case pointInTime
        /// Keep every valid frame: damaged byte ranges are skipped and recorded durably in the
        /// manifest, so later strict opens and readers skip exactly those ranges (and accept the
        /// LSN gaps across them). What was skipped is in ``RecoveryReport/dropped``.
        case salvage
    }

    /// What opening does about damage. Default ``RecoveryMode/strict``: the other modes drop
    /// data and are for an operator who chose to.
    public var recoveryMode: RecoveryMode = .strict
    /// The manifest (`manifest/manifest.log`) is rewritten to its current state once it grows
    /// past this many bytes (and past twice its size after the last rewrite). Default 1 MiB.
    public var manifestMaxBytes: UInt64 = 1 << 20
    /// Open an existing store without writing anything (default `false`; docs/FORMAT.md §7.7).
    ///
    /// The open takes `LOCK` as a writer does, without writing into it, and holds it until
    /// close, so no writer changes the files under it (``LogError/Kind/busy`` while another log
    /// or reader holds the store). It creates, removes, cuts, seals and records nothing: a torn
    /// tail is reported (``RecoveryReport/tornTail``) and left in place, and a store that is not
    /// there is ``LogError/Kind/notFound``. Appends and file writes fail with
    /// ``LogError/Kind/readOnly``. Only ``RecoveryMode/strict`` recovery: the other modes repair
    /// the store on disk (``LogError/Kind/invalidArgument`` otherwise).
    public var readOnly = false

    /// The defaults above.
    public init() {}

    var cRecoveryMode: ls_recovery_mode {
        switch recoveryMode {
        case .strict: LS_RECOVERY_STRICT
        case .pointInTime: LS_RECOVERY_POINT_IN_TIME
        case .salvage: LS_RECOVERY_SALVAGE
        }
    }

    var cPipelining: ls_pipelining {
        switch pipelining {
        case .automatic: LS_PIPELINE_AUTO
        case .never: LS_PIPELINE_NEVER
        case .always: LS_PIPELINE_ALWAYS
        }
    }

    var cBackend: ls_backend {
        switch backend {
        case .automatic: LS_BACKEND_AUTO
        case .ioUring: LS_BACKEND_URING
        case .pwritev: LS_BACKEND_PWRITEV
        }
    }

    var cUringMode: ls_uring_mode {
        uringMode == .dsyncWrite ? LS_URING_DSYNC_WRITE : LS_URING_LINKED_FDATASYNC
    }
}
