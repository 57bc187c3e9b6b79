import Foundation
import SecureCrypto

/// The identifier of one protocol run (a DKG, a refresh, a signing): 32 random bytes chosen by whoever
/// starts the run and carried in every message of it, so that messages of different runs never mix.
/// It is public; it is bound into the DKG's proofs of knowledge.
public struct SessionID: Sendable, Hashable, CustomStringConvertible {
    /// The 32 bytes.
    public let bytes: [UInt8]

    /// Bytes in a session id.
    public static let length = 32

    /// A session id from 32 bytes.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == SessionID.length else {
            throw FROSTError(.malformedEncoding, "a session id is \(SessionID.length) bytes, not \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// A session id from 64 hex digits.
    public init(hex: String) throws {
        guard let bytes = Hex.decode(hex.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == SessionID.length else {
            throw FROSTError(.malformedEncoding, "a session id is \(2 * SessionID.length) hex digits")
        }
        self.bytes = bytes
    }

    /// A fresh random session id.
    public static func random() throws -> SessionID {
        try SessionID(bytes: SecureRandom.bytes(count: SessionID.length))
    }

    /// The 64 hex digits.
    public var hex: String { Hex.encode(bytes) }

    /// The first 16 hex digits: enough to tell runs apart in names and messages.
    public var shortHex: String { String(hex.prefix(16)) }

    /// The first 16 hex digits.
    public var description: String { shortHex }
}
