import NIOCore
import NIOPosix
import NIOSSL
import PelletWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A connection to a Pellet server that carries any number of concurrent calls.
///
/// Calls are multiplexed over the one connection by stream id; their answers may arrive in any
/// order. Every failure is an `RPCError`: the server's, or one of these from the client itself:
/// - UNAVAILABLE: the connection could not be made or closed ("connection to ADDRESS closed"), or
///   the server sent GOAWAY ("the server is going away: ...").
/// - CANCELLED: the caller's task was cancelled (the server is sent CANCEL).
/// - DEADLINE_EXCEEDED: no answer within the call's timeout plus one second.
/// - INTERNAL: the server broke the protocol or sent a response that does not decode.
///
/// The event loop group must outlive the client.
public final class PelletClient: Sendable {
    /// The largest frame payload the client accepts from a server.
    public static let maxPayloadBytes = 64 << 20
    public static let defaultPingPayload: [UInt8] = Array("pelletpg".utf8)

    public let address: PelletAddress
    private let channel: any Channel
    private let connection: NIOLoopBound<ClientConnectionHandler>

    private init(address: PelletAddress, channel: any Channel, connection: NIOLoopBound<ClientConnectionHandler>) {
        self.address = address
        self.channel = channel
        self.connection = connection
    }

    deinit {
        channel.close(promise: nil)
    }

