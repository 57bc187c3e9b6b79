import Foundation
import SecureCrypto
import Synchronization
import Testing

@Suite struct SecretBytesTests {
    // A distinctive secret, so that any leak of it into text is easy to spot.
    static let secretText = "correct horse battery staple 7f3a"
    static var secretBytes: [UInt8] { Array(secretText.utf8) }

    /// Every rendering of the secret's bytes that a careless formatter might produce.
    static func leaks(_ text: String) -> Bool {
        let raw = secretBytes
        return text.contains(secretText) || text.contains(hex(raw)) || text.contains(hex(raw).uppercased())
            || text.contains(raw.map(String.init).joined(separator: ", "))
            || text.contains(Data(raw).base64EncodedString())
    }

    @Test func descriptionsShowOnlyTypeAndLength() throws {
        let value = try secret(bytes: SecretBytesTests.secretBytes)
        #expect(value.description == "SecretBytes(33 bytes)")
        #expect(value.debugDescription == "SecretBytes(33 bytes)")
        #expect("\(value)" == "SecretBytes(33 bytes)")
        #expect(String(reflecting: value) == "SecretBytes(33 bytes)")
        var dumped = ""
        dump(value, to: &dumped)
        let optional: SecretBytes? = value
        for text in [value.description, value.debugDescription, "\(value)", "\(String(describing: optional))",
            "\([value])", dumped, String(reflecting: [value])]
        {
            #expect(!SecretBytesTests.leaks(text), "leaked in: \(text)")
        }
    }

    @Test func isNotCodable() {
        #expect(!(SecretBytes.self is any Encodable.Type))
        #expect(!(SecretBytes.self is any Decodable.Type))
    }

    @Test func thrownErrorsDoNotCarryTheBytes() throws {
        let key = try secret(bytes: Array(SecretBytesTests.secretBytes.prefix(32)))
        let plaintext = try secret(bytes: SecretBytesTests.secretBytes)
        let iv = [UInt8](repeating: 7, count: 12)
        let sealed = try AESGCM.seal(plaintext, key: key, iv: iv, aad: [])
        var tag = sealed.tag
        tag[0] ^= 1
        let error = #expect(throws: CryptoError.self) {
            try AESGCM.open(AESGCM.Sealed(ciphertext: sealed.ciphertext, tag: tag), key: key, iv: iv, aad: [])
        }
        let rendered = [error.map { "\($0)" } ?? "", error.map { String(reflecting: $0) } ?? ""]
        for text in rendered { #expect(!SecretBytesTests.leaks(text)) }
        let keyError = #expect(throws: CryptoError.self) { try AESKeyWrap.wrap(plaintext, kek: key) }
        #expect(!SecretBytesTests.leaks("\(String(describing: keyError))"))
    }

    @Test func equalityIsByValue() throws {
        let a = try secret(bytes: [1, 2, 3, 4])
        let b = try secret(bytes: [1, 2, 3, 4])
        let c = try secret(bytes: [1, 2, 3, 5])
        let d = try secret(bytes: [1, 2, 3])
        #expect(a == b)
        #expect(a != c)
        #expect(a != d)
        #expect([UInt8]([1, 2, 3, 4]).withUnsafeBytes { a.constantTimeEquals($0) })
    }

    /// Sizes no other test uses: one served from a shared slab slot (4096 bytes), one with an
    /// allocation of its own.
    @Test(.serialized, arguments: [(4093, 4096), (10_007, 10_007)])  // one process-wide observer: one case at a time
    func memoryIsZeroedWhenReleased(size: Int, allocation: Int) throws {
        let seen = Mutex<(count: Int, nonZero: Int)>((0, 0))
        SecretBytes.wipeObserver.withLock { observer in
            observer = { buffer in
                guard buffer.count == allocation else { return }
                let nonZero = buffer.reduce(0) { $0 + ($1 == 0 ? 0 : 1) }
                seen.withLock { $0.count += 1; $0.nonZero += nonZero }
            }
        }
        defer { SecretBytes.wipeObserver.withLock { $0 = nil } }
        do {
            let value = try SecretBytes(count: size) { buffer in
                for index in 0..<size { buffer[index] = UInt8(truncatingIfNeeded: index | 1) }
            }
            #expect(value.withUnsafeBytes { $0.allSatisfy { $0 != 0 } })
        }
        let result = seen.withLock { $0 }
        #expect(result.count >= 1)
        #expect(result.nonZero == 0)
    }

    @Test func reusedSlotsStartZeroed() throws {
        for _ in 0..<100 {
            let dirty = try SecretBytes(count: 48) { $0.initializeMemory(as: UInt8.self, repeating: 0xA5) }
            _ = dirty
            let fresh = try SecretBytes(capacity: 48) { _ in 48 }
            #expect(fresh.withUnsafeBytes { $0.allSatisfy { $0 == 0 } })
        }
    }

    @Test func failedInitialiserWipesAndRethrows() throws {
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try SecretBytes(count: 16) { buffer in
                buffer.storeBytes(of: UInt64.max, as: UInt64.self)
                throw Boom()
            }
        }
    }

    @Test func shorterInitialisationSetsCount() throws {
        let value = try SecretBytes(capacity: 64) { buffer in
            buffer[0] = 9
            return 1
        }
        #expect(value.count == 1)
        #expect(value.withUnsafeBytes { Array($0) } == [9])
    }
}
