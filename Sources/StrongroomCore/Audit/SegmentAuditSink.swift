/// An audit log kept as immutable segment objects `audit/<seq>.jsonl` in a ``BlobStore``, each
/// created only if absent (S3 `If-None-Match: *`), so two appenders can never overwrite each other:
/// the loser re-reads the tail and tries again (docs/audit.md).
///
/// CONTRACT (issue 15, lane "cloud-hsm"): the lane fills in the bodies.
public struct SegmentAuditSink: AuditSink {
    /// The store the segments live in.
    public let blobs: any BlobStore

    /// A sink over `blobs`.
    public init(blobs: any BlobStore) { self.blobs = blobs }

    public var location: String { "\(blobs.location)/audit/" }

    public func append(durable: Bool, _ make: @Sendable (AuditTail) async throws -> [UInt8]) async throws -> AuditTail {
        throw StrongroomError(.io, "not implemented")
    }

    public func sync() async throws {}

    public func checkWritable() async throws {}

    public func read(_ body: ([UInt8]) async throws -> Void) async throws {}
}