    /// Connects and exchanges prefaces. `connectTimeout` bounds the socket connect and, separately,
    /// the wait for the server's preface.
    ///
    /// Throws UNAVAILABLE when the server cannot be reached, or the server's GOAWAY reason when
    /// it refuses the connection. `tls` applies to a `tls://` address only; its files are read
    /// here (INVALID_ARGUMENT when one cannot be used).
    public static func connect(
        to address: PelletAddress,
        tls: ClientTLSOptions = ClientTLSOptions(),
        group: (any EventLoopGroup)? = nil,
        connectTimeout: Duration = .seconds(5)
    ) async throws(RPCError) -> PelletClient {
        let bootstrap = ClientBootstrap(group: group ?? MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(TimeAmount(connectTimeout))
        let tlsContext: NIOSSLContext?
        let serverHostname: String?
        if case .tls(let host, _) = address {
            tlsContext = try tls.makeContext()
            serverHostname = ClientTLSOptions.serverHostname(host)
        } else {
            (tlsContext, serverHostname) = (nil, nil)
        }
        let initialize: @Sendable (any Channel) -> EventLoopFuture<Connection> = { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tlsContext {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname))
                }
                let handler = ClientConnectionHandler(
                    address: address,
                    handshakeTimeout: connectTimeout,
                    eventLoop: channel.eventLoop
                )
                let pipeline = channel.pipeline.syncOperations
                try pipeline.addHandler(ByteToMessageHandler(ClientFrameDecoder(maxPayloadBytes: maxPayloadBytes)))
                try pipeline.addHandler(handler)
                return Connection(
                    channel: channel,
                    handler: NIOLoopBound(handler, eventLoop: channel.eventLoop),
                    handshake: handler.handshakeFuture
                )
            }
        }

        let connection: Connection
        do {
            switch address {
            case .unix(let path):
                connection = try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: initialize)
            case .tcp(let host, let port), .tls(let host, let port):
                connection = try await bootstrap.connect(host: host, port: port, channelInitializer: initialize)
            }
        } catch {
            throw RPCError(.unavailable, "could not connect to \(address): \(describe(error))")
        }

        do {
            try await connection.handshake.get()
        } catch {
            connection.channel.close(promise: nil)
            throw error as? RPCError
                ?? RPCError(.unavailable, "connection to \(address) failed: \(describe(error))")
        }
        return PelletClient(address: address, channel: connection.channel, connection: connection.handler)
    }

    /// Closes the connection. Calls still in flight fail with UNAVAILABLE.
    public func close() async {
        _ = try? await channel.close().get()
    }

    // MARK: Unary calls

    /// Calls `method` and decodes its one RESPONSE as `Response`; a status other than OK is thrown
    /// as the server's `RPCError`.
    ///
    /// `timeout` goes to the server in the REQUEST (nil = the server's default) and arms a local
    /// timer of `timeout` + 1 s.
    public func call<Request: WireMessage, Response: WireMessage>(
        _ method: PelletWire.Method,
        _ request: Request,
        as responseType: Response.Type = Response.self,
        timeout: Duration? = nil
    ) async throws(RPCError) -> Response {
        let outbound = OutboundRequest(method: method.rawValue, flags: 0, timeout: timeout, message: request)
        let payload = try await finalPayload(of: makeCall(outbound))
        do {
            return try Response(decoding: payload)
        } catch {
            throw RPCError(.internal, "the server's answer to the \(method) call does not decode: \(error.description)")
        }
    }

    /// Sends `payload` as is under any method number and returns the OK payload undecoded: for
    /// tests of unknown methods and bad payloads. With the STREAM flag, MESSAGE frames are skipped
    /// and the END payload is returned.
    public func callRaw(
        method: UInt16,
        payload: ByteBuffer,
        flags: UInt8 = 0,
        timeout: Duration? = nil
    ) async throws(RPCError) -> ByteBuffer {
        try await finalPayload(of: makeCall(OutboundRequest(method: method, flags: flags, timeout: timeout, payload: payload)))
    }

    private func finalPayload(of call: CallHandle) async throws(RPCError) -> ByteBuffer {
        while let event = try await call.next() {
            if case .end(let payload) = event { return payload }
        }
        throw RPCError(.internal, "the call on \(address) ended without a response")
    }

    // MARK: Streamed calls

    /// Calls `method` with the STREAM flag. The call is sent when iteration starts; each
    /// iteration is a call of its own. Breaking out of the loop or cancelling the task sends
    /// CANCEL.
    public func stream<Request: WireMessage>(
        _ method: PelletWire.Method,
        _ request: Request,
        timeout: Duration? = nil
    ) -> ResponseStream {
        ResponseStream(
            client: self,
            request: OutboundRequest(method: method.rawValue, flags: FrameHeader.streamFlag, timeout: timeout, message: request)
        )
    }

    /// `stream(_:_:timeout:)` with a raw method number, payload and flags, for tests.
    public func streamRaw(
        method: UInt16,
        payload: ByteBuffer,
        flags: UInt8 = FrameHeader.streamFlag,
        timeout: Duration? = nil
    ) -> ResponseStream {
        ResponseStream(
            client: self,
            request: OutboundRequest(method: method, flags: flags, timeout: timeout, payload: payload)
        )
    }

    /// `streamRaw(method:payload:flags:timeout:)` that also notes in `arrival` when the first
    /// MESSAGE reached the connection's event loop (see ``StreamArrival``).
    package func streamRaw(method: UInt16, payload: ByteBuffer, arrival: StreamArrival) -> ResponseStream {
        var request = OutboundRequest(method: method, flags: FrameHeader.streamFlag, timeout: nil, payload: payload)
        request.arrival = arrival
        return ResponseStream(client: self, request: request)
    }

    func makeCall(_ request: OutboundRequest) -> CallHandle {
        let inbox = CallInbox()
        return CallHandle(
            call: .makeBoxSendingValue(ClientCall(request: request, inbox: inbox), eventLoop: channel.eventLoop),
            inbox: inbox,
            connection: connection
        )
    }

    // MARK: Ping

    /// Sends a PING on stream 0 and returns the time until its PONG. Payloads of up to 64 bytes
    /// are echoed; concurrent pings are matched in order. `timeout` is local only.
    public func ping(
        payload: [UInt8] = PelletClient.defaultPingPayload,
        timeout: Duration? = nil
    ) async throws(RPCError) -> Duration {
        guard payload.count <= FrameHeader.maxPingPayload else {
            throw RPCError(
                .invalidArgument,
                "a PING payload holds at most \(FrameHeader.maxPingPayload) bytes, not \(payload.count)"
            )
        }
        let ping = NIOLoopBoundBox.makeBoxSendingValue(
            PendingPing(payload: ByteBuffer(bytes: payload), timeout: timeout),
            eventLoop: channel.eventLoop
        )
        let connection = self.connection
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: PendingPing.Waiter) in
                ping.eventLoop.execute { connection.value.ping(ping.value, waiter: waiter) }
            }
        } onCancel: {
            ping.eventLoop.execute { connection.value.cancelPing(ping.value) }
        }
        return try result.get()
    }

    // MARK: Errors

    /// A short reason for a socket-level failure: "No such file or directory", not the syscall.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as IOError:
            return String(cString: strerror(error.errnoCode))
        case let error as NIOConnectionError:
            if error.dnsAError != nil || error.dnsAAAAError != nil {
                return "the host name \"\(error.host)\" could not be resolved"
            }
            guard let first = error.connectionErrors.first else { return "\(error)" }
            return describe(first.error)
        case let error as SocketAddressError.UnknownHost:
            return "the host name \"\(error.host)\" could not be resolved"
        case SocketAddressError.unixDomainSocketPathTooLong:
            return "the socket path is too long for a Unix domain socket (at most 103 bytes on macOS, 107 on Linux)"
        case ChannelError.connectTimeout(let timeout):
            return "no connection within \(Duration(timeout).millisecondsDescription)"
        default:
            return "\(error)"
        }
    }
}

