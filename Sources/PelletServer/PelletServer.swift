import Foundation
import Logging
import NIOCore
import NIOPosix
import PelletWire
import Synchronization

/// The Pellet RPC server: listens on a Unix socket and on TCP at once, serves the protocol of
/// DESIGN.md section 2 and dispatches calls to services.
public final class PelletServer: Sendable {
    public struct Configuration: Sendable {
        public var listen: [BindAddress]
        public var maxFrameBytes: Int = 4 << 20
        /// The deadline of a call whose REQUEST says 0.
        public var defaultTimeout: Duration = .seconds(60)
        public var maxCallsInFlightPerConnection: Int = 1024
        /// Connections open at once, Unix and TCP together; one more gets GOAWAY
        /// RESOURCE_EXHAUSTED and is closed.
        public var maxConnections: Int = 10_000
        /// The preface, and each frame once begun, must arrive whole within this; nil: no limit.
        public var handshakeTimeout: Duration? = .seconds(5)
        /// A connection with no call in flight that sends nothing for this long gets GOAWAY
        /// (OK, "idle") and is closed; nil: never.
        public var idleTimeout: Duration? = .seconds(600)
        /// A connection's replies not yet taken by the client: past this, its streamed calls
        /// pause their provider transfers and the connection is not read, until it drains to half.
        public var maxUnsentBytesPerConnection: Int = 256 << 10
        /// How long a graceful shutdown waits for calls in flight.
        public var shutdownGracePeriod: Duration = .seconds(10)
        /// Mode of the Unix socket file: owner and group may connect.
        public var unixSocketMode: mode_t = 0o660
        /// Group of the Unix socket (nil: the process's); with the mode, who may connect.
        public var unixSocketGroup: gid_t?
        /// TLS (and mutual TLS) on every TCP listener; nil: plaintext TCP.
        public var tls: ServerTLS?

        public init(listen: [BindAddress]) {
            self.listen = listen
        }
    }

    private struct State {
        var listeners: [any Channel] = []
        var connections: [ObjectIdentifier: any Channel] = [:]
        var shuttingDown = false
        var finished = false
        var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
    }

    public let configuration: Configuration
    public let metrics: ServerMetrics
    private let services: ServiceTable
    private let group: any EventLoopGroup
    private let accessLog: AccessLog?
    private let logger: Logger
    private let state = Mutex(State())

    /// `services` maps methods to their implementations; Health is built in and any method
    /// missing answers UNIMPLEMENTED.
    public init(
        configuration: Configuration,
        services: [Method: any Service] = [:],
        metrics: ServerMetrics = ServerMetrics(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        accessLog: AccessLog? = nil,
        logger: Logger
    ) {
        self.accessLog = accessLog
        self.configuration = configuration
        self.metrics = metrics
        var table = ServiceTable(services)
        if services[.health] == nil { table[.health] = HealthService(metrics: metrics) }
        self.services = table
        self.group = group
        self.logger = logger
    }

    /// Binds every address. Throws (having bound nothing that stays open) when one fails.
    public func start() async throws {
        do {
            for address in configuration.listen {
                let channel: any Channel
                do {
                    channel = try await bind(address)
                } catch let error as IOError {
                    throw ServerStartError("cannot listen on \(address): \(String(cString: strerror(error.errnoCode)))")
                } catch let error as UnixSocketPath.Problem {
                    throw ServerStartError("cannot listen on \(address): \(error)")
                }
                state.withLock { $0.listeners.append(channel) }
            }
        } catch {
            for channel in state.withLock({ $0.listeners }) { try? await channel.close() }
            throw error
        }
    }

    /// The addresses actually bound (a TCP port 0 is resolved to the real port).
    public var boundAddresses: [BindAddress] {
        state.withLock { $0.listeners }.compactMap { channel in
            guard let address = channel.localAddress else { return nil }
            if let path = address.pathname { return .unixDomainSocket(path: path) }
            return .hostname(address.ipAddress ?? "127.0.0.1", port: address.port ?? 0)
        }
    }

    /// Graceful shutdown: stop accepting, GOAWAY every connection, let calls in flight finish
    /// within the grace period, then close whatever is left.
    public func shutdown(gracePeriod: Duration? = nil) async {
        let (listeners, connections, first) = state.withLock { state in
            defer { state.shuttingDown = true }
            return (state.listeners, Array(state.connections.values), !state.shuttingDown)
        }
        guard first else {
            await waitUntilShutdown()
            return
        }
        for listener in listeners { try? await listener.close() }
        for path in configuration.listen.compactMap(\.unixPath) { unlink(path) }
        for connection in connections {
            connection.eventLoop.execute {
                try? connection.pipeline.syncOperations.handler(type: ConnectionHandler.self).beginGracefulShutdown()
            }
        }
        let grace = gracePeriod ?? configuration.shutdownGracePeriod
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline, !state.withLock({ $0.connections.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let stragglers = state.withLock { Array($0.connections.values) }
        if !stragglers.isEmpty {
            logger.warning("grace period over; closing connections with calls still in flight", metadata: ["connections": "\(stragglers.count)"])
        }
        for connection in stragglers { try? await connection.close() }
        let waiters = state.withLock { state in
            state.finished = true
            defer { state.shutdownWaiters = [] }
            return state.shutdownWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when `shutdown` has finished.
    public func waitUntilShutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let finished = state.withLock { state in
                if !state.finished { state.shutdownWaiters.append(continuation) }
                return state.finished
            }
            if finished { continuation.resume() }
        }
    }

    // MARK: Binding

    private func bind(_ address: BindAddress) async throws -> any Channel {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(
                .writeBufferWaterMark,
                value: .init(
                    low: configuration.maxUnsentBytesPerConnection / 2, high: configuration.maxUnsentBytesPerConnection))
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try self.setUpConnection(channel) }
            }
        switch address {
        case .unixDomainSocket(let path):
            try UnixSocketPath.prepare(path)
            let channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
            guard chmod(path, configuration.unixSocketMode) == 0 else {
                let reason = String(cString: strerror(errno))
                try? await channel.close()
                throw ServerStartError("cannot set the mode of \(path): \(reason)")
            }
            // The owner stays; only the group changes.
            if let group = configuration.unixSocketGroup, chown(path, uid_t.max, group) != 0 {
                let reason = String(cString: strerror(errno))
                try? await channel.close()
                throw ServerStartError("cannot give \(path) the group \(group): \(reason)")
            }
            return channel
        case .hostname(let host, let port):
            return try await bootstrap
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: port).get()
        }
    }

