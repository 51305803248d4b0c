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
            _ = try authenticator.caller(request.credentials)
            let (router, health) = decider()
            return .reply(RouteResponse(decision: try router.route(request, health: health)))
        } catch {
            return .failure(error)
        }
    }
}
