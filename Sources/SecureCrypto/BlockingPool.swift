import Glibc
import Synchronization

/// A small pool of OS threads for work that blocks: `fsync`, file writes that must reach the disk,
/// and every Cryptoki call. Swift's cooperative pool has one thread per core (two on a small server);
/// a thread parked in `fsync` or in an HSM round trip there stalls every other task. ``run(_:)`` hands
/// a synchronous closure to one of this pool's threads and suspends the calling task (without
/// holding a thread) until the closure returns.
///
/// Jobs run in the order they were submitted (FIFO), at most ``threadCount`` at a time. A task that is
/// cancelled while its job still waits in the queue gets `CancellationError` and the job never runs;
/// a job that has started runs to the end and its result is returned (blocking calls cannot be
/// interrupted halfway, and a half-done fsync or `C_WrapKey` must not be abandoned).
///
/// A pool of zero threads runs every job inline on the calling thread (what the code did before this
/// pool existed); tests use it to show what the pool prevents.
///
/// The tiers use the process-wide pools of ``shared(threads:for:)``, which live as long as the
/// process. A pool made with ``init(threads:)`` keeps its threads until ``shutdown()``: call it.
///
/// Lives in SecureCrypto because every module that blocks (PKCS11, the tiers) already depends on it
/// and it needs nothing but the C library.
public final class BlockingPool: @unchecked Sendable {
    // @unchecked Sendable: every mutable field below (`queue`, `head`, `waiting`, `stopping`, `threads`, job
    // state) is read and written only while `mutex` is held; `mutex` and `condition` are created in
    // init and destroyed in deinit, when no thread can use them any more (workers retain the pool).

    /// How many threads run jobs; 0 means every job runs inline on the caller's thread.
    public let threadCount: Int

