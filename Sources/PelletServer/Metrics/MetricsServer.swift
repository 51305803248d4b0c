import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The operators' HTTP/1.1 listener (DESIGN.md section 4): `GET /metrics` (Prometheus text),
/// `GET /livez` (the process answers) and `GET /readyz` (200 when the gateway can serve, 503
/// with the reason otherwise). It never serves the RPC and asks for no credentials, so it
/// listens on loopback unless told otherwise.
///
/// It runs on an event loop of its own: a scrape renders a few hundred series, and that must
/// not delay a call on the RPC loops.
public final class MetricsServer: Sendable {
    /// What the listener serves, asked at each request.
    public struct Endpoints: Sendable {
        /// The `/metrics` body.
        public var metrics: @Sendable () -> String
        /// nil when ready; else why not (the `/readyz` 503 body).
        public var notReadyReason: @Sendable () -> String?

        public init(metrics: @escaping @Sendable () -> String, notReadyReason: @escaping @Sendable () -> String?) {
            self.metrics = metrics
            self.notReadyReason = notReadyReason
        }
    }

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    private init(group: MultiThreadedEventLoopGroup, channel: any Channel) {
        self.group = group
        self.channel = channel
    }

    /// Binds `host:port` (port 0: one the kernel picks; see `boundPort`).
    public static func start(host: String, port: Int, endpoints: Endpoints, logger: Logger) async throws -> MetricsServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(endpoints: endpoints))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: host, port: port).get()
            return MetricsServer(group: group, channel: channel)
        } catch {
            try? await group.shutdownGracefully()
            let reason = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
            throw ServerStartError("cannot listen for metrics on \(host):\(port): \(reason)")
        }
    }

    /// "http://127.0.0.1:9464", with the port actually bound.
    public var url: String {
        let address = channel.localAddress
        var host = address?.ipAddress ?? "127.0.0.1"
        if host.contains(":") { host = "[\(host)]" }
        return "http://\(host):\(address?.port ?? 0)"
    }

    public func shutdown() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

private final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoints: MetricsServer.Endpoints
    private var head: HTTPRequestHead?

    init(endpoints: MetricsServer.Endpoints) {
        self.endpoints = endpoints
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let (status, contentType, body): (HTTPResponseStatus, String, String)
        if head.method != .GET && head.method != .HEAD {
            (status, contentType, body) = (.methodNotAllowed, "text/plain", "only GET\n")
        } else {
            switch path {
            case "/metrics":
                (status, contentType, body) = (.ok, MetricsExposition.contentType, endpoints.metrics())
            case "/livez":
                (status, contentType, body) = (.ok, "text/plain", "ok\n")
            case "/readyz":
                if let reason = endpoints.notReadyReason() {
                    (status, contentType, body) = (.serviceUnavailable, "text/plain", "not ready: \(reason)\n")
                } else {
                    (status, contentType, body) = (.ok, "text/plain", "ready\n")
                }
            default:
                (status, contentType, body) = (.notFound, "text/plain", "not found; try /metrics, /livez or /readyz\n")
            }
        }
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(buffer.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            done.whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}
