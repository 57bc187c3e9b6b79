/// Runs `work` on every item a walk yields, at most `concurrency` at once, and `record` on each result
/// on the walking task. The walk goes on while work is in flight, so a streaming walk holds no more than
/// `concurrency` items beyond its own state. Rotation, recovery-key enrolment and migration share it.
func forEachBounded<Item: Sendable, Result: Sendable>(
    concurrency: Int,
    walk: ((Item) async throws -> Void) async throws -> Void,
    work: @escaping @Sendable (Item) async throws -> Result,
    record: (Result) -> Void
) async throws {
    // `record` runs only on the walking task, inside `walk`'s callback and after it: never re-entered.
    try await withoutActuallyEscaping(record) { record in
        if concurrency == 1 {
            try await walk { item in record(try await work(item)) }
            return
        }
        try await withThrowingTaskGroup(of: Result.self) { group in
            var running = 0
            try await walk { item in
                if running == concurrency, let result = try await group.next() {
                    record(result)
                    running -= 1
                }
                group.addTask { try await work(item) }
                running += 1
            }
            while let result = try await group.next() { record(result) }
        }
    }
}