    /// The default size: twice the number of cores, at least 4.
    public static var defaultThreadCount: Int { max(4, 2 * Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [Job] = []
    private var head = 0
    private var waiting = 0  // jobs in `queue` still in state `.queued` (not cancelled)
    private var stopping = false
    private var threads: [pthread_t] = []

    /// Starts a pool of `threads` threads (0: run jobs inline).
    public init(threads: Int) {
        precondition(threads >= 0, "a blocking pool cannot have a negative number of threads")
        threadCount = threads
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        for _ in 0..<threads {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(self).toOpaque()
            let rc = pthread_create(&thread, nil, { context in
                let pool = Unmanaged<BlockingPool>.fromOpaque(context!).takeRetainedValue()
                pool.work()
                return nil
            }, context)
            precondition(rc == 0, "pthread_create failed with \(rc)")
            self.threads.append(thread)
        }
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    // MARK: Shared pools

    /// What a shared pool is for. Each purpose has pools of its own, so that work of one kind never
    /// queues behind the other (an HSM call behind a disk flush of tens of milliseconds, say).
    public struct Purpose: Hashable, Sendable {
        let name: String
        /// A purpose of this name.
        public init(_ name: String) { self.name = name }
        /// File work that ends in `fsync`.
        public static let fileIO = Purpose("file I/O")
        /// Cryptoki (PKCS#11) calls.
        public static let cryptoki = Purpose("Cryptoki")
    }

    private static let sharedPools = SharedPools()

    /// The process-wide pool of `threads` threads for `purpose` (created on first use, kept for the
    /// life of the process): vaults opened with the same `blockingThreads` setting share it.
    public static func shared(threads: Int = defaultThreadCount, for purpose: Purpose = .fileIO) -> BlockingPool {
        sharedPools.pool(threads: threads, purpose: purpose)
    }

    // MARK: Running work

    /// Runs `body` on one of the pool's threads and returns its result (or rethrows its error).
    /// Cancelling the calling task removes the job if it has not started yet (then this throws
    /// `CancellationError`); a started job always finishes. After ``shutdown()`` it throws
    /// `CancellationError` without running `body`.
    public func run<T: Sendable>(_ body: @Sendable () throws -> T) async throws -> T {
        guard threadCount > 0 else {
            return try body()
        }
        return try await withoutActuallyEscaping(body) { escapable in
            let job = Job()
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                    var result: Result<T, any Error>?
                    job.work = { result = Result { try escapable() } }
                    job.finish = { continuation.resume(with: result!) }
                    job.abandon = { continuation.resume(throwing: CancellationError()) }
                    enqueue(job)
                }
            } onCancel: {
                cancel(job)
            }
        }
    }

    /// Queues `body` to run on one of the pool's threads and returns at once (inline when the pool
    /// has no threads or is shut down). For short work that may wait for a lock a blocking job holds.
    public func execute(_ body: @escaping @Sendable () -> Void) {
        guard threadCount > 0 else { return body() }
        let job = Job()
        job.work = body
        job.abandon = body
        enqueue(job)
    }

    /// Stops the pool: jobs already queued still run, new ones are refused (``run(_:)`` throws
    /// `CancellationError`), and this returns when every thread has finished. Call it once, from
    /// outside the pool (a job that shuts down its own pool would wait for itself).
    public func shutdown() {
        lock()
        stopping = true
        let joining = threads
        threads = []
        pthread_cond_broadcast(condition)
        unlock()
        for thread in joining { pthread_join(thread, nil) }
    }

    /// Jobs waiting for a thread (not counting the ones running).
    public var queuedJobs: Int {
        lock()
        defer { unlock() }
        return waiting
    }

    // MARK: Internals

    // @unchecked Sendable: `state` is guarded by the pool's mutex; the closures are set before the job
    // is queued and cleared by whoever takes the job out of the queue (the worker, or `cancel`).
    private final class Job: @unchecked Sendable {
        enum State { case new, queued, running, done, cancelled }
        var state = State.new  // guarded by the pool's mutex
        var work: (() -> Void)?
        var finish: (() -> Void)?
        var abandon: (() -> Void)?

        func clear() {
            work = nil
            finish = nil
            abandon = nil
        }
    }

    private func lock() { pthread_mutex_lock(mutex) }
    private func unlock() { pthread_mutex_unlock(mutex) }

    private func enqueue(_ job: Job) {
        lock()
        guard job.state == .new, !stopping else {
            // Cancelled before it was queued, or the pool is shut down.
            job.state = .cancelled
            unlock()
            let abandon = job.abandon
            job.clear()
            abandon?()
            return
        }
        job.state = .queued
        waiting += 1
        queue.append(job)
        pthread_cond_signal(condition)
        unlock()
    }

    private func cancel(_ job: Job) {
        lock()
        switch job.state {
        case .new:
            job.state = .cancelled  // `enqueue` sees it and abandons the job
            unlock()
        case .queued:
            job.state = .cancelled  // the worker that dequeues it skips it
            waiting -= 1
            unlock()
            let abandon = job.abandon
            job.clear()
            abandon?()
        case .running, .done, .cancelled:
            unlock()
        }
    }

    private func work() {
        while true {
            lock()
            while head == queue.count, !stopping { pthread_cond_wait(condition, mutex) }
            guard head < queue.count else {
                unlock()
                return  // stopping, and nothing is left
            }
            let job = queue[head]
            head += 1
            if head > 64, head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            guard job.state == .queued else {
                unlock()
                continue  // cancelled while queued: already answered
            }
            job.state = .running
            waiting -= 1
            unlock()
            execute(job)
        }
    }

    /// Runs the job's work, drops every reference to the caller's closure, then resumes the caller:
    /// `withoutActuallyEscaping` requires the closure to be released before `run` returns.
    private func execute(_ job: Job) {
        runWork(job)
        let finish = job.finish
        lock()
        job.state = .done
        unlock()
        job.clear()
        finish?()
    }

    @inline(never)
    private func runWork(_ job: Job) {
        let work = job.work
        job.work = nil
        work?()
    }
}

/// The process-wide pools, one per size.
private final class SharedPools: Sendable {
    private struct Key: Hashable {
        let threads: Int
        let purpose: BlockingPool.Purpose
    }
    private let pools = Mutex<[Key: BlockingPool]>([:])

    func pool(threads: Int, purpose: BlockingPool.Purpose) -> BlockingPool {
        pools.withLock { pools in
            let key = Key(threads: threads, purpose: purpose)
            if let pool = pools[key] { return pool }
            let pool = BlockingPool(threads: threads)
            pools[key] = pool
            return pool
        }
    }
}
