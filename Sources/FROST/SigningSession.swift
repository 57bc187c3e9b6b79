import Foundation
import SecureCrypto
import Synchronization

/// One round-one commitment of one participant: the single-use nonces behind it and their deadline.
///
/// A session can be used for one signature share, within its lifetime (default 30 s). Its nonces live
/// in locked memory and are wiped when it is used, when it expires (a timer drops them), or when the
/// session is released.
public final class SigningSession: Sendable {
    /// The participant.
    public let identifier: ParticipantID
    /// The share generation its key package belongs to.
    public let epoch: UInt32
    /// What the participant sends to the coordinator.
    public var commitments: SigningCommitments { nonces.commitments }
    /// When the session stops accepting a signing request.
    public let deadline: ContinuousClock.Instant
    let nonces: SigningNonces

    init(identifier: ParticipantID, epoch: UInt32, nonces: SigningNonces, lifetime: Duration) {
        self.identifier = identifier
        self.epoch = epoch
        self.nonces = nonces
        self.deadline = ContinuousClock.now + lifetime
        Task { [weak nonces] in
            try? await Task.sleep(for: lifetime)
            nonces?.wipe()
        }
    }

    /// True once the session was used, wiped or expired.
    public var isSpent: Bool { nonces.isSpent || ContinuousClock.now >= deadline }

    /// Wipes the nonces now.
    public func wipe() { nonces.wipe() }

    deinit { nonces.wipe() }
}
