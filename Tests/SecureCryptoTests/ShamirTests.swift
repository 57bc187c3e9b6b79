import Foundation
import SecureCrypto
import Testing

@Suite struct ShamirTests {
    // MARK: Field arithmetic

    /// FIPS 197 (AES), section 4.2: {57}•{83} = {c1} and {57}•{13} = {fe}; section 5.1.1 / 4.4: {53} and
    /// {ca} are inverses ({53}•{ca} = {01}).
    @Test(arguments: [(0x57, 0x83, 0xC1), (0x57, 0x13, 0xFE), (0x53, 0xCA, 0x01), (0x02, 0x80, 0x1B), (0x00, 0xFF, 0x00)])
    func fieldMultiplicationKnownAnswers(a: Int, b: Int, product: Int) {
        #expect(GF256.multiply(UInt8(a), UInt8(b)) == UInt8(product))
        #expect(GF256.multiply(UInt8(b), UInt8(a)) == UInt8(product))
    }

    /// The constant-time multiply agrees with a plain branchy reference on all 65,536 pairs, and every
    /// non-zero element times its inverse is 1 ({53}^-1 = {ca}, FIPS 197).
    @Test func fieldMatchesReferenceEverywhere() {
        func reference(_ a: UInt8, _ b: UInt8) -> UInt8 {
            var a = UInt16(a), b = b, p: UInt16 = 0
            while b != 0 {
                if b & 1 == 1 { p ^= a }
                a <<= 1
                if a & 0x100 != 0 { a ^= 0x11B }
                b >>= 1
            }
            return UInt8(p)
        }
        var mismatches = 0
        for a in 0...255 {
            for b in 0...255 where GF256.multiply(UInt8(a), UInt8(b)) != reference(UInt8(a), UInt8(b)) {
                mismatches += 1
            }
        }
        #expect(mismatches == 0)
        #expect(GF256.inverse(0x53) == 0xCA)
        #expect(GF256.inverse(0) == 0)
        for a in 1...255 { #expect(GF256.multiply(UInt8(a), GF256.inverse(UInt8(a))) == 1, "inverse of \(a)") }
    }

    // MARK: Any T of N recover

    static func subsets(of count: Int, size: Int) -> [[Int]] {
        guard size > 0 else { return [[]] }
        guard count >= size else { return [] }
        return subsets(of: count - 1, size: size - 1).map { $0 + [count - 1] } + subsets(of: count - 1, size: size)
    }

    @Test(arguments: [(2, 2), (2, 3), (3, 5), (5, 5), (4, 7), (2, 6)])
    func everySubsetOfThresholdSizeRecovers(threshold: Int, parts: Int) throws {
        let original = try SecureRandom.secretBytes(count: 32)
        let shares = try Shamir.split(original, threshold: threshold, parts: parts)
        #expect(shares.map(\.index) == (1...parts).map { UInt8($0) })
        #expect(shares.allSatisfy { $0.value.count == 32 })
        for size in threshold...parts {
            for subset in ShamirTests.subsets(of: parts, size: size) {
                let rebuilt = try Shamir.combine(subset.map { shares[$0] }, minimumParts: threshold)
                #expect(rebuilt == original, "subset \(subset.map { $0 + 1 }) of \(threshold)-of-\(parts)")
                // Order does not matter.
                #expect(try Shamir.combine(subset.reversed().map { shares[$0] }) == original)
            }
        }
        // One part too few gives some other value (a check the caller must do; here it always differs
        // for a 32-byte random secret except with probability 2^-256).
        for subset in ShamirTests.subsets(of: parts, size: threshold - 1) where subset.count >= 2 {
            #expect(try Shamir.combine(subset.map { shares[$0] }) != original)
        }
    }

    @Test(arguments: [(10, 20), (3, 255), (200, 255), (255, 255)])
    func randomSubsetsOfLargeSplitsRecover(threshold: Int, parts: Int) throws {
        let original = try SecureRandom.secretBytes(count: 33)
        let shares = try Shamir.split(original, threshold: threshold, parts: parts)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<8 {
            let subset = Array(shares.shuffled(using: &generator).prefix(Int.random(in: threshold...parts)))
            #expect(try Shamir.combine(subset, minimumParts: threshold) == original)
        }
    }

    // MARK: T − 1 parts reveal nothing

    /// For T − 1 parts of a split, every one of the 256 possible values of a secret byte fits: adding one
    /// made-up part at an unused index turns them into T parts that combine to that value, and the 256
    /// made-up parts are all different (one polynomial per candidate). So T − 1 parts rule nothing out.
    @Test(arguments: [(2, 3), (3, 5), (5, 5), (4, 9)])
    func fewerThanThresholdPartsFitEverySecret(threshold: Int, parts: Int) throws {
        let original = try SecureRandom.secretBytes(count: 1)
        let seen = Array(try Shamir.split(original, threshold: threshold, parts: parts).prefix(threshold - 1))
        let unused = UInt8(parts + 1)
        // Lagrange basis at `unused` for the points 0 and the seen indices.
        let points: [UInt8] = [0] + seen.map(\.index)
        func basis(_ i: Int, at x: UInt8) -> UInt8 {
            var value: UInt8 = 1
            for m in points.indices where m != i {
                value = GF256.multiply(value, GF256.multiply(x ^ points[m], GF256.inverse(points[i] ^ points[m])))
            }
            return value
        }
        let seenBytes = seen.map { part in part.value.withUnsafeBytes { $0[0] } }
        var madeUp = Set<UInt8>()
        for candidate in 0...255 {
            var y = GF256.multiply(basis(0, at: unused), UInt8(candidate))
            for (i, byte) in seenBytes.enumerated() { y ^= GF256.multiply(basis(i + 1, at: unused), byte) }
            madeUp.insert(y)
            let extra = Shamir.Part(index: unused, value: try secret(bytes: [y]))
            let rebuilt = try Shamir.combine(seen + [extra], minimumParts: threshold)
            #expect(rebuilt.withUnsafeBytes { $0[0] } == UInt8(candidate), "candidate \(candidate)")
        }
        #expect(madeUp.count == 256)
    }

    /// Over many splits of one fixed secret, the bytes of a part are uniform (a chi-square test over 256
    /// values), and the same for an all-0x00 and an all-0xFF secret: a part's value does not depend on
    /// the secret. Critical value: chi-square with 255 degrees of freedom exceeds 420 with probability
    /// 3.4 × 10^-10 (scipy.stats.chi2.sf); a degenerate coefficient (say, zero) gives a statistic in the
    /// hundreds of thousands.
    @Test(arguments: [(0x00, 2), (0xFF, 2), (0x5A, 3)])
    func aSinglePartIsUniformWhateverTheSecret(fill: Int, threshold: Int) throws {
        let original = try secret(bytes: [UInt8](repeating: UInt8(fill), count: 256))
        var counts = [Int](repeating: 0, count: 256)
        let splits = 200
        for _ in 0..<splits {
            let part = try Shamir.split(original, threshold: threshold, parts: threshold)[threshold - 1]
            part.value.withUnsafeBytes { for byte in $0 { counts[Int(byte)] += 1 } }
        }
        let expected = Double(splits * 256) / 256
        let chiSquare = counts.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
        #expect(chiSquare < 420, "chi-square \(chiSquare) over 255 degrees of freedom")
    }

    // MARK: Refusals

    @Test func refusesBadParameters() throws {
        let original = try SecureRandom.secretBytes(count: 16)
        for (threshold, parts) in [(1, 3), (0, 2), (4, 3), (2, 256), (-1, 5)] {
            #expect(throws: CryptoError.self, "T \(threshold) N \(parts)") {
                try Shamir.split(original, threshold: threshold, parts: parts)
            }
        }
        #expect(throws: CryptoError.self) { try Shamir.split(try secret(bytes: []), threshold: 2, parts: 3) }
    }

