import Foundation
import Testing

/// Tier 3 rotation after a run was killed while SoftHSM wrote the new KEK object: the object file is
/// cut short after every attribute and inside some (SoftHSM then lists an object with the attributes
/// before the cut, found by label once CKA_LABEL is among them, or, cut inside a value, does not list
/// it), on a token of its own in a SoftHSM token directory of its own, so the cut object is certainly
/// the new KEK.
@Suite struct HSMCrashCLITests {
    let module: String
    static let pin = "1234-crash-pin"
    static let label = "strongroom-crash"

    init() throws {
        let value = ProcessInfo.processInfo.environment["STRONGROOM_TEST_HSM_MODULE"]
        module = try #require(value.flatMap { $0.isEmpty ? nil : $0 }, "STRONGROOM_TEST_HSM_MODULE is not set: run the suite with scripts/test")
    }

    /// Runs a program; fails the test when it does not exit 0.
    @discardableResult
    static func run(_ arguments: [String], environment: [String: String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "\(arguments.joined(separator: " ")): \(output)")
        return output
    }

    /// Where each attribute of a SoftHSM 2.6 object file ends. Its format (ObjectFile.cpp, File.cpp):
    /// an 8-byte generation counter, then per attribute a big-endian 8-byte CKA_ type, an 8-byte
    /// kind, and the value: 1 byte (bool, kind 1), 8 bytes (ulong, kind 2), an 8-byte length and that
    /// many bytes (byte string, kind 3; attribute map, kind 4), or an 8-byte count and that many
    /// 8-byte mechanism types (kind 5).
    static func attributeEnds(_ bytes: [UInt8]) -> [Int] {
        func ulong(_ at: Int) -> Int? {
            guard at + 8 <= bytes.count else { return nil }
            return bytes[at..<(at + 8)].reduce(0) { $0 << 8 | Int($1) }
        }
        var ends: [Int] = []
        var at = 8
        while at < bytes.count, let kind = ulong(at + 8) {
            switch kind {
            case 1: at += 17
            case 2: at += 24
            case 3, 4, 5:
                guard let length = ulong(at + 16) else { return ends }
                at += 24 + (kind == 5 ? 8 * length : length)
            default: return ends
            }
            ends.append(at)
        }
        return ends
    }

