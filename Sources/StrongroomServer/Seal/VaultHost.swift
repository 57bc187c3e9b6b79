import Logging
import SecureCrypto
import Strongroom
import StrongroomCore

/// The vault a server serves: open, or (a sealed tier 1 vault) sealed until custodian parts unseal it.
///
/// SKELETON (lane seal replaces this file, keeping these signatures): opens the store at start and
/// knows no sealed mode.
public final class VaultHost: Sendable {
    /// The configuration the vault was opened with.
    public let configuration: StrongroomConfiguration
    private let opened: ShareStore

    /// Opens the configured vault (a sealed one stays sealed: ``store()`` throws
    /// ``StrongroomError/Code/sealed`` until ``unseal(part:passphrase:source:identity:)`` completes).
    public init(configuration: StrongroomConfiguration, logger: Logger) async throws {
        self.configuration = configuration
        self.opened = try await ShareStore.open(configuration: configuration, logger: logger)
    }

    /// The open store; throws ``StrongroomError/Code/sealed`` while sealed.
    public func store() throws(StrongroomError) -> ShareStore { opened }

    /// Whether the vault is sealed now, and the unseal progress.
    public var sealStatus: SealStatus { SealStatus(sealed: false, partsReceived: 0, threshold: 0, custodians: 0) }

    /// Takes one custodian part (the part file's bytes and its passphrase, wiped when done). Returns
    /// the progress; unseals the vault when the threshold is reached. A wrong part is counted, and
    /// after `seal.maxAttempts` wrong parts unsealing is locked for a delay that doubles each time
    /// (``StrongroomError/Code/unsealLockedOut``, naming the time left).
    public func unseal(part: [UInt8], passphrase: SecretBytes, source: String, identity: PeerIdentity) async throws -> SealStatus {
        throw StrongroomError(.invalidInput, "this vault is not sealed: it has no custodian parts (local.seal is not sealed)")
    }

    /// Wipes the root seed from memory at once and returns to the sealed state; false when already
    /// sealed (or the vault has no sealed mode).
    public func seal(identity: PeerIdentity) async throws -> Bool {
        throw StrongroomError(.invalidInput, "this vault is not sealed: it has no custodian parts (local.seal is not sealed)")
    }
}

/// A sealed vault's unseal progress.
public struct SealStatus: Sendable, Hashable {
    public var sealed: Bool
    public var partsReceived: Int
    public var threshold: Int
    public var custodians: Int

    public init(sealed: Bool, partsReceived: Int, threshold: Int, custodians: Int) {
        self.sealed = sealed
        self.partsReceived = partsReceived
        self.threshold = threshold
        self.custodians = custodians
    }
}
