import Foundation
import PelletWire

/// Turns one transfer's response into chat events: text deltas as they arrive, then exactly one
/// terminal event (a completion or a classified failure).
///
/// A value-type state machine fed with what a ``TransferHandler`` receives, so it runs wherever
/// the caller likes (``ProviderEngine/startChat(_:on:onEvent:)`` runs it on the caller's event
/// loop, keeping JSON decoding off the single provider thread) and is tested without sockets.
///
/// For a streamed request the completion is reported at `data: [DONE]`, without waiting for the
/// transfer to end. After a failure reported from ``receivedBody(_:emit:)`` (a malformed chunk)
/// the caller should cancel the transfer; after the terminal event everything is ignored.
public struct ChatResponseDecoder {
    public enum Event: Sendable, Equatable {
        /// New completion text (streams only; a non-streamed answer comes whole in `completed`).
        case delta(String)
        case completed(ChatCompletion)
        case failed(ProviderFailure)
    }

    public struct Limits: Sendable, Hashable {
        /// A non-streamed response body larger than this is a failure.
        public var maximumBodyBytes: Int
        /// Of an error response, this much is kept (for the provider's error message).
        public var maximumErrorBodyBytes: Int
        /// One server-sent event larger than this is a failure.
        public var maximumEventBytes: Int

        public init(
            maximumBodyBytes: Int = 8 << 20, maximumErrorBodyBytes: Int = 16 << 10, maximumEventBytes: Int = 1 << 20
        ) {
            self.maximumBodyBytes = maximumBodyBytes
            self.maximumErrorBodyBytes = maximumErrorBodyBytes
            self.maximumEventBytes = maximumEventBytes
        }
    }

    private enum State {
        case awaitingStatus
        /// A 2xx JSON body (a non-streamed request, or a provider that answered a stream request
        /// with JSON).
        case collectingBody
        case collectingError(status: Int, headers: HTTPHeaders)
        case streaming
        /// The terminal event went out.
        case finished
    }

    private let stream: Bool
    private let accumulatesStreamContent: Bool
    private let limits: Limits
    private let now: @Sendable () -> Date
    private var state = State.awaitingStatus
    private var body: [UInt8] = []
    private var parser: SSEParser
    private var events: [SSEParser.Event] = []
    private var content = ""
    private var finishReason: String?
    private var usage: TokenUsage?
    private var model = ""

    /// - Parameters:
    ///   - stream: the request asked for a stream.
    ///   - accumulatesStreamContent: also collect a stream's text into the completion's
    ///     `content` (for a unary caller served by a streamed upstream call).
    ///   - now: the wall clock, for `Retry-After` dates.
    public init(
        stream: Bool,
        accumulatesStreamContent: Bool = false,
        limits: Limits = Limits(),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.stream = stream
        self.accumulatesStreamContent = accumulatesStreamContent
        self.limits = limits
        self.now = now
        self.parser = SSEParser(maximumEventBytes: limits.maximumEventBytes)
    }

    /// The terminal event has been emitted.
    public var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    public mutating func receivedStatus(_ status: Int, headers: HTTPHeaders) {
        guard case .awaitingStatus = state else { return }
        if (200..<300).contains(status) {
            let contentType = headers["content-type"] ?? ""
            let isJSON = contentType.lowercased().hasPrefix("application/json")
            state = stream && !isJSON ? .streaming : .collectingBody
        } else {
            state = .collectingError(status: status, headers: headers)
        }
    }

    public mutating func receivedBody(_ bytes: UnsafeRawBufferPointer, emit: (Event) -> Void) {
        switch state {
        case .awaitingStatus, .finished:
            return
        case .collectingBody:
            guard body.count + bytes.count <= limits.maximumBodyBytes else {
                finish(.failed(.malformed("response (larger than \(limits.maximumBodyBytes) bytes)")), emit)
                return
            }
            body.append(contentsOf: bytes)
        case .collectingError:
            let room = max(0, limits.maximumErrorBodyBytes - body.count)
            body.append(contentsOf: bytes.prefix(room))
        case .streaming:
            do {
                try parser.parse(bytes, into: &events)
            } catch {
                events.removeAll(keepingCapacity: true)
                finish(
                    .failed(ProviderFailure(kind: .malformedResponse, message: "the provider's stream: \(error)")), emit
                )
                return
            }
            handleStreamEvents(emit)
        }
    }

    public mutating func receivedBody(_ bytes: [UInt8], emit: (Event) -> Void) {
        // A unary answer mostly comes whole, in one hand-over from the provider thread: keep
        // that array rather than copy it.
        if case .collectingBody = state, body.isEmpty, bytes.count <= limits.maximumBodyBytes {
            body = bytes
            return
        }
        bytes.withUnsafeBytes { receivedBody($0, emit: emit) }
    }

    /// The transfer ended; emits the terminal event unless it already went out.
    public mutating func finished(_ result: TransferResult, emit: (Event) -> Void) {
        if case .finished = state { return }
        switch result {
        case .cancelled:
            finish(.failed(.cancelled), emit)
        case .failed(let error):
            var failure = ProviderFailure(error)
            if case .streaming = state, error.kind == .connectionLost {
                failure = ProviderFailure(
                    kind: .incompleteStream, message: "the provider's stream broke off: \(error.message)")
            }
            finish(.failed(failure), emit)
        case .completed(let info):
            switch state {
            case .awaitingStatus:
                finish(.failed(.malformed("response (no status)")), emit)
            case .collectingBody:
                do {
                    let completion = try OpenAIChat.decodeCompletion(body)
                    body = []
                    if stream, !completion.content.isEmpty {
                        emit(.delta(completion.content))
                    }
                    let keepsContent = !stream || accumulatesStreamContent
                    var final = completion
                    if !keepsContent { final.content = "" }
                    final.transferTime = info.totalTime
                    finish(.completed(final), emit)
                } catch {
                    finish(.failed(error), emit)
                }
            case .collectingError(let status, let headers):
                finish(
                    .failed(ProviderFailure.classify(status: status, headers: headers, body: body, now: now())), emit)
            case .streaming:
                do {
                    try parser.finish(into: &events)
                } catch {
                    events.removeAll(keepingCapacity: true)
                    finish(
                        .failed(ProviderFailure(kind: .malformedResponse, message: "the provider's stream: \(error)")),
                        emit)
                    return
                }
                handleStreamEvents(emit)
                if !isFinished {
                    finish(.failed(.incompleteStream), emit)
                }
            case .finished:
                break
            }
        }
    }

    private mutating func handleStreamEvents(_ emit: (Event) -> Void) {
        defer { events.removeAll(keepingCapacity: true) }
        for event in events {
            switch event {
            case .data(let data):
                let chunk: ChatStreamChunk
                do {
                    chunk = try OpenAIChat.decodeChunk(data)
                } catch {
                    finish(.failed(error), emit)
                    return
                }
                if !chunk.delta.isEmpty {
                    if accumulatesStreamContent { content += chunk.delta }
                    emit(.delta(chunk.delta))
                }
                if let reason = chunk.finishReason { finishReason = reason }
                if let chunkUsage = chunk.usage { usage = chunkUsage }
                if !chunk.model.isEmpty { model = chunk.model }
            case .done:
                let completion = ChatCompletion(
                    content: content, finishReason: finishReason ?? "", usage: usage, model: model)
                finish(.completed(completion), emit)
                return
            }
        }
    }

    private mutating func finish(_ event: Event, _ emit: (Event) -> Void) {
        state = .finished
        body = []
        content = ""
        emit(event)
    }
}
