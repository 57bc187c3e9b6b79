import Foundation
import SecureCrypto
import Synchronization
import Testing

@Suite struct BlockingPoolTests {
    /// Jobs run on the pool's own threads, never on the caller's, and their results and errors come back.
    @Test func runsJobsOnItsOwnThreadsAndReturnsResultsAndErrors() async throws {
        let pool = BlockingPool(threads: 2)
        defer { pool.shutdown() }
        let callerThread = pthread_self()
        let jobThread = try await pool.run { pthread_self() }
        #expect(pthread_equal(jobThread, callerThread) == 0)
        #expect(try await pool.run { 6 * 7 } == 42)
        struct Refused: Error {}
        await #expect(throws: Refused.self) { try await pool.run { () throws -> Int in throw Refused() } }
    }

    /// State shared between the test and its jobs (noncopyable atomics cannot be captured by escaping closures).
    final class Shared: Sendable {
        let running = Atomic<Int>(0)
        let peak = Atomic<Int>(0)
        let gate = Atomic<Bool>(false)
        let ran = Atomic<Bool>(false)
        let order = Mutex<[Int]>([])
        func waitForGate() { while !gate.load(ordering: .acquiring) { usleep(500) } }
    }

    /// With N threads, at most N jobs run at once, in the order they were queued.
    @Test func runsAtMostItsThreadCountAtOnceInFIFOOrder() async throws {
        let pool = BlockingPool(threads: 3)
        defer { pool.shutdown() }
        let shared = Shared()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<24 {
                group.addTask {
                    try await pool.run {
                        let now = shared.running.wrappingAdd(1, ordering: .relaxed).newValue
                        _ = shared.peak.max(now, ordering: .relaxed)
                        usleep(2_000)
                        shared.running.wrappingSubtract(1, ordering: .relaxed)
                    }
                }
            }
            try await group.waitForAll()
        }
        let mostAtOnce = shared.peak.load(ordering: .relaxed)
        #expect(mostAtOnce == 3)

        // One thread: jobs start in submission order.
        let serial = BlockingPool(threads: 1)
        defer { serial.shutdown() }
        let blocker = Task { try await serial.run { shared.waitForGate() } }
        while serial.queuedJobs > 0 || !blockerStarted(serial) { usleep(500) }
        var tasks: [Task<Void, any Error>] = []
        for index in 0..<8 {
            tasks.append(Task { try await serial.run { shared.order.withLock { $0.append(index) } } })
            while serial.queuedJobs < index + 1 { usleep(200) }
        }
        shared.gate.store(true, ordering: .releasing)
        try await blocker.value
        for task in tasks { try await task.value }
        #expect(shared.order.withLock { $0 } == Array(0..<8))
    }

    /// True once the pool's only thread has taken the first job (nothing queued, one job submitted).
    private func blockerStarted(_ pool: BlockingPool) -> Bool {
        usleep(1_000)
        return pool.queuedJobs == 0
    }

    /// A task cancelled while its job waits in the queue gets CancellationError and the job never runs.
    @Test func cancellingAQueuedJobRemovesIt() async throws {
        let pool = BlockingPool(threads: 1)
        defer { pool.shutdown() }
        let shared = Shared()
        let blocker = Task { try await pool.run { shared.waitForGate() } }
        while !blockerStarted(pool) { usleep(500) }
        let queued = Task { try await pool.run { shared.ran.store(true, ordering: .relaxed) } }
        while pool.queuedJobs == 0 { usleep(200) }
        queued.cancel()
        await #expect(throws: CancellationError.self) { try await queued.value }
        #expect(pool.queuedJobs == 0)
        shared.gate.store(true, ordering: .releasing)
        try await blocker.value
        try await pool.run {}  // the pool still works
        let jobRan = shared.ran.load(ordering: .relaxed)
        #expect(!jobRan)
    }

    /// After shutdown the threads are gone and new work is refused.
    @Test func shutdownRefusesNewWork() async throws {
        let pool = BlockingPool(threads: 2)
        #expect(try await pool.run { 1 } == 1)
        pool.shutdown()
        await #expect(throws: CancellationError.self) { try await pool.run { 2 } }
    }

    @TaskLocal static var marker: String?

    /// A pool of zero threads runs jobs inline, inside the calling task (its task-locals are visible);
    /// a pool with threads runs them outside any task.
    @Test func zeroThreadsRunsInlineInTheCallingTask() async throws {
        let inline = BlockingPool(threads: 0)
        let threaded = BlockingPool(threads: 1)
        defer { threaded.shutdown() }
        let (seenInline, seenThreaded) = try await BlockingPoolTests.$marker.withValue("caller") {
            (try await inline.run { BlockingPoolTests.marker }, try await threaded.run { BlockingPoolTests.marker })
        }
        #expect(seenInline == "caller")
        #expect(seenThreaded == nil)
        #expect(inline.threadCount == 0)
        #expect(BlockingPool.shared(threads: 3) === BlockingPool.shared(threads: 3))
        #expect(BlockingPool.defaultThreadCount >= 4)
    }
}
