import PelletStore
import PelletWire

extension RPCError {
    /// Complete's answer while the store cannot take writes: RESOURCE_EXHAUSTED when the map is
    /// full (the operator must make room), UNAVAILABLE otherwise. Health shows the same message.
    public static func completeRefused(_ refusal: StoreError) -> RPCError {
        RPCError(
            refusal.kind == .mapFull ? .resourceExhausted : .unavailable,
            "Complete is refused because its calls could not be metered: \(refusal.message)")
    }

    /// A call whose metering could not be committed is not answered OK.
    static func meteringFailed(_ error: any Error) -> RPCError {
        let status: Status
        switch (error as? StoreError)?.kind {
        case .mapFull?: status = .resourceExhausted
        case .notFound?: status = .notFound
        default: status = .unavailable
        }
        return RPCError(status, "the call could not be metered, so it is not answered OK: \(error)")
    }
}
