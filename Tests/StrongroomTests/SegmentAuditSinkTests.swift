import Foundation
import SecureCrypto
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomLocal

/// `SegmentAuditSink` (audit segments `audit/<seq>.jsonl` made with `create`) on S3 (moto) and on a
/// directory blob store: appends from two sink instances (two processes' views) chain without gaps,
/// an existing segment is never overwritten, and `read` returns every line in order.
@Suite(.serialized) struct SegmentAuditSinkTests {
    enum Backend: String, CaseIterable, Sendable { case s3, directory }

    /// Runs `body` with a fresh, empty blob store of `backend` and a factory for more views of it.
    func withStore(_ backend: Backend, _ body: (@Sendable () throws -> any BlobStore) async throws -> Void) async throws {
        switch backend {
        case .directory:
            let directory = try TemporaryDirectory()
            defer { directory.cleanup() }
            try await body { DirectoryBlobStore(root: directory.path) }
        case .s3:
            let environment = try CloudTestEnvironment.require()
            let prefix = try CloudTestEnvironment.freshPrefix("audit-sink")
            let storage = try environment.storage(prefix: prefix)
            do {
                try await body { try CloudVault.blobStore(storage, lockTimeout: .seconds(30), logger: quietLogger) }
            } catch {
                await environment.removeEverything(under: prefix)
                throw error
            }
            await environment.removeEverything(under: prefix)
        }
    }

