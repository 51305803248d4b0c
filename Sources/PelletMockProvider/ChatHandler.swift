import Foundation
import NIOCore
import NIOHTTP1

/// One per connection. The `HTTPServerPipelineHandler` in front of it delivers one request at a
/// time and holds pipelined requests until the previous response has ended, so at most one chat
/// completion is active here. Every timer it schedules is on the channel's event loop and checks
/// that its request is still the active one; when the client closes the connection, the pending
/// timer is cancelled and the request counts as `cancelled_by_client`.
final class MockHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// The chat completion being answered.
    private struct ActiveChat {
        let serial: UInt64
        let version: HTTPVersion
        var keepAlive: Bool
        /// The one timer waiting to run the next step (latency, time to first token, next piece).
        var pending: Scheduled<Void>?
    }

    /// Everything a streamed answer needs between its timer steps.
    private struct StreamPlan {
        let serial: UInt64
        let json: MockResponseJSON
        let completion: MockCompletion
        let behavior: MockBehavior
        let includeUsage: Bool
        var firstPieceAt = NIODeadline.now()

        /// When piece `index` is due; nil when pieces go as fast as possible.
        func deadline(ofPiece index: Int) -> NIODeadline? {
            guard behavior.tokensPerSecond > 0 else { return nil }
            return firstPieceAt + .nanoseconds(Int64(Double(index) * 1e9 / behavior.tokensPerSecond))
        }
    }

    private let runtime: MockRuntime
    private var requestHead: HTTPRequestHead?
    private var requestBody = ByteBuffer()
    private var discardingBody = false
    private var active: ActiveChat?
    private var lastSerial: UInt64 = 0
    /// Set when the connection ends. The pipeline handler then hands over the pipelined requests
    /// it held (while it is removed); they are not answered, since a response cut short (the
    /// `disconnect` behaviours) has no end after which another could start.
    private var isClosed = false

    init(runtime: MockRuntime) {
        self.runtime = runtime
    }

    // MARK: - Channel events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isClosed else { return }
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            requestHead = head
            discardingBody = false
            if requestBody.capacity > 64 << 10 { requestBody = context.channel.allocator.buffer(capacity: 0) }
            requestBody.clear()
            if let length = head.headers.first(name: "content-length").flatMap({ Int($0) }),
               length > runtime.configuration.maxBodyBytes {
                rejectOversizeBody(context: context, head: head)
            } else if head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                // libcurl 7.x sends `Expect: 100-continue` on POSTs over 1 KiB and waits up to a
                // second for this before sending the body.
                let interim = HTTPResponseHead(version: head.version, status: .continue)
                context.writeAndFlush(Self.wrapOutboundOut(.head(interim)), promise: nil)
            }
        case .body(var chunk):
            guard !discardingBody, let head = requestHead else { return }
            guard requestBody.readableBytes + chunk.readableBytes <= runtime.configuration.maxBodyBytes else {
                rejectOversizeBody(context: context, head: head)
                return
            }
            requestBody.writeBuffer(&chunk)
        case .end:
            guard let head = requestHead, !discardingBody else { return }
            requestHead = nil
            route(context: context, head: head, body: requestBody)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        if let chat = active {
            active = nil
            chat.pending?.cancel()
            runtime.stats.finish(.cancelledByClient)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset or a broken pipe from a client that went away; channelInactive does the rest.
        context.close(promise: nil)
    }

    // MARK: - Routing

    private func route(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let stats = runtime.stats
        switch (head.method, path) {
        case (.POST, _) where path.hasSuffix("/chat/completions"):
            startChat(context: context, head: head, body: body)
        case (.GET, "/_mock/stats"):
            respond(context: context, head: head, status: .ok, body: stats.json())
        case (.POST, "/_mock/reset"):
            stats.reset()
            respond(context: context, head: head, status: .ok, body: stats.json())
        case (.GET, "/_mock/behavior"):
            respond(context: context, head: head, status: .ok, body: behaviorJSON())
        case (.POST, "/_mock/behavior"), (.PUT, "/_mock/behavior"):
            do {
                try runtime.defaultBehavior.set(String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines))
                respond(context: context, head: head, status: .ok, body: behaviorJSON())
            } catch {
                let message = MockJSON.error(message: error.description, type: "invalid_request_error", code: nil)
                respond(context: context, head: head, status: .badRequest, body: message)
            }
        case (.GET, "/_mock/models"):
            respond(context: context, head: head, status: .ok, body: runtime.modelList.controlJSON())
        case (.POST, "/_mock/models"), (.PUT, "/_mock/models"):
            if let problem = runtime.modelList.apply(controlBody: String(buffer: body)) {
                let message = MockJSON.error(message: problem, type: "invalid_request_error", code: nil)
                respond(context: context, head: head, status: .badRequest, body: message)
            } else {
                respond(context: context, head: head, status: .ok, body: runtime.modelList.controlJSON())
            }
        case (.GET, _) where path.hasSuffix("/models"):
            if let failure = runtime.modelList.listFailure {
                let status = HTTPResponseStatus(statusCode: failure)
                respond(context: context, head: head, status: status,
                        body: MockJSON.error(message: Self.message(for: status), type: Self.errorType(for: status),
                                             code: Self.errorCode(for: status)))
                return
            }
            // Without a list (--models or POST /_mock/models) the mock serves every model, which no
            // list can say: it answers 404, and a gateway's discovery keeps what it knew.
            guard let models = runtime.modelList.models else {
                respond(context: context, head: head, status: .notFound,
                        body: MockJSON.error(message: "this mock serves every model and has no model list; set one "
                                                 + "with --models or POST /_mock/models", type: "invalid_request_error",
                                             code: "no_model_list"))
                return
            }
            let list = MockJSON.modelList(models, prices: runtime.modelList.publishedPrices, ownedBy: runtime.configuration.name, created: Self.now())
            respond(context: context, head: head, status: .ok, body: list)
        case (_, _) where path.hasSuffix("/chat/completions") || path.hasPrefix("/_mock/") || path.hasSuffix("/models"):
            let message = "method \(head.method) is not allowed on \(path)"
            respond(context: context, head: head, status: .methodNotAllowed,
                    body: MockJSON.error(message: message, type: "invalid_request_error", code: nil))
        default:
            let message = "Invalid URL (\(head.method) \(path))"
            respond(context: context, head: head, status: .notFound,
                    body: MockJSON.error(message: message, type: "invalid_request_error", code: "not_found"))
        }
    }

    private func behaviorJSON() -> String {
        "{\"behavior\":\(MockJSON.string(runtime.defaultBehavior.currentSpec))}"
    }

    private func rejectOversizeBody(context: ChannelHandlerContext, head: HTTPRequestHead) {
        discardingBody = true
        requestHead = nil
        var closing = head
        closing.headers.replaceOrAdd(name: "connection", value: "close")
        let message = "request body larger than \(runtime.configuration.maxBodyBytes) bytes"
        respond(context: context, head: closing, status: .payloadTooLarge,
                body: MockJSON.error(message: message, type: "invalid_request_error", code: nil))
    }

    // MARK: - Chat completions

    private func startChat(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer) {
        let stats = runtime.stats
        let configuration = runtime.configuration
        let requestNumber = stats.begin()
        lastSerial &+= 1
        let serial = lastSerial
        active = ActiveChat(serial: serial, version: head.version, keepAlive: head.isKeepAlive)

        if let key = configuration.requiredKey, !Self.hasBearer(key, in: head.headers) {
            endChat(context: context, status: .unauthorized, message: "Incorrect API key provided",
                    code: "invalid_api_key")
            return
        }
        let request: MockChatRequest
        do {
            request = try MockChatRequest(body: body)
        } catch {
            endChat(context: context, status: .badRequest, message: error.message, param: error.param)
            return
        }
        guard runtime.modelList.serves(request.model) else {
            // What Groq and Together send for a model they do not (or no longer) serve.
            endChat(context: context, status: .notFound,
                    message: "The model `\(request.model)` does not exist or you do not have access to it.",
                    code: "model_not_found")
            return
        }
        var behavior = runtime.defaultBehavior.behavior
        do {
            if let spec = MockBehavior.spec(inModel: request.model) { try behavior.apply(spec) }
            for spec in head.headers[MockBehavior.header] { try behavior.apply(spec) }
        } catch {
            endChat(context: context, status: .badRequest, message: error.description, param: "model")
            return
        }

        var completion = MockCompletion(
            request: request, naturalLength: behavior.completionTokens, wordsPerPiece: behavior.wordsPerPiece)
        completion.reportedCompletionTokens = behavior.reportedCompletionTokens
        completion.cachedPromptTokens = min(behavior.cachedPromptTokens, completion.promptTokens)
        stats.noteMaxTokens(request.maxTokens)
        let json = MockResponseJSON(
            id: "chatcmpl-\(configuration.name)-\(requestNumber)",
            model: request.model,
            created: Self.now(),
            fingerprint: "mock-\(configuration.name)"
        )
        if behavior.outcome == .hang {
            stats.markHung()
            return
        }
        after(context: context, milliseconds: behavior.latencyMs) {
            switch behavior.outcome {
            case .status(let code):
                let status = HTTPResponseStatus(statusCode: code)
                let retryAfter = code == 429 ? behavior.retryAfterSeconds : nil
                self.endChat(context: context, status: status, message: Self.message(for: status),
                             code: Self.errorCode(for: status), retryAfter: retryAfter)
            case .ok, .hang, .malformed, .disconnect:
                if request.stream {
                    let plan = StreamPlan(serial: serial, json: json, completion: completion, behavior: behavior,
                                          includeUsage: request.includeUsage)
                    self.startStream(context: context, plan: plan)
                } else {
                    self.answerWhole(context: context, json: json, completion: completion, behavior: behavior)
                }
            }
        }
    }

    private func answerWhole(
        context: ChannelHandlerContext,
        json: MockResponseJSON,
        completion: MockCompletion,
        behavior: MockBehavior
    ) {
        guard let chat = active else { return }
        switch behavior.outcome {
        case .malformed:
            finish(.malformed)
            respond(context: context, version: chat.version, keepAlive: chat.keepAlive, status: .ok,
                    body: json.malformed(stream: false))
        case .disconnect:
            // The headers promise the whole body; half of it arrives, then the connection closes.
            let body = json.completion(completion, includeUsage: behavior.sendsUsage)
            finish(.disconnected)
            var headers = responseHeaders(version: chat.version, keepAlive: chat.keepAlive)
            headers.add(name: "content-length", value: String(body.utf8.count))
            context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: chat.version, status: .ok,
                                                                      headers: headers))), promise: nil)
            let half = String(decoding: body.utf8.prefix(body.utf8.count / 2), as: UTF8.self)
            context.writeAndFlush(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: half)))), promise: nil)
            context.close(promise: nil)
        case .ok, .status, .hang:
            finish(.ok, completion)
            respond(context: context, version: chat.version, keepAlive: chat.keepAlive, status: .ok,
                    body: json.completion(completion, includeUsage: behavior.sendsUsage))
        }
    }

    // MARK: - Streams

    private func startStream(context: ChannelHandlerContext, plan: StreamPlan) {
        guard var chat = active else { return }
        var headers: HTTPHeaders
        if chat.version.major > 1 || chat.version.minor >= 1 {
            headers = responseHeaders(version: chat.version, keepAlive: chat.keepAlive,
                                      contentType: "text/event-stream; charset=utf-8")
            headers.add(name: "transfer-encoding", value: "chunked")
        } else {
            // HTTP/1.0 has no chunked encoding: the end of the stream is the end of the connection.
            chat.keepAlive = false
            active = chat
            headers = responseHeaders(version: chat.version, keepAlive: false,
                                      contentType: "text/event-stream; charset=utf-8")
        }
        headers.add(name: "cache-control", value: "no-cache")
        context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: chat.version, status: .ok,
                                                                  headers: headers))), promise: nil)
        runtime.stats.markStreamed()
        writeEvent(context: context, plan.json.roleChunk())
        after(context: context, milliseconds: plan.behavior.ttftMs) {
            var plan = plan
            plan.firstPieceAt = .now()
            self.streamPieces(context: context, plan: plan, from: 0)
        }
    }

    /// Writes pieces from `index` on: all of them now at tps=0, else one per timer at its deadline.
    private func streamPieces(context: ChannelHandlerContext, plan: StreamPlan, from index: Int) {
        let pieces = plan.completion.pieces
        var index = index
        while active?.serial == plan.serial {
            if case .disconnect(let afterPieces) = plan.behavior.outcome, index == min(afterPieces, pieces.count) {
                finish(.disconnected)
                context.close(promise: nil)
                return
            }
            if plan.behavior.outcome == .malformed {
                writeEvent(context: context, plan.json.malformed(stream: true))
                if plan.behavior.sendsDone { writeEvent(context: context, "[DONE]") }
                endStream(context: context, outcome: .malformed, completion: nil)
                return
            }
            if index == pieces.count {
                writeEvent(context: context, plan.json.finishChunk(plan.completion.finishReason))
                if plan.includeUsage && plan.behavior.sendsUsage {
                    writeEvent(context: context, plan.json.usageChunk(plan.completion))
                }
                if plan.behavior.sendsDone { writeEvent(context: context, "[DONE]") }
                endStream(context: context, outcome: .ok, completion: plan.completion)
                return
            }
            writeEvent(context: context, plan.json.contentChunk(pieces[index]))
            index += 1
            if index < pieces.count, let deadline = plan.deadline(ofPiece: index) {
                let next = index
                schedule(context: context, at: deadline) {
                    self.streamPieces(context: context, plan: plan, from: next)
                }
                return
            }
        }
    }

    /// One SSE event, flushed on its own so the client sees it at once.
    private func writeEvent(context: ChannelHandlerContext, _ payload: String) {
        var buffer = context.channel.allocator.buffer(capacity: payload.utf8.count + 8)
        buffer.writeStaticString("data: ")
        buffer.writeString(payload)
        buffer.writeStaticString("\n\n")
        context.writeAndFlush(Self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }

    private func endStream(context: ChannelHandlerContext, outcome: MockStats.Outcome, completion: MockCompletion?) {
        guard let chat = active else { return }
        finish(outcome, completion)
        writeEnd(context: context, keepAlive: chat.keepAlive)
    }

    // MARK: - Ending a chat

    /// Counts the active chat's outcome and forgets it, before the final write: writing the end
    /// of a response can synchronously deliver the next pipelined request.
    private func finish(_ outcome: MockStats.Outcome, _ completion: MockCompletion? = nil) {
        guard active != nil else { return }
        active = nil
        runtime.stats.finish(outcome, promptTokens: completion?.promptTokens ?? 0,
                             completionTokens: completion?.completionTokens ?? 0)
    }

    /// Answers the active chat with an OpenAI-style error.
    private func endChat(
        context: ChannelHandlerContext,
        status: HTTPResponseStatus,
        message: String,
        code: String? = nil,
        param: String? = nil,
        retryAfter: Int? = nil
    ) {
        guard let chat = active else { return }
        finish(status.code >= 500 ? .serverError : .clientError)
        let body = MockJSON.error(message: message, type: Self.errorType(for: status), code: code, param: param)
        var extra: [(String, String)] = []
        if let retryAfter { extra.append(("retry-after", String(retryAfter))) }
        respond(context: context, version: chat.version, keepAlive: chat.keepAlive, status: status, body: body,
                extraHeaders: extra)
    }

    private static func errorType(for status: HTTPResponseStatus) -> String {
        switch status.code {
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 429: "rate_limit_error"
        case 500...: "server_error"
        default: "invalid_request_error"
        }
    }

    private static func errorCode(for status: HTTPResponseStatus) -> String? {
        switch status.code {
        case 401: "invalid_api_key"
        case 429: "rate_limit_exceeded"
        default: nil
        }
    }

    private static func message(for status: HTTPResponseStatus) -> String {
        switch status.code {
        case 401: "Incorrect API key provided"
        case 429: "Rate limit reached for requests; please retry after the Retry-After interval"
        case 500...: "The server had an error while processing your request (simulated \(status.code))"
        default: "Simulated error \(status.code) \(status.reasonPhrase)"
        }
    }

    // MARK: - Timers

    /// Runs `work` after `milliseconds`, or now when it is 0, unless the chat has ended by then.
    private func after(context: ChannelHandlerContext, milliseconds: Int, _ work: @escaping () -> Void) {
        if milliseconds <= 0 {
            work()
        } else {
            schedule(context: context, at: .now() + .milliseconds(Int64(milliseconds)), work)
        }
    }

    private func schedule(context: ChannelHandlerContext, at deadline: NIODeadline, _ work: @escaping () -> Void) {
        guard let serial = active?.serial else { return }
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            guard self.active?.serial == serial else { return }
            self.active?.pending = nil
            work()
        }
        active?.pending = task
    }

    // MARK: - Writing whole responses

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus,
                         body: String) {
        respond(context: context, version: head.version, keepAlive: head.isKeepAlive, status: status, body: body)
    }

    private func respond(
        context: ChannelHandlerContext,
        version: HTTPVersion,
        keepAlive: Bool,
        status: HTTPResponseStatus,
        body: String,
        extraHeaders: [(String, String)] = []
    ) {
        var headers = responseHeaders(version: version, keepAlive: keepAlive)
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(contentsOf: extraHeaders)
        context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status,
                                                                  headers: headers))), promise: nil)
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))),
                      promise: nil)
        writeEnd(context: context, keepAlive: keepAlive)
    }

    private func writeEnd(context: ChannelHandlerContext, keepAlive: Bool) {
        let written = context.writeAndFlush(Self.wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    private func responseHeaders(
        version: HTTPVersion,
        keepAlive: Bool,
        contentType: String = "application/json"
    ) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "x-mock-provider", value: runtime.configuration.name)
        if version.major == 1 && version.minor == 0 {
            if keepAlive { headers.add(name: "connection", value: "keep-alive") }
        } else if !keepAlive {
            headers.add(name: "connection", value: "close")
        }
        return headers
    }

    private static func hasBearer(_ key: String, in headers: HTTPHeaders) -> Bool {
        guard let value = headers.first(name: "authorization") else { return false }
        let parts = value.split(separator: " ", maxSplits: 1)
        return parts.count == 2 && parts[0].lowercased() == "bearer"
            && parts[1].trimmingCharacters(in: .whitespaces) == key
    }

    private static func now() -> Int { Int(Date().timeIntervalSince1970) }
}
