import NIOCore
import Synchronization

/// What the transport layer tells the service: whether the server drains (SIGTERM received), and its
/// version for Health.
public final class ServerRuntime: Sendable {
    private let drainingFlag = Atomic<Bool>(false)
    /// The server's version (Health's `version`).
    public let version: String

    public init(version: String) { self.version = version }

    /// True once SIGTERM was received: new requests are refused with
    /// ``StrongroomError/Code/draining``, in-flight ones finish.
    public var draining: Bool { drainingFlag.load(ordering: .acquiring) }

    /// Marks the server as draining, waking every ``waitUntilDraining()``.
    public func beginDraining() {
        drainingFlag.store(true, ordering: .releasing)
        let waiting = drainWaiters.withLock { waiters in
            defer { waiters = [:] }
            return Array(waiters.values)
        }
        for waiter in waiting { waiter.resume() }
    }

    private let running = Atomic<Int>(0)

    /// RPCs whose handlers are running (counted by ``RequestMetricsInterceptor``): a Session counts
    /// until its stream ends.
    public var activeRPCs: Int { running.load(ordering: .acquiring) }
    func rpcBegan() { running.add(1, ordering: .acquiringAndReleasing) }
    func rpcEnded() { running.subtract(1, ordering: .acquiringAndReleasing) }

    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])

    /// Keeps `connection` (an accepted HTTP/2 connection) until it closes, for ``closeConnections()``.
    func register(connection: any Channel) {
        let key = ObjectIdentifier(connection)
        connections.withLock { $0[key] = connection }
        connection.closeFuture.whenComplete { [weak self] _ in
            _ = self?.connections.withLock { $0.removeValue(forKey: key) }
        }
    }

    /// Closes every connection still open: the end of a drain, once no RPC runs.
    func closeConnections() {
        for connection in connections.withLock({ Array($0.values) }) { connection.close(promise: nil) }
    }

    private let drainWaiters = Mutex<[UInt64: CheckedContinuation<Void, Never>]>([:])
    private let nextWaiter = Atomic<UInt64>(0)

    /// Returns once the server drains, or when the calling task is cancelled (a Session stream that
    /// ended on its own).
    func waitUntilDraining() async {
        let key = nextWaiter.wrappingAdd(1, ordering: .relaxed).newValue
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = drainWaiters.withLock { waiters -> Bool in
                    if draining || Task.isCancelled { return true }
                    waiters[key] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            drainWaiters.withLock { $0.removeValue(forKey: key) }?.resume()
        }
    }
}
