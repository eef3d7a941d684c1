import LogStore

/// Fills a store with loaded keys `0..<keys` (see ``BenchKeys``) fast: `writers` Swift tasks,
/// each writing batches of `batch` puts (one atomic ``WriteBatch`` each, or single puts when
/// `batch` is 1), so that many puts share each group commit.
///
/// Writer `w` writes chunks `w, w + writers, w + 2·writers, ...` of `batch` consecutive key numbers.
struct StoreLoader: Sendable {
    /// Concurrent loading tasks unless `--load-writers` says otherwise.
    static let defaultWriters = 64
    /// Puts per batch unless `--load-batch` says otherwise.
    static let defaultBatch = 64

    /// Keys to load.
    let keys: Int
    /// Value bytes per key.
    let valueSize: Int
    /// Concurrent loading tasks.
    let writers: Int
    /// Puts per batch.
    let batch: Int

    /// Loads the keys into `store`; returns the seconds it took.
    ///
    /// - Throws: The first ``StoreError`` of a write.
    func load(into store: Store, progress: ProgressLine?) async throws -> Double {
        let namespace = BenchKeys.namespace
        let pattern = AppendBenchmark.patternBytes(count: valueSize)
        let chunks = (keys + batch - 1) / batch
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let progress {
                group.addTask { await StoreProgress.run(progress, store: store, start: start, countKeys: true) }
            }
            for writer in 0..<min(writers, max(chunks, 1)) {
                group.addTask {
                    var chunk = writer
                    while chunk < chunks && !Task.isCancelled {
                        let range = chunk * batch..<min(keys, (chunk + 1) * batch)
                        try await write(range, into: store, namespace: namespace, pattern: pattern)
                        chunk += writers
                    }
                }
            }
            var done = 0
            let loaders = min(writers, max(chunks, 1))
            do {
                while try await group.next() != nil {
                    done += 1
                    if done == loaders { group.cancelAll() }  // ends the progress line
                }
            } catch {
                group.cancelAll()
                throw error
            }
        }
        progress?.finish()
        return start.duration(to: .now).seconds
    }

    private func write(_ range: Range<Int>, into store: Store, namespace: Namespace, pattern: [UInt8]) async throws(StoreError) {
        if range.count == 1 {
            let index = UInt64(range.lowerBound)
            try await store.put(BenchKeys.value(index, pattern: pattern), for: BenchKeys.key(index), in: namespace)
            return
        }
        var writeBatch = WriteBatch()
        for i in range {
            let index = UInt64(i)
            writeBatch.put(BenchKeys.value(index, pattern: pattern), for: BenchKeys.key(index), in: namespace)
        }
        try await store.write(writeBatch)
    }
}