    private enum Admission { case accepted, shuttingDown, full }

    private func setUpConnection(_ channel: any Channel) throws {
        let admission = state.withLock { state -> Admission in
            if state.shuttingDown { return .shuttingDown }
            guard state.connections.count < configuration.maxConnections else { return .full }
            state.connections[ObjectIdentifier(channel)] = channel
            return .accepted
        }
        switch admission {
        case .accepted:
            break
        case .shuttingDown:
            channel.close(promise: nil)
            return
        case .full:
            logger.warning("connection refused: too many connections", metadata: ["limit": "\(configuration.maxConnections)"])
            try channel.pipeline.syncOperations.addHandler(
                RefusedConnectionHandler(
                    RPCError(.resourceExhausted, "too many connections to this server (limit \(configuration.maxConnections)); retry later")))
            return
        }
        channel.closeFuture.whenComplete { [self] _ in
            _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
        }
        let settings = ConnectionHandler.Settings(
            defaultTimeout: TimeAmount(configuration.defaultTimeout),
            maxFrameBytes: configuration.maxFrameBytes,
            limits: .init(
                maxCallsInFlight: configuration.maxCallsInFlightPerConnection,
                handshakeTimeout: configuration.handshakeTimeout.map(TimeAmount.init),
                idleTimeout: configuration.idleTimeout.map(TimeAmount.init)
            ),
            closeGrace: configuration.handshakeTimeout.map(TimeAmount.init) ?? .seconds(5)
        )
        let isUnix = channel.localAddress?.pathname != nil
        if !isUnix, let tls = configuration.tls {
            try channel.pipeline.syncOperations.addHandlers(tls.makeHandlers())
        }
        try channel.pipeline.syncOperations.addHandler(
            ConnectionHandler(
                services: services, settings: settings, metrics: metrics,
                transport: isUnix ? .unix : .tcp, accessLog: accessLog, logger: logger)
        )
    }
}

public struct ServerStartError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension BindAddress {
    var unixPath: String? {
        if case .unixDomainSocket(let path) = self { return path }
        return nil
    }
}

/// Answers a connection over `maxConnections` with GOAWAY and closes it, reading nothing of it.
final class RefusedConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let error: RPCError

    init(_ error: RPCError) {
        self.error = error
    }

    func channelActive(context: ChannelHandlerContext) {
        Self.refuse(context: context, error: error)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    /// Sends GOAWAY with `error` from `context` (plaintext, whatever is behind it) and closes.
    static func refuse(context: ChannelHandlerContext, error: RPCError) {
        context.writeAndFlush(NIOAny(goAway(error, allocator: context.channel.allocator)), promise: nil)
        // Half-close, so that the client's preface, arriving now, is taken and dropped: closing
        // with it unread would reset the connection and could destroy the GOAWAY in transit.
        // A client that does not close its side gets a second to.
        context.close(mode: .output, promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: .seconds(1)) { bound.value.close(promise: nil) }
    }

    /// A GOAWAY frame that refuses a connection before its first call.
    static func goAway(_ error: RPCError, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 128)
        buffer.writeFrame(FrameHeader(type: .goAway, stream: 0, value: 0), message: error.payload)
        return buffer
    }
}
