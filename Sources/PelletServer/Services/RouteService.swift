import NIOCore
import PelletRouter
import PelletWire

/// Method 1: authenticate, decide, answer. Calls no provider: the decision is pure CPU on the
/// event loop (classifier and policy take microseconds).
public struct RouteService: Service {
    private let authenticator: Authenticator
    /// The router and the providers' health, read on every call.
    private let decider: @Sendable () -> (Router, ProviderHealthSnapshot)

    /// `health` is read on every call: the provider engine's live view of the providers.
    public init(
        router: Router,
        authenticator: Authenticator,
        health: @escaping @Sendable () -> ProviderHealthSnapshot = { .allHealthy }
    ) {
        self.authenticator = authenticator
        self.decider = { (router, health()) }
    }

    /// The catalogue `live` holds at each call, with its providers' breakers and the pairs
    /// `discovery` finds unavailable.
    public init(live: LiveCatalogue, authenticator: Authenticator, discovery: ModelDiscovery?) {
        self.authenticator = authenticator
        self.decider = {
            let setup = live.current
            return (
                setup.router,
                setup.directory.routerHealth(unavailableModels: discovery?.unavailableModels() ?? [:])
            )
        }
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
            let (router, health) = decider()
            let decision = try router.route(request, health: health)
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
