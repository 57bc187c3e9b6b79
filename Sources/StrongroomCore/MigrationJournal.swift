import Foundation

/// The journal of a migration, kept in the destination's blob store as `migration.json` (non-secret
/// JSON, written with the store's atomic replace): which vault is copied into this one, and how far
/// the last run got. A destination that holds shares but no journal naming the source is refused.
public struct MigrationJournal: Codable, Sendable, Hashable {
    /// The phases of a migration, in order.
    public enum Phase: String, Codable, Sendable, Hashable {
        /// Copying and verifying every source version, without the source's lock.
        case copying
        /// Under the source's exclusive lock: copying what was written meanwhile, verifying everything.
        case finalPass = "final-pass"
        /// Every source version is in the destination and equal to it.
        case verified
        /// Erasing the source's shares and records (after ``verified``).
        case erasingSource = "erasing-source"
        /// Finished.
        case done
    }

    /// The blob key of the journal in the destination.
    public static let key = "migration.json"

    /// The journal's format version (1).
    public var format = 1
    /// The source vault's id (hex).
    public var sourceVaultID: String
    /// Where the source lives.
    public var sourceLocation: String
    /// The destination vault's id (hex).
    public var destinationVaultID: String
    /// How far the migration got.
    public var phase: Phase
    /// When the first run began (Unix seconds).
    public var startedAt: UInt64
    /// When the journal was last written (Unix seconds).
    public var updatedAt: UInt64
    /// Runs that began with this journal present (0 for the first).
    public var resumes = 0
    /// Versions and records created in the destination so far (all runs).
    public var copied = 0
    /// Versions and records found already copied by a run (resumes, final passes).
    public var alreadyPresent = 0
    /// Versions and records verified by the last completed verification.
    public var verified = 0
    /// Source shares and records erased so far.
    public var erased = 0

    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(self)) + [0x0A]
        } catch {
            throw StrongroomError(.io, "could not encode the migration journal", cause: "\(error)")
        }
    }

    static func decode(_ bytes: [UInt8], location: String) throws -> MigrationJournal {
        do {
            return try JSONDecoder().decode(MigrationJournal.self, from: Data(bytes))
        } catch {
            throw StrongroomError(
                .integrityCheckFailed,
                "\(location)/\(key) is not a readable migration journal; move it aside only if no migration into this vault is under way",
                cause: "\(error)")
        }
    }
}
