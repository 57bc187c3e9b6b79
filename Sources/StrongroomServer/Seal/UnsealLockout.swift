import StrongroomCore

/// The wrong-part counter of a sealed server: after `maxAttempts` wrong custodian parts (a wrong
/// passphrase, a part of another split, a damaged part) unsealing is locked for `baseDelay`, doubled
/// at each further lockout up to ``maximumDelay``. A successful unseal resets both. Times come from
/// the caller (a monotonic clock), so tests can step them.
struct UnsealLockout: Sendable {
    /// The longest lockout: an hour.
    static let maximumDelay: Duration = .seconds(3600)

    let maxAttempts: Int
    let baseDelay: Duration
    /// Wrong parts since the last lockout (or unseal).
    private(set) var wrongParts = 0
    /// Wrong parts since the last unseal, lockouts included (for the audit record).
    private(set) var wrongPartsTotal = 0
    /// Lockouts since the last unseal.
    private(set) var lockouts = 0
    private(set) var lockedUntil: ContinuousClock.Instant?

    init(maxAttempts: Int, baseDelay: Duration) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
    }

    /// The delay of the next lockout: `baseDelay · 2^lockouts`, at most an hour.
    var nextDelay: Duration {
        var delay = baseDelay
        for _ in 0..<min(lockouts, 16) where delay < UnsealLockout.maximumDelay { delay *= 2 }
        return min(delay, UnsealLockout.maximumDelay)
    }

    /// The time left while locked, else nil.
    func remaining(at now: ContinuousClock.Instant) -> Duration? {
        guard let until = lockedUntil, now < until else { return nil }
        return until - now
    }

    /// Throws ``StrongroomError/Code/unsealLockedOut`` (naming the seconds left) while locked.
    func check(at now: ContinuousClock.Instant) throws(StrongroomError) {
        if let left = remaining(at: now) {
            throw StrongroomError(
                .unsealLockedOut,
                "unsealing is locked for \(UnsealLockout.seconds(left)) more second(s) after \(maxAttempts) wrong custodian parts; try again then, with the right parts and passphrases")
        }
    }

    /// Counts a wrong part; returns the lockout it started, if it was the last allowed.
    mutating func recordWrong(at now: ContinuousClock.Instant) -> Duration? {
        wrongParts += 1
        wrongPartsTotal += 1
        guard wrongParts >= maxAttempts else { return nil }
        let delay = nextDelay
        lockedUntil = now + delay
        lockouts += 1
        wrongParts = 0
        return delay
    }

    /// After a successful unseal.
    mutating func reset() {
        wrongParts = 0
        wrongPartsTotal = 0
        lockouts = 0
        lockedUntil = nil
    }

    static func seconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds + (attoseconds > 0 ? 1 : 0)
    }
}
