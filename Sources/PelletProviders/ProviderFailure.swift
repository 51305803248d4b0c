import Foundation
import PelletWire

/// Why a provider call did not produce a completion, classified for the fallback logic.
///
/// | kind | from | the call | the provider's health |
/// | --- | --- | --- | --- |
/// | `badRequest` | 400, 413, 422 | INVALID_ARGUMENT, no retry | unaffected (the caller's fault) |
/// | `modelUnavailable` | 404, or 400 with a "model not found / decommissioned" code | next candidate | unaffected: only that (model, provider) pair is marked unavailable |
/// | `misconfigured` | 401, 403, a base URL libcurl refuses | next candidate | marked misconfigured, skipped |
/// | `rateLimited` | 429 | next candidate | skipped until `Retry-After` |
/// | `providerError` | 5xx, other statuses | next candidate | a failure |
/// | `connectionFailed` | resolve, connect, TLS, a connection lost mid-response | next candidate | a failure |
/// | `timedOut` | the transfer's deadline | DEADLINE_EXCEEDED (the caller's time is up) | a failure |
/// | `firstTokenTimeout`, `idleTimeout` | the engine's watchdog | next candidate | a failure |
/// | `malformedResponse` | JSON or SSE that does not parse | next candidate | a failure |
/// | `incompleteStream` | a stream that ends without `[DONE]` | next candidate | a failure |
/// | `cancelled` | the caller cancelled, or the engine shut down | CANCELLED | unaffected |
///
/// A struct over a private enum (like ``TransferError``) so that kinds can be added.
public struct ProviderFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Int, Hashable, Sendable, CaseIterable {
            case badRequest, modelUnavailable, misconfigured, rateLimited, providerError, connectionFailed, timedOut
            case firstTokenTimeout, idleTimeout, malformedResponse, incompleteStream, cancelled
        }

        private let base: Base

        public static let badRequest = Kind(base: .badRequest)
        /// The provider does not serve the requested model (any more): a fault of the pair, not of
        /// the provider, so the provider's other models stay candidates.
        public static let modelUnavailable = Kind(base: .modelUnavailable)
        public static let misconfigured = Kind(base: .misconfigured)
        public static let rateLimited = Kind(base: .rateLimited)
        public static let providerError = Kind(base: .providerError)
        public static let connectionFailed = Kind(base: .connectionFailed)
        public static let timedOut = Kind(base: .timedOut)
        public static let firstTokenTimeout = Kind(base: .firstTokenTimeout)
        public static let idleTimeout = Kind(base: .idleTimeout)
        public static let malformedResponse = Kind(base: .malformedResponse)
        public static let incompleteStream = Kind(base: .incompleteStream)
        public static let cancelled = Kind(base: .cancelled)

        public var description: String { "\(base)" }

        /// Every kind, in ``index`` order: tables that hold a figure per kind (the metrics'
        /// outcomes) are built from this, so a kind added here is counted as itself, never as
        /// another.
        public static let allCases: [Kind] = Base.allCases.map { Kind(base: $0) }

        /// The kind's position in ``allCases``: a table indexed by kind is one array read, with
        /// no search and no hashing on a call's path.
        public var index: Int { base.rawValue }
    }

    public let kind: Kind
    /// The provider's HTTP status, when it answered with one.
    public let httpStatus: Int?
    /// With `rateLimited`: how long the provider asked us to wait, if it said.
    public let retryAfter: Duration?
    /// A sentence for logs and for the caller. Never holds prompt or completion text; for a
    /// `badRequest` it carries the provider's own error message (truncated), which the caller
    /// needs to fix the request and which is not to be logged.
    public let message: String

    public init(kind: Kind, httpStatus: Int? = nil, retryAfter: Duration? = nil, message: String) {
        self.kind = kind
        self.httpStatus = httpStatus
        self.retryAfter = retryAfter
        self.message = message
    }

    public var description: String { message }

    /// Whether another candidate (or this one later) may serve the same request: false only for
    /// the caller's own faults and for cancellation.
    public var triesNextCandidate: Bool {
        kind != .badRequest && kind != .cancelled
    }

    /// Whether the failure counts against the provider's health (error rate, circuit breaker).
    /// Rate limiting and misconfiguration have their own states; the caller's faults do not count.
    public var countsAsProviderFailure: Bool {
        switch kind {
        case .badRequest, .cancelled, .misconfigured, .rateLimited, .modelUnavailable: false
        default: true
        }
    }

    /// The status to answer the caller with when this is the call's last failure. (Complete
    /// answers UNAVAILABLE when every candidate failed, whatever the kinds.)
    public var status: Status {
        switch kind {
        case .badRequest: .invalidArgument
        case .cancelled: .cancelled
        case .timedOut: .deadlineExceeded
        default: .unavailable
        }
    }

    // MARK: - Classification

    /// Classifies a complete non-2xx response. `body` is the (bounded) error body; its
    /// `error.message` is kept for `badRequest` only.
    public static func classify(
        status: Int,
        headers: HTTPHeaders,
        body: some Collection<UInt8>,
        now: Date = Date()
    ) -> ProviderFailure {
        if let unavailable = modelUnavailable(status: status, body: body) {
            return unavailable
        }
        switch status {
        case 400, 413, 422:
            let detail = OpenAIChat.errorMessage(in: Array(body)).map { ": " + $0 } ?? ""
            return ProviderFailure(
                kind: .badRequest, httpStatus: status, message: "the provider rejected the request (\(status))\(detail)"
            )
        case 401, 403:
            return ProviderFailure(
                kind: .misconfigured, httpStatus: status,
                message: "the provider refused the API key (\(status)); check the provider's key")
        case 429:
            let delay = RetryAfter.delay(in: headers, now: now)
            let after = delay.map { ", retry after \($0.roundedUpMilliseconds) ms" } ?? ""
            return ProviderFailure(
                kind: .rateLimited, httpStatus: status, retryAfter: delay,
                message: "the provider is rate limiting (429)\(after)")
        case 500...599:
            return ProviderFailure(
                kind: .providerError, httpStatus: status, message: "the provider failed (\(status))")
        default:
            return ProviderFailure(
                kind: .providerError, httpStatus: status, message: "the provider answered with status \(status)")
        }
    }

    /// The error codes with which providers say that a model is unknown or retired
    /// (tools/router-data/offerings/offerings-2026.md): Together's `model_not_found` (404) and
    /// `model_not_available` (400, a model that left the serverless catalogue), Fireworks'
    /// `NOT_FOUND` (404), Groq's `model_not_found` (404) and `model_decommissioned` (400).
    static let modelUnavailableCodes: Set<String> = [
        "model_not_found", "model_not_available", "model_decommissioned", "not_found",
    ]

    /// A chat request answered 404 (the chat endpoint exists, so the model does not), or 400 with
    /// one of ``modelUnavailableCodes``.
    static func modelUnavailable(status: Int, body: some Collection<UInt8>) -> ProviderFailure? {
        guard status == 404 || status == 400 else { return nil }
        let bytes = Array(body)
        let code = OpenAIChat.errorCode(in: bytes)?.lowercased()
        guard status == 404 || code.map(modelUnavailableCodes.contains) == true else { return nil }
        return ProviderFailure(
            kind: .modelUnavailable, httpStatus: status,
            message: "the provider does not serve the model (\(status)\(code.map { ", " + $0 } ?? ""))")
    }

    /// A transport failure of the transfer. A request libcurl refuses (a malformed base URL) is
    /// the provider's misconfiguration; an engine shutting down cancels its calls.
    public init(_ error: TransferError) {
        let kind: Kind
        switch error.kind {
        case .timedOut: kind = .timedOut
        case .firstByteTimeout: kind = .firstTokenTimeout
        case .idleTimeout: kind = .idleTimeout
        case .invalidRequest: kind = .misconfigured
        case .engineStopped: kind = .cancelled
        default: kind = .connectionFailed
        }
        self.init(kind: kind, message: "provider transfer failed: \(error.message)")
    }

    static let cancelled = ProviderFailure(kind: .cancelled, message: "the call was cancelled")

    static func malformed(_ what: String) -> ProviderFailure {
        ProviderFailure(kind: .malformedResponse, message: "the provider's \(what) does not parse")
    }

    static let incompleteStream = ProviderFailure(
        kind: .incompleteStream, message: "the provider's stream ended without [DONE]")
}
