import StrongroomCore
/// An in-process readers–writer lock for async code, writer-preferring: once a writer waits, new
/// readers queue behind it.
actor AsyncReadWriteLock {
    private var readers = 0
    private var writer = false
    private var waitingReaders: [CheckedContinuation<Void, Never>] = []
    private var waitingWriters: [CheckedContinuation<Void, Never>] = []

    func lockShared() async {
        if !writer && waitingWriters.isEmpty {
            readers += 1
            return
        }
        await withCheckedContinuation { waitingReaders.append($0) }
    }

    func unlockShared() {
        readers -= 1
        if readers == 0 { wakeWriter() }
    }

    func lockExclusive() async {
        if !writer && readers == 0 {
            writer = true
            return
        }
        await withCheckedContinuation { waitingWriters.append($0) }
    }

    func unlockExclusive() {
        writer = false
        if !wakeWriter() {
            readers += waitingReaders.count
            let woken = waitingReaders
            waitingReaders.removeAll()
            for reader in woken { reader.resume() }
        }
    }

    /// Hands the lock to the first waiting writer; false when none waits.
    @discardableResult
    private func wakeWriter() -> Bool {
        guard !waitingWriters.isEmpty else { return false }
        writer = true
        waitingWriters.removeFirst().resume()
        return true
    }

    /// Runs `body` holding the lock in `mode`.
    nonisolated func with<T: Sendable>(_ mode: BlobLockMode, _ body: () async throws -> T) async throws -> T {
        if mode == .exclusive { await lockExclusive() } else { await lockShared() }
        do {
            let result = try await body()
            if mode == .exclusive { await unlockExclusive() } else { await unlockShared() }
            return result
        } catch {
            if mode == .exclusive { await unlockExclusive() } else { await unlockShared() }
            throw error
        }
    }
}
