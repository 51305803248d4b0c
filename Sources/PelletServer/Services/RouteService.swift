import NIOCore
import PelletRouter
import PelletWire

/// Method 1: authenticate, decide, answer. Calls no provider: the decision is pure CPU on the
/// event loop (classifier and policy take microseconds).
public struct RouteService: Service {
    private let router: Router
    private let authenticator: Authenticator
    private let health: @Sendable () -> ProviderHealthSnapshot

    /// `health` is read on every call: the provider engine's live view of the providers.
    public init(
        router: Router,
        authenticator: Authenticator,
        health: @escaping @Sendable () -> ProviderHealthSnapshot = { .allHealthy }
    ) {
        self.router = router
        self.authenticator = authenticator
        self.health = health
    }

    public func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        let request: RouteRequest
        do {
            request = try RouteRequest(decoding: payload)
        } catch {
            return .failure(RPCError(.invalidArgument, "Route request: \(error.description)"))
        }
        do {
            let caller = try authenticator.caller(request.credentials)
            context.annotations?.describe(caller)
            let decision = try router.route(request, health: health())
            if let annotations = context.annotations {
                // The offer chosen, though Route calls no provider: what the caller was told to use.
                annotations.model = decision.model
                annotations.provider = decision.provider
            }
            return .reply(RouteResponse(decision: decision))
        } catch {
            return .failure(error)
        }
    }
}
