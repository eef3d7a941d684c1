// CRC32C throughput on 64 KiB buffers: the dispatched ls_crc32c_extend (the SSE4.2
// three-stream path on x86-64) against the portable slicing-by-8 tables.
//
// One benchmark operation is one CRC of one 64 KiB buffer, so
// GB/s = throughput (operations per second) x 65_536 / 1e9.

import Benchmark
import CLogStore

/// 64 KiB: the size the throughput target (>= 8 GB/s on the hardware path) is set for.
let bufferSize = 64 * 1024

let benchmarks: @Sendable () -> Void = {
    #if arch(x86_64)
    precondition(ls_crc32c_is_hardware() == 1, "expected the SSE4.2 path on x86-64")
    #endif

    // Deterministic, non-constant contents (Knuth's multiplicative hash of the index).
    let buffer: [UInt8] = (0..<bufferSize).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }

    // Allocation counts are the stable gate (wall clock varies by tens of percent
    // between runs here): a CRC must never allocate.
    let configuration = Benchmark.Configuration(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        scalingFactor: .kilo,
        thresholds: [.mallocCountTotal: .init(absolute: [.p100: 0])]
    )

    Benchmark("ls_crc32c_extend_64KiB", configuration: configuration) { benchmark in
        buffer.withUnsafeBytes { bytes in
            var crc: UInt32 = 0
            for _ in benchmark.scaledIterations {
                crc = ls_crc32c_extend(crc, bytes.baseAddress, bytes.count)
            }
            blackHole(crc)
        }
    }

    Benchmark("ls_crc32c_extend_portable_64KiB", configuration: configuration) { benchmark in
        buffer.withUnsafeBytes { bytes in
            var crc: UInt32 = 0
            for _ in benchmark.scaledIterations {
                crc = ls_crc32c_extend_portable(crc, bytes.baseAddress, bytes.count)
            }
            blackHole(crc)
        }
    }
}
