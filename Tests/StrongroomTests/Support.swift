import Foundation
import Logging
import SecureCrypto
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

func secret(_ text: String) throws -> SecretBytes {
    try Array(text.utf8).withUnsafeBytes { try SecretBytes(copying: $0) }
}

func text(_ secret: SecretBytes) -> String {
    secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
}

func id(_ text: String) throws -> ShareID { try ShareID(text) }

/// A fresh directory under the system temp dir, mode 0700, removed by `cleanup()`.
struct TemporaryDirectory: Sendable {
    let path: String
    init() throws {
        let base = FileManager.default.temporaryDirectory.path
        let path = "\(base)/strongroom-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        self.path = path
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

let quietLogger = Logger(label: "strongroom.tests") { _ in SwiftLogNoOpLogHandler() }

func mode(of path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

/// The error a test uses to simulate a crash at a fault point.
struct SimulatedCrash: Error, Equatable {}
