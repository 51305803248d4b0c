import Foundation
import PelletStore
import PelletWire
import Synchronization

/// What a service tells the access log about its call beyond the connection's view: who called,
/// which offer answered, what it cost. Never prompt or completion text.
///
/// `@unchecked Sendable`: a service writes it on the call's event loop, where the connection takes
/// its ``snapshot`` when the call ends; the one field written elsewhere (the overhead, on the
/// store's writer thread) is atomic. A call answered before its service is done (cut off at
/// shutdown, cancelled, past its deadline) is logged from the snapshot, so the service's later
/// writes never race the access log's thread.
public final class CallAnnotations: @unchecked Sendable {
    public var requestID = ""
    public var accountID = ""
    public var keyID = ""
    public var model = ""
    public var provider = ""
    public var attempts: UInt32 = 0
    public var inputTokens: UInt32 = 0
    public var cachedInputTokens: UInt32 = 0
    public var outputTokens: UInt32 = 0
    public var costMicroUSD: UInt64 = 0
    private let overhead = Atomic<UInt64>(0)

    public var overheadMicroseconds: UInt64 {
        get { overhead.load(ordering: .relaxed) }
        set { overhead.store(newValue, ordering: .relaxed) }
    }

    public init() {}

    /// The fields as they are when the call ends: what its access log line says.
    public struct Snapshot: Sendable {
        public var requestID: String
        public var accountID: String
        public var keyID: String
        public var model: String
        public var provider: String
        public var attempts: UInt32
        public var inputTokens: UInt32
        public var cachedInputTokens: UInt32
        public var outputTokens: UInt32
        public var costMicroUSD: UInt64
        public var overheadMicroseconds: UInt64
    }

    public var snapshot: Snapshot {
        Snapshot(
            requestID: requestID, accountID: accountID, keyID: keyID, model: model, provider: provider,
            attempts: attempts, inputTokens: inputTokens, cachedInputTokens: cachedInputTokens,
            outputTokens: outputTokens, costMicroUSD: costMicroUSD, overheadMicroseconds: overheadMicroseconds)
    }
}

/// `--access-log`: one JSON line per finished call, written by a thread of its own.
///
/// A call only appends its entry to a bounded queue (a short lock, no I/O); the thread formats and
/// writes. When the queue is full the entry is dropped and counted (`droppedLines`), so a slow
/// disk never slows a call. `close()` writes what is queued before returning (graceful shutdown).
public final class AccessLog: @unchecked Sendable {
    // @unchecked: `queue`, `closing` and `dropped` are only touched with `condition` locked;
    // `handle` only by the writer thread (and `close` after it finished).

    public struct Entry: Sendable {
        public var unixMicroseconds: UInt64
        public var method: Method
        public var status: Status
        public var durationMicroseconds: UInt64
        /// Taken when the call ended (``CallAnnotations/snapshot``), not the object itself.
        public var annotations: CallAnnotations.Snapshot?
    }

    public static let defaultCapacity = 16_384

    private let handle: FileHandle
    private let closesHandle: Bool
    private let capacity: Int
    private let condition = NSCondition()
    private var queue: [Entry] = []
    private var closing = false
    private var finished = false
    private var dropped: UInt64 = 0

    /// `path`: "stderr" or a file, appended to (created 0600: it names accounts and keys).
    public init(path: String, capacity: Int = AccessLog.defaultCapacity) throws {
        if path == "stderr" {
            handle = FileHandle.standardError
            closesHandle = false
        } else {
            let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                throw ServerStartError("cannot open the access log \(path): \(String(cString: strerror(errno)))")
            }
            handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            closesHandle = true
        }
        self.capacity = max(1, capacity)
        queue.reserveCapacity(self.capacity)
        let thread = Thread { [self] in drain() }
        thread.name = "pellet-access-log"
        thread.start()
    }

    /// Entries dropped because the queue was full.
    public var droppedLines: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return dropped
    }

    /// The wall clock, for an entry's time.
    public static func wallClockMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec / 1_000)
    }

    public func append(_ entry: Entry) {
        condition.lock()
        if closing || queue.count >= capacity {
            dropped += 1
        } else {
            queue.append(entry)
            if queue.count == 1 { condition.signal() }
        }
        condition.unlock()
    }

    /// Writes every entry queued so far, then stops the thread. Later entries are dropped.
    public func close() {
        condition.lock()
        closing = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
        if closesHandle { try? handle.close() }
    }

    private func drain() {
        var batch: [Entry] = []
        batch.reserveCapacity(capacity)
        while true {
            condition.lock()
            while queue.isEmpty && !closing { condition.wait() }
            swap(&batch, &queue)
            let last = closing && batch.isEmpty
            condition.unlock()
            if last { break }
            var text = ""
            for entry in batch { Self.format(entry, into: &text) }
            batch.removeAll(keepingCapacity: true)
            handle.write(Data(text.utf8))
        }
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    static func format(_ entry: Entry, into text: inout String) {
        let note = entry.annotations
        let seconds = entry.unixMicroseconds / 1_000_000
        let time = Date(timeIntervalSince1970: TimeInterval(seconds)).ISO8601Format()
        let fraction = String(entry.unixMicroseconds % 1_000_000)
        let stamp = time.dropLast() + "." + String(repeating: "0", count: 6 - fraction.count) + fraction + "Z"
        text += "{\"time\":\"\(stamp)\""
        text += ",\"request_id\":" + JSONText.quoted(note?.requestID ?? "")
        text += ",\"method\":\"\(entry.method)\",\"status\":\"\(entry.status.name)\""
        text += ",\"duration_us\":\(entry.durationMicroseconds)"
        text += ",\"account_id\":" + JSONText.quoted(note?.accountID ?? "")
        text += ",\"key_id\":" + JSONText.quoted(note?.keyID ?? "")
        text += ",\"model\":" + JSONText.quoted(note?.model ?? "")
        text += ",\"provider\":" + JSONText.quoted(note?.provider ?? "")
        text += ",\"attempts\":\(note?.attempts ?? 0)"
        text += ",\"tokens\":{\"input\":\(note?.inputTokens ?? 0),\"cached\":\(note?.cachedInputTokens ?? 0)"
        text += ",\"output\":\(note?.outputTokens ?? 0)}"
        text += ",\"cost_micro_usd\":\(note?.costMicroUSD ?? 0),\"overhead_us\":\(note?.overheadMicroseconds ?? 0)}\n"
    }
}

extension CallAnnotations {
    func describe(requestID: String, accountID: String, keyID: String) {
        self.requestID = requestID
        self.accountID = accountID
        self.keyID = keyID
    }

    /// An API key's call names its account and key; the admin token's names neither.
    func describe(_ caller: Caller) {
        if case .apiKey(let key, let account) = caller {
            describe(requestID: requestID, accountID: account.id, keyID: key.id)
        }
    }

    /// A Complete call's metering event says all the access log needs of it.
    func describe(_ event: MeteringEvent) {
        describe(requestID: event.requestID, accountID: event.accountID, keyID: event.keyID)
        model = event.model
        provider = event.provider
        attempts = event.attempts
        inputTokens = event.promptTokens
        cachedInputTokens = event.cachedPromptTokens
        outputTokens = event.completionTokens
        costMicroUSD = event.costMicroUSD
    }
}
