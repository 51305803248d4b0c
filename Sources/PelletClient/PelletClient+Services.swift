import PelletWire

/// Typed calls for the methods of DESIGN.md section 2. Credentials travel inside each request.
extension PelletClient {
    /// Health needs no credentials.
    public func health(_ request: HealthRequest = HealthRequest(), timeout: Duration? = nil) async throws(RPCError)
        -> HealthResponse
    {
        try await call(.health, request, as: HealthResponse.self, timeout: timeout)
    }

    public func route(_ request: RouteRequest, timeout: Duration? = nil) async throws(RPCError) -> RouteResponse {
        try await call(.route, request, as: RouteResponse.self, timeout: timeout)
    }

    public func usage(_ request: UsageRequest, timeout: Duration? = nil) async throws(RPCError) -> UsageResponse {
        try await call(.usage, request, as: UsageResponse.self, timeout: timeout)
    }

    public func account(_ request: AccountRequest, timeout: Duration? = nil) async throws(RPCError) -> AccountResponse {
        try await call(.account, request, as: AccountResponse.self, timeout: timeout)
    }

    /// A Complete call without the STREAM flag: the whole completion in one RESPONSE.
    public func complete(_ request: CompleteRequest, timeout: Duration? = nil) async throws(RPCError)
        -> CompleteResponse
    {
        try await call(.complete, request, as: CompleteResponse.self, timeout: timeout)
    }

    /// A streamed Complete call: `.delta` for each chunk, then `.done` with the final response.
    public func completeStream(_ request: CompleteRequest, timeout: Duration? = nil) -> CompletionStream {
        CompletionStream(responses: stream(.complete, request, timeout: timeout))
    }
}
