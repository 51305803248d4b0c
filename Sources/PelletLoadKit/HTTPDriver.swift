import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Calls an OpenAI-compatible provider straight over HTTP/1.1: the baseline that a gateway's
/// overhead is measured against. HTTP/1.1 carries one request at a time, so every worker owns
/// a keep-alive connection of its own (connections × in-flight of them).
final class HTTPDriver: CallDriver {
    private let connections: [HTTPLoadConnection]
    private let inFlight: Int
    /// One request per prompt, built before the run.
    private let requests: [HTTPPreparedRequest]

    private init(connections: [HTTPLoadConnection], inFlight: Int, requests: [HTTPPreparedRequest]) {
        self.connections = connections
        self.inFlight = inFlight
        self.requests = requests
    }

    static func connect(
        _ configuration: LoadConfiguration,
        host: String,
        port: Int,
        path: String
    ) async throws(LoadError) -> HTTPDriver {
        let group = MultiThreadedEventLoopGroup.singleton
        var connections: [HTTPLoadConnection] = []
        let count = configuration.connections * configuration.inFlight
        for index in 0..<count {
            let connection = HTTPLoadConnection(host: host, port: port, eventLoop: group.next())
            do {
                try await connection.connect()
            } catch {
                for connection in connections { await connection.close() }
                let which = count > 1 ? " (connection \(index + 1) of \(count))" : ""
                throw LoadError("cannot connect to http://\(host):\(port)\(which): \(describe(error))")
            }
            connections.append(connection)
        }
        let requests = configuration.prompts.map {
            HTTPPreparedRequest(prompt: $0, configuration: configuration, host: host, port: port, path: path)
        }
        return HTTPDriver(connections: connections, inFlight: configuration.inFlight, requests: requests)
    }

    func call(prompt: Int, connection: Int, slot: Int) async -> CallResult {
        await connections[connection * inFlight + slot].send(requests[prompt])
    }

    func close() async {
        for connection in connections { await connection.close() }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as IOError:
            String(cString: strerror(error.errnoCode))
        case let error as NIOConnectionError:
            error.connectionErrors.first.map { describe($0.error) } ?? "\(error)"
        default:
            "\(error)"
        }
    }
}

/// A chat completion request ready to write: head and JSON body.
struct HTTPPreparedRequest: Sendable {
    let head: HTTPRequestHead
    let body: ByteBuffer
    let isStreamed: Bool

    init(prompt: String, configuration: LoadConfiguration, host: String, port: Int, path: String) {
        isStreamed = configuration.method.isStreamed
        // The mock serves any model name; "auto" is a gateway notion, so a name it knows stands in.
        let model = configuration.model == "auto" ? "mock-model" : configuration.model
        var fields: [String: Any] = [
            "model": model,
            "messages": [["role": "user", "content": prompt]],
            "max_tokens": configuration.maxTokens,
        ]
        if isStreamed { fields["stream"] = true }
        let json = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data()
        body = ByteBuffer(bytes: json)

        var headers = HTTPHeaders()
        headers.add(name: "host", value: host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(json.count))
        headers.add(name: "accept", value: isStreamed ? "text/event-stream" : "application/json")
        if !configuration.apiKey.isEmpty { headers.add(name: "authorization", value: "Bearer \(configuration.apiKey)") }
        head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
    }
}

/// One keep-alive HTTP/1.1 connection, used by one worker at a time. When the server closes it
/// (or it fails), the next request opens a new one.
final class HTTPLoadConnection: Sendable {
    private struct Link: Sendable {
        let channel: any Channel
        let handler: NIOLoopBound<HTTPLoadHandler>
    }

    private let host: String
    private let port: Int
    private let eventLoop: any EventLoop
    /// Only its worker touches it, so the lock is never contended; it is there for Sendable.
    private let link = Mutex<Link?>(nil)

    init(host: String, port: Int, eventLoop: any EventLoop) {
        self.host = host
        self.port = port
        self.eventLoop = eventLoop
    }

    func connect() async throws {
        let opened = try await ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(5))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = HTTPLoadHandler()
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return Link(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
        link.withLock { $0 = opened }
    }

    func send(_ request: HTTPPreparedRequest) async -> CallResult {
        var current = link.withLock { $0 }
        if current == nil || current?.channel.isActive == false {
            do {
                try await connect()
            } catch {
                return CallResult(.transportError)
            }
            current = link.withLock { $0 }
        }
        guard let current else { return CallResult(.transportError) }
        let promise = current.channel.eventLoop.makePromise(of: CallResult.self)
        let handler = current.handler
        current.channel.eventLoop.execute {
            handler.value.start(request, promise: promise)
        }
        return await withTaskCancellationHandler {
            // The promise is always completed (answer, failure or close), never failed.
            (try? await promise.futureResult.get()) ?? CallResult(.transportError)
        } onCancel: {
            // HTTP/1.1 cannot abandon one request and keep the connection: close it.
            current.channel.close(promise: nil)
        }
    }

    func close() async {
        let current = link.withLock { $0 }
        try? await current?.channel.close()
    }
}

/// Writes one request and reads its response: the status, whether the connection stays open
/// and, for a stream, when the first content delta arrives. Loop-confined.
final class HTTPLoadHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private var context: ChannelHandlerContext?
    private var promise: EventLoopPromise<CallResult>?
    private var isStreamed = false
    private var statusCode = 0
    private var firstChunkAt: UInt64?
    private var detector = StreamedContentDetector()
    private var keepAlive = true

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish(CallResult(.transportError))
        self.context = nil
    }

    func start(_ request: HTTPPreparedRequest, promise: EventLoopPromise<CallResult>) {
        guard let context, context.channel.isActive, self.promise == nil else {
            promise.succeed(CallResult(.transportError))
            return
        }
        self.promise = promise
        isStreamed = request.isStreamed
        statusCode = 0
        firstChunkAt = nil
        detector = StreamedContentDetector()
        keepAlive = true
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(request.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            statusCode = Int(head.status.code)
            keepAlive = head.isKeepAlive
        case .body(let buffer):
            guard isStreamed, firstChunkAt == nil, statusCode == 200 else { return }
            let started = buffer.withUnsafeReadableBytes { detector.feed($0) }
            if started { firstChunkAt = LoadClock.now() }
        case .end:
            let outcome: LoadOutcome = (200..<300).contains(statusCode) ? .ok : .httpStatus(statusCode)
            finish(CallResult(outcome, firstChunkAt: firstChunkAt))
            if !keepAlive { context.close(promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(CallResult(.transportError))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(CallResult(.transportError))
        context.close(promise: nil)
    }

    private func finish(_ result: CallResult) {
        guard let promise else { return }
        self.promise = nil
        promise.succeed(result)
    }
}
