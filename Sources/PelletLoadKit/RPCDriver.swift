import NIOCore
import PelletClient
import PelletWire

/// Calls a Pellet server over `connections` PelletClient connections, each carrying its
/// workers' calls multiplexed.
///
/// Requests are encoded once per prompt, before the run; a call only copies its payload into a
/// frame. Answers are not decoded: a load test needs their status, not their content.
final class RPCDriver: CallDriver {
    private let clients: [PelletClient]
    private let method: LoadMethod
    /// One encoded request per prompt (for Health and Usage, every entry is the same).
    private let payloads: [ByteBuffer]

    private init(clients: [PelletClient], method: LoadMethod, payloads: [ByteBuffer]) {
        self.clients = clients
        self.method = method
        self.payloads = payloads
    }

    static func connect(_ configuration: LoadConfiguration, address: PelletAddress) async throws(LoadError) -> RPCDriver
    {
        var clients: [PelletClient] = []
        for index in 0..<configuration.connections {
            do {
                clients.append(try await PelletClient.connect(to: address, tls: configuration.tls))
            } catch {
                for client in clients { await client.close() }
                let which =
                    configuration.connections > 1 ? " (connection \(index + 1) of \(configuration.connections))" : ""
                // The client's own message already names the address when the socket was not reached.
                let reason =
                    error.message.hasPrefix("could not connect")
                    ? error.message : "cannot connect to \(address): \(error.message)"
                throw LoadError(reason + which)
            }
        }
        return RPCDriver(clients: clients, method: configuration.method, payloads: encodedRequests(configuration))
    }

    static func encodedRequests(_ configuration: LoadConfiguration) -> [ByteBuffer] {
        let credentials = Credentials(apiKey: configuration.apiKey)
        return configuration.prompts.map { prompt in
            let messages = [ChatMessage(role: "user", content: prompt)]
            var buffer = ByteBufferAllocator().buffer(capacity: 256)
            switch configuration.method {
            case .route:
                RouteRequest(
                    credentials: credentials,
                    messages: messages,
                    model: configuration.model,
                    preference: configuration.preference,
                    maxTokens: UInt32(configuration.maxTokens)
                ).encode(into: &buffer)
            case .complete, .completeStream:
                CompleteRequest(
                    credentials: credentials,
                    messages: messages,
                    model: configuration.model,
                    preference: configuration.preference,
                    maxTokens: UInt32(configuration.maxTokens)
                ).encode(into: &buffer)
            case .usage:
                UsageRequest(credentials: credentials).encode(into: &buffer)
            case .health:
                HealthRequest().encode(into: &buffer)
            case .ping:
                break
            }
            return buffer
        }
    }

    func call(prompt: Int, connection: Int, slot: Int) async -> CallResult {
        let client = clients[connection]
        do {
            switch method {
            case .ping:
                _ = try await client.ping()
            case .completeStream:
                // The first chunk is timed when it reaches the connection's event loop, as
                // HTTPDriver times the provider's first content delta on its own loop: the hop
                // on to this task is the client's, the same for every server.
                let arrival = StreamArrival()
                for try await _ in client.streamRaw(
                    method: Method.complete.rawValue, payload: payloads[prompt], arrival: arrival)
                {}
                return CallResult(.ok, firstChunkAt: arrival.firstMessageUptimeNanoseconds)
            case .route:
                _ = try await client.callRaw(method: Method.route.rawValue, payload: payloads[prompt])
            case .complete:
                _ = try await client.callRaw(method: Method.complete.rawValue, payload: payloads[prompt])
            case .usage:
                _ = try await client.callRaw(method: Method.usage.rawValue, payload: payloads[prompt])
            case .health:
                _ = try await client.callRaw(method: Method.health.rawValue, payload: payloads[prompt])
            }
            return CallResult(.ok)
        } catch {
            return CallResult(Self.outcome(of: error))
        }
    }

    /// The client reports a lost connection as UNAVAILABLE with a message of its own ("connection
    /// to ADDRESS closed", "could not connect to ..."); the report counts it as a transport
    /// error, apart from a server's UNAVAILABLE (no provider could serve).
    static func outcome(of error: RPCError) -> LoadOutcome {
        if error.status == .unavailable,
            error.message.hasPrefix("connection to ") || error.message.hasPrefix("could not connect to ")
        {
            return .transportError
        }
        return .status(error.status)
    }

    func close() async {
        for client in clients { await client.close() }
    }
}
