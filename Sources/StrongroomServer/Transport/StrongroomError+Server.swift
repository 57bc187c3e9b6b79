import StrongroomCore

extension StrongroomError.Code {
    /// `strongroom serve` found a live server on its socket path (something answered a connect) and
    /// did not start; the running one is left alone.
    public static let serverAlreadyListening = StrongroomError.Code("server already listening", exitStatus: 75)
    /// `strongroom serve` could not bind or serve a listener (address in use, TLS files unusable).
    public static let serverUnavailable = StrongroomError.Code("server unavailable", exitStatus: 69)
}