    @Test func refusesBadParts() throws {
        let original = try SecureRandom.secretBytes(count: 16)
        let shares = try Shamir.split(original, threshold: 3, parts: 5)
        func reason(_ parts: [Shamir.Part], minimum: Int = 2) -> String? {
            do {
                _ = try Shamir.combine(parts, minimumParts: minimum)
                return nil
            } catch {
                #expect(error.code == .invalidInput)
                return error.reason
            }
        }
        #expect(reason([shares[0], shares[1], shares[0]])?.contains("same index 1") == true)
        #expect(reason([shares[0], Shamir.Part(index: 0, value: shares[1].value), shares[2]])?.contains("index 0") == true)
        let short = Shamir.Part(index: 4, value: try SecureRandom.secretBytes(count: 15))
        #expect(reason([shares[0], shares[1], short])?.contains("differ in length") == true)
        #expect(reason([shares[0], shares[1]], minimum: 3)?.contains("at least 3 parts, got 2") == true)
        #expect(reason([shares[0]])?.contains("at least 2 parts, got 1") == true)
        #expect(reason([])?.contains("got 0") == true)
    }

    /// Parts print their index and length, never their bytes.
    @Test func partsDoNotPrintTheirBytes() throws {
        let part = try Shamir.split(try secret("00112233445566778899aabbccddeeff"), threshold: 2, parts: 2)[0]
        #expect("\(part)" == "Shamir.Part(index 1, 16 bytes)")
        #expect(!String(reflecting: part).contains(hex(part.value)))
    }

    // MARK: Cross-check with the independent Python implementation

    /// scripts/recovery/custodian_parts.py (written from docs/recovery.md, sharing no code) splits a
    /// secret; Swift's combine rebuilds it from every 3 of its 5 parts.
    @Test func combinesWhatThePythonImplementationSplit() throws {
        let original = try SecureRandom.secretBytes(count: 32)
        let output = try runPython(["split", "--threshold", "3", "--parts", "5"], input: hex(original) + "\n")
        let parts = try output.split(separator: "\n").map { line in
            let fields = line.split(separator: " ")
            return Shamir.Part(index: UInt8(fields[0])!, value: try secret(String(fields[1])))
        }
        #expect(parts.count == 5)
        for subset in ShamirTests.subsets(of: 5, size: 3) {
            #expect(try Shamir.combine(subset.map { parts[$0] }, minimumParts: 3) == original)
        }
    }
}

/// Runs scripts/recovery/custodian_parts.py with `arguments`, `input` on standard input; its output.
func runPython(_ arguments: [String], input: String) throws -> String {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/recovery/custodian_parts.py").path
    return try runPythonProcess([script] + arguments, input: input)
}

func runPythonProcess(_ arguments: [String], input: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3"] + arguments
    let out = Pipe(), err = Pipe(), stdin = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = stdin
    try process.run()
    try stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "python3 \(arguments.first ?? "") failed: \(errors)")
    return output
}