/// What the channel initializer hands back from the event loop.
private struct Connection: Sendable {
    var channel: any Channel
    var handler: NIOLoopBound<ClientConnectionHandler>
    var handshake: EventLoopFuture<Void>
}

/// A call as the caller's task holds it: the call itself stays on the connection's event loop,
/// its events come through the inbox.
struct CallHandle: Sendable {
    let call: NIOLoopBoundBox<ClientCall>
    let inbox: CallInbox
    let connection: NIOLoopBound<ClientConnectionHandler>

    /// Sends the call on first use, then waits for its next event; nil once it has ended.
    /// Cancelling the task aborts the call (CANCEL to the server) and throws CANCELLED.
    ///
    /// Runs on the caller's isolation: a nonisolated async function would leave an actor's
    /// executor for the global one and come back, two executor switches per event that cost more
    /// than taking a buffered event does.
    func next(isolation actor: isolated (any Actor)? = #isolation) async throws(RPCError) -> StreamEvent? {
        // An event already received is taken here, on the caller's thread. A cancelled task takes
        // the slow path, whose cancellation handler fails the call first, as it always has.
        if !Task.isCancelled, let ready = inbox.takeReady() {
            return try ready.get()
        }
        let call = self.call
        let inbox = self.inbox
        let connection = self.connection
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: CallInbox.Waiter) in
                switch inbox.park(waiter) {
                case .parked(let isFirst):
                    // Nothing here yet: the loop resumes the waiter at its next delivery. On the
                    // first wait it sends the call too (calls are sent lazily).
                    if isFirst { call.eventLoop.execute { connection.value.start(call.value) } }
                case .ready(let outcome):
                    waiter.resume(returning: outcome)
                }
            }
        } onCancel: {
            // Failing the inbox here, not on the loop, is what makes the cancelled caller see
            // CANCELLED rather than an event that was buffered before the abort got there.
            let error = RPCError(.cancelled, "the call was cancelled by the caller")
            inbox.fail(error, discardingBuffered: true)
            call.eventLoop.execute { connection.value.abort(call.value, with: error) }
        }
        return try result.get()
    }

    /// Aborts the call unless it has ended; for a stream whose consumer went away.
    func abandon() {
        let call = self.call
        let connection = self.connection
        call.eventLoop.execute {
            connection.value.abort(call.value, with: RPCError(.cancelled, "the response stream was dropped before it ended"))
        }
    }
}