    @Test(arguments: [false, true])
    func rotationReplacesAHalfWrittenNextKEK(journalled: Bool) throws {
        var cli = try CLI()
        defer { cli.cleanup() }
        let softhsm = "\(cli.directory)/softhsm"
        let tokens = "\(softhsm)/tokens"
        try FileManager.default.createDirectory(atPath: tokens, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let conf = "\(softhsm)/softhsm2.conf"
        try "directories.tokendir = \(tokens)\nobjectstore.backend = file\nlog.level = ERROR\n".write(toFile: conf, atomically: true, encoding: .utf8)
        // The test runner's own environment (its python3 has python-pkcs11), with the token directory.
        var environment = ProcessInfo.processInfo.environment
        environment["SOFTHSM2_CONF"] = conf
        try HSMCrashCLITests.run(
            ["softhsm2-util", "--init-token", "--free", "--label", HSMCrashCLITests.label, "--pin", HSMCrashCLITests.pin, "--so-pin", "5678-crash-so"],
            environment: environment)
        cli.environment["SOFTHSM2_CONF"] = conf
        cli.environment["STRONGROOM_HSM_PIN"] = HSMCrashCLITests.pin
        let config = try cli.writeConfig(
            "hsm.yaml", "tier: hsm\nhsm:\n  module: \(module)\n  tokenLabel: \(HSMCrashCLITests.label)\n  blobPath: \(cli.vault)\n")
        let created = try cli.run(["init", "--config", config])
        try #require(created.status == 0, "\(created.stderr)")
        try #require(try cli.run(["put", "--config", config, "alice"], stdin: Data("before the crash".utf8)).status == 0)
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(cli.vault)/vault.json"))) as? [String: Any]
        let vaultID = try #require(state?["vaultID"] as? String)

        // A rotation generated KEK version 2 (as Strongroom does: same label, id and attributes)…
        let slot = try #require(try FileManager.default.contentsOfDirectory(atPath: tokens).first)
        func objects() throws -> Set<String> {
            Set(try FileManager.default.contentsOfDirectory(atPath: "\(tokens)/\(slot)").filter { $0.hasSuffix(".object") && $0 != "token.object" })
        }
        let before = try objects()
        environment["STRONGROOM_CRASH_PIN"] = HSMCrashCLITests.pin
        try HSMCrashCLITests.run(
            [
                "python3", "-c",
                """
                import os, sys, pkcs11
                from pkcs11 import Attribute, KeyType
                lib = pkcs11.lib(sys.argv[1])
                with lib.get_token(token_label=sys.argv[2]).open(user_pin=os.environ["STRONGROOM_CRASH_PIN"], rw=True) as s:
                    s.generate_key(KeyType.AES, 256, label=sys.argv[3], id=bytes.fromhex(sys.argv[4]), store=True, template={
                        Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                        Attribute.WRAP: True, Attribute.UNWRAP: True, Attribute.ENCRYPT: False, Attribute.DECRYPT: False})
                """,
                module, HSMCrashCLITests.label, "strongroom/\(vaultID)/kek/2", vaultID + "00000002",
            ], environment: environment)
        let made = try objects().subtracting(before)
        try #require(made.count == 1, "\(made)")
        let object = "\(tokens)/\(slot)/\(made.first!)"
        let whole = [UInt8](try Data(contentsOf: URL(fileURLWithPath: object)))
        let ends = HSMCrashCLITests.attributeEnds(whole)
        try #require(ends.last == whole.count, "the object file did not parse: \(ends) of \(whole.count) bytes")

        // …and was killed while SoftHSM wrote it: the file ends after any attribute, or inside one.
        let backup = "\(cli.directory)/backup"
        try FileManager.default.copyItem(atPath: softhsm, toPath: "\(backup)-softhsm")
        try FileManager.default.copyItem(atPath: cli.vault, toPath: "\(backup)-vault")
        // After each attribute but the last (SoftHSM lists an object with the attributes before the
        // cut), inside some attributes' type field (read as the end of the file: the same), and
        // inside some values (SoftHSM marks the object invalid and does not list it).
        var cuts = Array(ends.dropLast())
        cuts += stride(from: 3, to: ends.count - 1, by: 4).flatMap { [ends[$0] + 5, ends[$0] + 12] }
        if journalled { cuts = stride(from: 0, to: cuts.count, by: 2).map { cuts[$0] } }
        for cut in cuts {
            for path in [softhsm, cli.vault] { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.copyItem(atPath: "\(backup)-softhsm", toPath: softhsm)
            try FileManager.default.copyItem(atPath: "\(backup)-vault", toPath: cli.vault)
            let handle = try #require(FileHandle(forWritingAtPath: object))
            try handle.truncate(atOffset: UInt64(cut))
            try handle.close()
            if journalled {
                // An earlier release wrote the rotation journal naming the unusable KEK before it failed.
                var journal = state ?? [:]
                journal["currentKEKVersion"] = 2
                journal["rotation"] = ["target": 2, "startedAt": Int(Date().timeIntervalSince1970)]
                try JSONSerialization.data(withJSONObject: journal, options: [.sortedKeys, .prettyPrinted])
                    .write(to: URL(fileURLWithPath: "\(cli.vault)/vault.json"))
            }
            let rotated = try cli.run(["rotate", "--config", config])
            #expect(rotated.status == 0, "cut at \(cut) of \(whole.count) bytes: \(rotated.stdout)\(rotated.stderr)")
            #expect(rotated.stdout.contains("rotated to KEK version 2"), "cut at \(cut): \(rotated.stdout)")
            let got = try cli.run(["get", "--config", config, "--stdout", "alice"])
            #expect(got.stdout == "before the crash", "cut at \(cut): \(got.stderr)")
            let put = try cli.run(["put", "--config", config, "alice"], stdin: Data("after cut \(cut)".utf8))
            #expect(put.status == 0, "cut at \(cut): \(put.stderr)")
            #expect(try cli.run(["get", "--config", config, "--stdout", "alice"]).stdout == "after cut \(cut)")
            let again = try cli.run(["rotate", "--config", config])
            #expect(again.status == 0, "cut at \(cut): \(again.stderr)")
        }
    }
}