    /// A record line of the normative shape's fixed parts (`{"v":1,"seq":S,"prev":"P",…,"hash":"H"}`,
    /// H = SHA-256 of the bytes before `,"hash":"`), with `label` in a member of its own.
    static func line(after tail: AuditTail, _ label: String) -> [UInt8] {
        let body = #"{"v":1,"seq":\#(tail.seq + 1),"prev":"\#(Hex.encode(tail.hash))","op":"\#(label)""#
        let hash = SHA256.hash(Array(body.utf8))
        return Array((body + #","hash":"\#(Hex.encode(hash))"}"# + "\n").utf8)
    }

    /// Every line `sink` reads, checked: seqs 1…n, each `prev` the hash of the line before, each hash
    /// right. Returns the labels in order.
    static func chain(_ sink: SegmentAuditSink) async throws -> [String] {
        var bytes: [UInt8] = []
        try await sink.read { bytes += $0 }
        var labels: [String] = []
        var previous = AuditTail.empty
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {
            let text = String(decoding: line, as: UTF8.self)
            let tail = try #require(AuditLine.tail(of: Array(line)), "not a record: \(text)")
            #expect(tail.seq == previous.seq + 1, "seq after \(previous.seq): \(text)")
            #expect(text.contains(#""prev":"\#(Hex.encode(previous.hash))""#), "chained: \(text)")
            let marker = try #require(text.range(of: #","hash":""#))
            #expect(SHA256.hash(Array(text[..<marker.lowerBound].utf8)) == tail.hash)
            let op = try #require(text.range(of: #""op":""#))
            labels.append(String(text[op.upperBound...].prefix { $0 != "\"" }))
            previous = tail
        }
        #expect(bytes.isEmpty || bytes.last == 0x0A)
        return labels
    }

    @Test(arguments: Backend.allCases)
    func sequentialAppendsFromTwoSinksChainWithoutGaps(backend: Backend) async throws {
        try await withStore(backend) { makeStore in
            let first = SegmentAuditSink(blobs: try makeStore())
            let second = SegmentAuditSink(blobs: try makeStore())
            #expect(try await SegmentAuditSinkTests.chain(first) == [])
            try await first.checkWritable()
            for index in 1...3 {
                let tail = try await first.append(durable: true) { SegmentAuditSinkTests.line(after: $0, "a\(index)") }
                #expect(tail.seq == UInt64(index))
            }
            // The second sink finds the tail by listing; the first's cached tail is then stale.
            let tail = try await second.append(durable: true) { SegmentAuditSinkTests.line(after: $0, "b1") }
            #expect(tail.seq == 4)
            let segment4 = try #require(try await makeStore().read("audit/00000000000000000004.jsonl"))
            let after = try await first.append(durable: false) { SegmentAuditSinkTests.line(after: $0, "a4") }
            #expect(after.seq == 5, "the first sink lost the race for segment 4 and chained after it")
            #expect(try await makeStore().read("audit/00000000000000000004.jsonl")?.bytes == segment4.bytes, "never overwritten")
            // Several lines in one append go into one segment.
            let pair = try await second.append(durable: true) { tail in
                let one = SegmentAuditSinkTests.line(after: tail, "b2")
                return one + SegmentAuditSinkTests.line(after: try #require(AuditLine.tail(of: Array(one.dropLast()))), "b3")
            }
            #expect(pair.seq == 7)
            try await second.sync()
            #expect(try await SegmentAuditSinkTests.chain(SegmentAuditSink(blobs: try makeStore())) == ["a1", "a2", "a3", "b1", "a4", "b2", "b3"])
            let names = try await makeStore().children(of: "audit/")
            #expect(names == (1...6).map { AuditLine.segmentName(firstSeq: UInt64($0)) })
        }
    }

    @Test(arguments: Backend.allCases)
    func concurrentAppendsFromTwoSinksGiveContiguousSeqsAndOneChain(backend: Backend) async throws {
        try await withStore(backend) { makeStore in
            let sinks = [SegmentAuditSink(blobs: try makeStore()), SegmentAuditSink(blobs: try makeStore())]
            let seqs = try await withThrowingTaskGroup(of: UInt64.self) { group in
                for index in 0..<40 {
                    let sink = sinks[index % 2]
                    group.addTask {
                        try await sink.append(durable: index % 3 == 0) { SegmentAuditSinkTests.line(after: $0, "t\(index)") }.seq
                    }
                }
                return try await group.reduce(into: [UInt64]()) { $0.append($1) }
            }
            #expect(seqs.sorted() == Array(1...40), "every append its own seq")
            let labels = try await SegmentAuditSinkTests.chain(sinks[0])
            #expect(Set(labels) == Set((0..<40).map { "t\($0)" }) && labels.count == 40)
            // Group commit: while one segment is written, the lines made meanwhile wait for the next.
            let segments = try await makeStore().children(of: "audit/").filter { $0 != "tail-hint" }
            #expect(segments.count <= 40)
            for name in segments {
                let bytes = try #require(try await makeStore().read("audit/" + name)).bytes
                let first = try #require(AuditLine.tail(of: Array(bytes.prefix { $0 != 0x0A })))
                #expect(AuditLine.segmentName(firstSeq: first.seq) == name, "a segment is named after its first record")
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func anExistingSegmentIsNeverOverwrittenAndForeignNamesAreNotPartOfTheLog(backend: Backend) async throws {
        try await withStore(backend) { makeStore in
            let blobs = try makeStore()
            let theirs = SegmentAuditSinkTests.line(after: .empty, "theirs")
            #expect(try await blobs.create("audit/00000000000000000001.jsonl", theirs))
            #expect(try await blobs.create("audit/notes.txt", Array("not a segment\n".utf8)))
            let sink = SegmentAuditSink(blobs: blobs)
            let tail = try await sink.append(durable: true) { SegmentAuditSinkTests.line(after: $0, "ours") }
            #expect(tail.seq == 2)
            #expect(try await blobs.read("audit/00000000000000000001.jsonl")?.bytes == theirs)
            #expect(try await blobs.create("audit/00000000000000000002.jsonl", theirs) == false)
            #expect(try await SegmentAuditSinkTests.chain(sink) == ["theirs", "ours"])
        }
    }

    @Test(arguments: Backend.allCases)
    func aLastSegmentThatDoesNotEndInARecordRefusesAppends(backend: Backend) async throws {
        try await withStore(backend) { makeStore in
            let blobs = try makeStore()
            let line = SegmentAuditSinkTests.line(after: .empty, "cut")
            #expect(try await blobs.create("audit/00000000000000000001.jsonl", Array(line.prefix(line.count - 10))))
            let sink = SegmentAuditSink(blobs: blobs)
            let refused = await #expect(throws: StrongroomError.self) {
                try await sink.append(durable: true) { SegmentAuditSinkTests.line(after: $0, "next") }
            }
            #expect(refused?.code == .auditTampered)
            #expect(refused?.reason.contains("audit/00000000000000000001.jsonl") == true, "\(refused?.reason ?? "")")
            await #expect(throws: StrongroomError.self) { try await sink.checkWritable() }
            #expect(try await blobs.children(of: "audit/") == ["00000000000000000001.jsonl"], "nothing written after it")
            // Read hands the cut segment over with a newline: a damaged record, not a torn tail.
            var bytes: [UInt8] = []
            try await sink.read { bytes += $0 }
            #expect(bytes == Array(line.prefix(line.count - 10)) + [0x0A])
        }
    }

    @Test(arguments: Backend.allCases)
    func aNewSinkFindsTheTailFromTheHintOrByListingWhateverTheHintSays(backend: Backend) async throws {
        try await withStore(backend) { makeStore in
            let blobs = try makeStore()
            let sink = SegmentAuditSink(blobs: blobs)
            for index in 1...20 {
                _ = try await sink.append(durable: true) { SegmentAuditSinkTests.line(after: $0, "r\(index)") }
            }
            // Segment 16 reached a multiple of 16: the hint names it.
            #expect(try await blobs.read("audit/tail-hint")?.bytes == Array(AuditLine.segmentName(firstSeq: 16).utf8))
            var expected = (1...20).map { "r\($0)" }
            for (index, hint) in ["00000000000000000016.jsonl", "00000000000000000001.jsonl", "00000000000000000099.jsonl", "garbage", ""]
                .enumerated()
            {
                #expect(try await blobs.replace("audit/tail-hint", Array(hint.utf8), ifRevision: nil))
                let fresh = SegmentAuditSink(blobs: try makeStore())
                let tail = try await fresh.append(durable: true) { SegmentAuditSinkTests.line(after: $0, "h\(index)") }
                #expect(tail.seq == UInt64(21 + index), "hint '\(hint)'")
                expected.append("h\(index)")
            }
            #expect(try await SegmentAuditSinkTests.chain(sink) == expected)
        }
    }

    @Test func segmentNamesAreTwentyDigitsAndOnlyThoseAreRead() {
        #expect(SegmentAuditSink.firstSeq(ofSegment: "00000000000000000042.jsonl") == 42)
        #expect(SegmentAuditSink.firstSeq(ofSegment: "00000000000000000000.jsonl") == nil)
        #expect(SegmentAuditSink.firstSeq(ofSegment: "42.jsonl") == nil)
        #expect(SegmentAuditSink.firstSeq(ofSegment: "0000000000000000004x.jsonl") == nil)
        #expect(SegmentAuditSink.key(firstSeq: 7) == "audit/00000000000000000007.jsonl")
    }
}
