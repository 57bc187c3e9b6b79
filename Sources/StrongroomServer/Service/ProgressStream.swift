import GRPCCore
import StrongroomCore

/// Runs a long vault operation (a rotation, a recovery enrolment, a migration) for a server-streaming
/// RPC: the operation runs to its end in a task of its own (a client that goes away does not stop it
/// half-way: each of these is resumable, and a finished one is what the vault should be left with),
/// while its progress goes to the client, at most every 100 ms plus the last one, for as long as the
/// client listens.
enum ProgressStream {
    static func run<Progress: Sendable, Result: Sendable, Event: Sendable>(
        _ admission: Admission, context: ServerContext, writer: RPCWriter<Event>,
        event: (Progress) -> Event, isLast: (Progress) -> Bool,
        operation: @escaping @Sendable (_ progress: @escaping @Sendable (Progress) -> Void) async throws -> Result
    ) async throws -> Result {
        let (updates, continuation) = AsyncStream<Progress>.makeStream(bufferingPolicy: .bufferingNewest(1))
        async let result = admission.runToCompletion {
            defer { continuation.finish() }
            return try await operation { continuation.yield($0) }
        }
        var listening = true
        var lastWrite: ContinuousClock.Instant?
        for await progress in updates where listening {
            let now = ContinuousClock.now
            guard isLast(progress) || lastWrite.map({ now - $0 >= .milliseconds(100) }) ?? true else { continue }
            if context.cancellation.isCancelled {
                listening = false
                continue
            }
            do {
                try await writer.write(event(progress))
                lastWrite = now
            } catch {
                listening = false  // The client went away; the operation goes on to its end.
            }
        }
        return try await result
    }

    /// A request's `concurrency`: 0 means 1; otherwise 1 to 64.
    static func concurrency(_ value: UInt32) throws(StrongroomError) -> Int {
        if value == 0 { return 1 }
        guard value <= 64 else {
            throw StrongroomError(.invalidInput, "concurrency must be 1 to 64, got \(value)")
        }
        return Int(value)
    }
}
