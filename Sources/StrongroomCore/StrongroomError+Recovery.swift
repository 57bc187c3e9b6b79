extension StrongroomError.Code {
    /// The vault's tier cannot seal a share under a data key the store made (its ``Keyring`` does not
    /// implement ``Keyring/seal(_:dataKey:associatedData:kekVersion:)``), so it cannot take a
    /// recovery key. Nothing was changed.
    public static let recoveryUnsupported = StrongroomError.Code("recovery key unsupported", exitStatus: 69)
    /// A blob cannot be opened through a recovery section: it has none (written before the recovery
    /// key was enrolled), or it names another recovery key, or the private key given is not the
    /// vault's recovery key.
    public static let notRecoverable = StrongroomError.Code("not recoverable", exitStatus: 65)
}

extension StrongroomError.Code {
    /// A recovery key enrolment left some share versions without a recovery section (they could not
    /// be opened or re-sealed); it stays pending and the next run continues it.
    public static let recoveryEnrolmentIncomplete = StrongroomError.Code("recovery enrolment incomplete", exitStatus: 65)
}
