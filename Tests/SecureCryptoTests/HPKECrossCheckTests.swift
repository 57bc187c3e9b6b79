import Foundation
import Testing

@testable import SecureCrypto

/// The recovery section's suite, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, has no
/// RFC 9180 vector; it is cross-checked here in both directions against two independent
/// implementations: PyPI's `pyhpke` (installed by scripts/bootstrap) and scripts/format/strongroom_hpke.py
/// (written from the RFC on `cryptography` primitives, self-checked against Appendix A.1.1), reached
/// through scripts/format/hpke_crosscheck.py with hex on stdin and stdout. One AES-128-GCM check too.
/// A missing python3 or pyhpke fails these tests: they never skip.
@Suite struct HPKECrossCheckTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/format/hpke_crosscheck.py").path

    /// The implementations on the Python side.
    static let implementations = ["pyhpke", "own"]

    /// Runs the helper over `requests` and returns each answer line split at spaces; records an issue
    /// (so the test fails) when the helper does not run to the end, e.g. without python3 or pyhpke.
    static func ask(_ requests: [String]) throws -> [[String]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // The requests are a few KiB, well under a pipe's buffer: write them all, then read.
        input.fileHandleForWriting.write(Data(requests.map { $0 + "\n" }.joined().utf8))
        try input.fileHandleForWriting.close()
        let answers = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(
            process.terminationStatus == 0, "hpke_crosscheck.py failed (python3 and pyhpke are required): \(stderr)")
        let lines = answers.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(
            lines.count == requests.count,
            "hpke_crosscheck.py answered \(lines.count) of \(requests.count) requests: \(stderr)")
        return lines
    }

    static func field(_ values: [UInt8]) -> String { values.isEmpty ? "-" : hex(values) }

    /// What the v2 recovery section binds: info = "strongroom/recovery/v2" || vault id || share id, its
    /// length first || version; aad = a header-like byte string.
    static let info: [UInt8] =
        Array("strongroom/recovery/v2".utf8) + Array(UInt8(0xa0)...UInt8(0xaf)) + [5] + Array("p-1.x".utf8)
        + [0, 0, 0, 0, 0, 0, 0, 7]
    static let aad: [UInt8] = Array("SRSH".utf8) + [2, 1, 0, 0] + Array(repeating: 0x5a, count: 40)

    @Test(arguments: [HPKE.AEAD.aes256GCM, .aes128GCM])
    func swiftSealsAndBothPythonImplementationsOpen(aead: HPKE.AEAD) throws {
        let recipient = try X25519.generatePrivateKey()
        let publicKey = try X25519.publicKey(of: recipient)
        // The 32-byte data key the recovery section seals, plus other lengths and an empty aad/info.
        let cases: [(plaintext: [UInt8], info: [UInt8], aad: [UInt8])] = [
            ((0..<32).map { _ in UInt8.random(in: 0...255) }, Self.info, Self.aad),
            ([0x42], [], []),
            ((0..<1000).map { UInt8(truncatingIfNeeded: $0) }, Self.info, []),
        ]
        var requests: [String] = []
        var expected: [String] = []
        for item in cases {
            let sealed = try HPKE.seal(
                to: publicKey, info: item.info, aad: item.aad, plaintext: try secret(bytes: item.plaintext), aead: aead)
            #expect(sealed.ciphertext.count == item.plaintext.count + 16)
            for implementation in Self.implementations {
                let common = "\(implementation) \(aead.rawValue) \(hex(recipient)) \(Self.field(item.info))"
                requests.append("open \(common) \(Self.field(item.aad)) \(hex(sealed.enc)) \(hex(sealed.ciphertext))")
                expected.append("ok \(Self.field(item.plaintext))")
                // Another aad, and an altered tag: both implementations refuse.
                requests.append(
                    "open \(common) \(Self.field(item.aad + [1])) \(hex(sealed.enc)) \(hex(sealed.ciphertext))")
                expected.append("error")
                var altered = sealed.ciphertext
                altered[altered.count - 1] ^= 0x01
                requests.append("open \(common) \(Self.field(item.aad)) \(hex(sealed.enc)) \(hex(altered))")
                expected.append("error")
            }
        }
        let answers = try Self.ask(requests)
        for (index, answer) in answers.enumerated() where index < expected.count {
            if expected[index] == "error" {
                #expect(answer.first == "error", "request \(index) should have been refused: \(requests[index])")
            } else {
                #expect(answer.joined(separator: " ") == expected[index], "request \(index): \(requests[index])")
            }
        }
    }

    @Test(arguments: [HPKE.AEAD.aes256GCM, .aes128GCM])
    func bothPythonImplementationsSealAndSwiftOpens(aead: HPKE.AEAD) throws {
        let recipient = try X25519.generatePrivateKey()
        let publicKey = try X25519.publicKey(of: recipient)
        let dataKey = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let requests = Self.implementations.map {
            "seal \($0) \(aead.rawValue) \(hex(publicKey)) \(Self.field(Self.info)) \(Self.field(Self.aad)) \(hex(dataKey))"
        }
        let answers = try Self.ask(requests)
        var encs: Set<[UInt8]> = []
        for (index, answer) in answers.enumerated() {
            guard answer.count == 3, answer[0] == "ok" else {
                Issue.record("\(Self.implementations[index]) did not seal: \(answer.joined(separator: " "))")
                continue
            }
            let sealed = HPKE.Sealed(enc: bytes(answer[1]), ciphertext: bytes(answer[2]))
            #expect(sealed.enc.count == 32 && sealed.ciphertext.count == 48, "\(Self.implementations[index])")
            encs.insert(sealed.enc)
            let opened = try HPKE.open(sealed, privateKey: recipient, info: Self.info, aad: Self.aad, aead: aead)
            #expect(hex(opened) == hex(dataKey), "\(Self.implementations[index]) sealed, Swift opened")
            // Swift refuses it under another info or aad, as it refuses its own.
            #expect(throws: CryptoError.self) {
                _ = try HPKE.open(sealed, privateKey: recipient, info: Self.info + [0], aad: Self.aad, aead: aead)
            }
            #expect(throws: CryptoError.self) {
                _ = try HPKE.open(
                    sealed, privateKey: recipient, info: Self.info, aad: Array(Self.aad.dropLast()), aead: aead)
            }
        }
        #expect(encs.count == Self.implementations.count, "each seal draws a fresh ephemeral key")
    }

    /// The independent implementation checks itself against RFC 9180 Appendix A.1.1 (every value of the
    /// KEM, key schedule, nonces, exports) and refuses tampered inputs, before it is trusted above.
    @Test func independentImplementationPassesAppendixA11() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3",
            URL(fileURLWithPath: Self.script).deletingLastPathComponent().appendingPathComponent("strongroom_hpke.py")
                .path,
        ]
        let errors = Pipe()
        process.standardOutput = Pipe()
        process.standardError = errors
        try process.run()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "strongroom_hpke.py self-test failed: \(stderr)")
    }

    /// With the ephemeral key fixed, Swift and the independent Python implementation produce the same
    /// bytes for the AES-256-GCM suite: a known answer for the suite the RFC has no vector for.
    @Test func fixedEphemeralKeyGivesTheSameBytesAsTheIndependentImplementation() throws {
        let recipient = try X25519.generatePrivateKey()
        let publicKey = try X25519.publicKey(of: recipient)
        let ephemeral = try X25519.generatePrivateKey()
        let dataKey = try SecureRandom.secretBytes(count: 32)
        let sealed = try HPKE.seal(
            to: publicKey, info: Self.info, aad: Self.aad, plaintext: dataKey, aead: .aes256GCM, ephemeralKey: ephemeral
        )
        let answers = try Self.ask([
            "seal own 2 \(hex(publicKey)) \(Self.field(Self.info)) \(Self.field(Self.aad)) \(hex(dataKey)) \(hex(ephemeral))"
        ])
        #expect(answers.first == ["ok", hex(sealed.enc), hex(sealed.ciphertext)])
    }
}
