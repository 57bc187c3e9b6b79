import SecureCrypto
import StrongroomCore

/// One check's run: the fixture, a store opened on its vault and its blob store, and the steps that
/// turn what the tier did into a ``ConformanceFailure`` of that check.
struct Probe: Sendable {
    let check: TierConformance.Check
    let fixture: any TierConformanceFixture
    let store: ShareStore
    let blobs: any BlobStore

    init(check: TierConformance.Check, fixture: any TierConformanceFixture) async throws(ConformanceFailure) {
        self.check = check
        self.fixture = fixture
        do {
            store = try await fixture.open()
            blobs = try await fixture.blobStore()
        } catch {
            throw ConformanceFailure(
                .fixtureFailed, check: check, step: "open the fixture's vault and its blob store",
                expected: "a store and a blob store", actual: "\(error)", underlying: error)
        }
    }

    func run() async throws(ConformanceFailure) { try await check.body(self) }

    // MARK: Failures

    func failure(
        _ code: ConformanceFailure.Code, _ step: String, expected: String, actual: String,
        underlying: (any Error & Sendable)? = nil
    ) -> ConformanceFailure {
        ConformanceFailure(code, check: check, step: step, expected: expected, actual: actual, underlying: underlying)
    }

    /// Runs a step that must succeed; what it throws becomes an ``ConformanceFailure/Code/unexpectedError``.
    func step<T>(_ step: String, _ body: () async throws -> T) async throws(ConformanceFailure) -> T {
        do {
            return try await body()
        } catch let failure as ConformanceFailure {
            throw failure
        } catch {
            throw failure(.unexpectedError, step, expected: "success", actual: "\(error)", underlying: error)
        }
    }

    /// Fails the step unless `condition` holds.
    func expect(
        _ condition: Bool, _ step: String, expected: @autoclosure () -> String, actual: @autoclosure () -> String
    ) throws(ConformanceFailure) {
        guard !condition else { return }
        throw failure(.mismatch, step, expected: expected(), actual: actual())
    }

    /// Fails the step unless `actual` equals `expected` (values are ids, counts and versions, never secrets).
    func expectEqual<T: Equatable>(_ actual: T, _ expected: T, _ step: String) throws(ConformanceFailure) {
        try expect(actual == expected, step, expected: "\(expected)", actual: "\(actual)")
    }

    /// Runs `body`, which must throw a ``StrongroomError``: of `code` when one is given, with a reason
    /// containing each of `hints`. Returns the error.
    @discardableResult
    func expectError<T>(
        _ code: StrongroomError.Code?, _ step: String, reasonContains hints: [String] = [],
        _ body: () async throws -> T
    ) async throws(ConformanceFailure) -> StrongroomError {
        var expected = code.map { "a StrongroomError '\($0)'" } ?? "a StrongroomError"
        if !hints.isEmpty { expected += " whose reason contains " + hints.map { "'\($0)'" }.joined(separator: " and ") }
        let result: T
        do {
            result = try await body()
        } catch let error as StrongroomError {
            if let code, error.code != code {
                throw failure(.mismatch, step, expected: expected, actual: "\(error)", underlying: error)
            }
            for hint in hints where !error.reason.contains(hint) {
                throw failure(.mismatch, step, expected: expected, actual: "\(error)", underlying: error)
            }
            return error
        } catch {
            throw failure(.unexpectedError, step, expected: expected, actual: "\(error)", underlying: error)
        }
        throw failure(.unexpectedSuccess, step, expected: expected, actual: Probe.describe(success: result))
    }

    /// What a call that should have failed returned, without its bytes.
    static func describe(success result: some Any) -> String {
        if let secret = result as? SecretBytes { return "success: it released a secret of \(secret.count) bytes" }
        return "success (\(result))"
    }

    // MARK: Shares

    func id(_ text: String) throws(ConformanceFailure) -> ShareID {
        do {
            return try ShareID(text)
        } catch {
            throw failure(
                .fixtureFailed, "make share id '\(text)'", expected: "a valid id", actual: "\(error)", underlying: error
            )
        }
    }

    /// The test value `text` as a secret (test values are made-up strings, never real shares).
    func secret(_ text: String) throws(ConformanceFailure) -> SecretBytes {
        do {
            return try Array(text.utf8).withUnsafeBytes { try SecretBytes(copying: $0) }
        } catch {
            throw failure(
                .fixtureFailed, "make a test secret", expected: "locked memory", actual: "\(error)", underlying: error)
        }
    }

    /// Loads `id` (its newest version, or `version`) through `store` and checks it is `value`; the
    /// comparison is in constant time and a failure names sizes only.
    func expectLoad(
        _ id: ShareID, version: UInt64? = nil, from store: ShareStore? = nil, equals value: String, _ step: String
    ) async throws(ConformanceFailure) {
        let reader = store ?? self.store
        let loaded = try await self.step(step) { try await reader.load(id, version: version) }
        let wanted = try secret(value)
        guard loaded == wanted else {
            throw failure(
                .mismatch, step, expected: "the \(wanted.count)-byte secret stored for '\(id)'",
                actual: "a \(loaded.count)-byte secret that is not it")
        }
    }

    // MARK: Blobs

    /// The blob under `key`, which must exist.
    func readBlob(_ key: String, _ step: String) async throws(ConformanceFailure) -> StoredBlob {
        let blob = try await self.step(step) { try await blobs.read(key) }
        guard let blob else { throw failure(.mismatch, step, expected: "a blob at \(key)", actual: "no blob") }
        return blob
    }

    /// Writes `bytes` under `key` unconditionally, as an attacker or a restore from backup would.
    func writeBlob(_ key: String, _ bytes: [UInt8], _ step: String) async throws(ConformanceFailure) {
        let written = try await self.step(step) { try await blobs.replace(key, bytes, ifRevision: nil) }
        try expect(written, step, expected: "an unconditional replace to write", actual: "it wrote nothing")
    }

    /// Every share version's envelope, by blob key.
    func envelopes() async throws(ConformanceFailure) -> [String: EnvelopeLayout] {
        var result: [String: EnvelopeLayout] = [:]
        let summaries = try await step("list the shares") { try await store.list() }
        for summary in summaries {
            let versions = try await step("list the versions of '\(summary.id)'") {
                try await store.versions(summary.id)
            }
            for version in versions {
                let key = ShareStore.blobKey(summary.id, version.version)
                result[key] = try envelope(try await readBlob(key, "read \(key)").bytes, key)
            }
        }
        return result
    }

    /// `bytes` read as an envelope of docs/format.md.
    func envelope(_ bytes: [UInt8], _ key: String) throws(ConformanceFailure) -> EnvelopeLayout {
        guard let layout = EnvelopeLayout(bytes) else {
            throw failure(
                .mismatch, "read \(key) as an envelope", expected: "an envelope as docs/format.md lays it out",
                actual: "\(bytes.count) bytes that are not one")
        }
        return layout
    }
}
