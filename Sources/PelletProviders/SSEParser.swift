/// An incremental parser of server-sent events (the WHATWG `text/event-stream` format), as
/// OpenAI-compatible APIs stream chat completions.
///
/// Bytes may arrive split at any boundary, even inside a CRLF. Lines end with `\n`, `\r\n` or
/// `\r`; lines starting with `:` are comments; `data:` lines are joined with `\n`; a blank line
/// dispatches the event; `event:`, `id:`, `retry:` and unknown fields are ignored. The event
/// whose data is `[DONE]` ends the stream: it is reported as ``Event/done`` and everything after
/// it is ignored. Memory is bounded: an event larger than `maximumEventBytes` is an error, and so
/// is a line (of any field) longer than that plus a small margin.
public struct SSEParser: Sendable {
    public enum Event: Sendable, Hashable {
        /// One event's data: the `data:` lines' values joined by `\n`.
        case data([UInt8])
        /// `data: [DONE]`.
        case done
    }

    /// The stream broke the format's limits.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public let description: String
    }

    public let maximumEventBytes: Int
    /// A line whose end has not arrived yet.
    private var partialLine: [UInt8] = []
    /// The data of the event being assembled (values joined by `\n`, with a trailing `\n`).
    private var data: [UInt8] = []
    private var hasData = false
    /// The previous chunk ended with `\r`: a `\n` opening this one belongs to that line end.
    private var skipLineFeed = false
    private var atStreamStart = true
    /// `[DONE]` was seen, or ``finish(into:)`` was called.
    public private(set) var isDone = false

    public init(maximumEventBytes: Int = 1 << 20) {
        self.maximumEventBytes = maximumEventBytes
    }

    /// Parses the next bytes of the stream and appends the events they complete to `events`.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer, into events: inout [Event]) throws(Failure) {
        var index = 0
        let count = bytes.count
        while index < count, !isDone {
            if skipLineFeed {
                skipLineFeed = false
                if bytes[index] == lineFeed {
                    index += 1
                    continue
                }
            }
            var end = index
            while end < count, bytes[end] != lineFeed, bytes[end] != carriageReturn {
                end += 1
            }
            guard end < count else {
                // No line end yet: keep the fragment for the next chunk.
                try checkLineLength(partialLine.count + (end - index))
                partialLine.append(contentsOf: bytes[index..<end])
                return
            }
            skipLineFeed = bytes[end] == carriageReturn
            if partialLine.isEmpty {
                try processLine(bytes[index..<end], into: &events)
            } else {
                partialLine.append(contentsOf: bytes[index..<end])
                let line = partialLine
                partialLine.removeAll(keepingCapacity: true)
                try processLine(line[...], into: &events)
            }
            index = end + 1
        }
    }

    /// Convenience for tests and for bytes already in an array.
    public mutating func parse(_ bytes: [UInt8], into events: inout [Event]) throws(Failure) {
        var failure: Failure?
        bytes.withUnsafeBytes { buffer in
            do throws(Failure) {
                try parse(buffer, into: &events)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// The stream ended: a last line without its line end, and a last event without its blank
    /// line, are taken as if complete (leniency towards servers that close right after
    /// `data: [DONE]`). Nothing is parsed afterwards.
    public mutating func finish(into events: inout [Event]) throws(Failure) {
        guard !isDone else { return }
        if !partialLine.isEmpty {
            let line = partialLine
            partialLine = []
            try processLine(line[...], into: &events)
        }
        if !isDone {
            try processLine(EmptyCollection<UInt8>(), into: &events)
        }
        isDone = true
    }

    /// Lines are limited whether they arrive whole or in pieces, so that how a stream is split
    /// never changes its outcome (an earlier check on the buffered fragment alone failed a long
    /// line only when it was split). The margin leaves room for a field name and a byte order
    /// mark around a largest event's data.
    private func checkLineLength(_ length: Int) throws(Failure) {
        guard length <= maximumEventBytes + 16 else {
            throw Failure(description: "a server-sent event line is longer than \(maximumEventBytes + 16) bytes")
        }
    }

    private mutating func processLine<Line: Collection<UInt8>>(
        _ rawLine: Line,
        into events: inout [Event]
    ) throws(Failure) {
        try checkLineLength(rawLine.count)
        var line = rawLine[...]
        if atStreamStart {
            atStreamStart = false
            if line.starts(with: byteOrderMark) {
                line = line.dropFirst(byteOrderMark.count)
            }
        }
        guard let first = line.first else {
            dispatch(into: &events)
            return
        }
        if first == colon { return }  // a comment (often a keep-alive)

        let name: Line.SubSequence
        var value: Line.SubSequence
        if let separator = line.firstIndex(of: colon) {
            name = line[..<separator]
            value = line[line.index(after: separator)...]
            if value.first == space { value = value.dropFirst() }
        } else {
            name = line[...]
            value = line[line.endIndex...]
        }
        guard name.elementsEqual(dataFieldName) else { return }
        guard data.count + value.count + 1 <= maximumEventBytes else {
            throw Failure(description: "a server-sent event is larger than \(maximumEventBytes) bytes")
        }
        data.append(contentsOf: value)
        data.append(lineFeed)
        hasData = true
    }

    private mutating func dispatch(into events: inout [Event]) {
        guard hasData else { return }
        hasData = false
        data.removeLast()  // the `\n` after the last value
        if data.elementsEqual(doneMarker) {
            isDone = true
            events.append(.done)
            data = []
        } else {
            events.append(.data(data))
            data = []
            data.reserveCapacity(256)
        }
    }
}

private let lineFeed = UInt8(ascii: "\n")
private let carriageReturn = UInt8(ascii: "\r")
private let colon = UInt8(ascii: ":")
private let space = UInt8(ascii: " ")
private let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]
private let dataFieldName = Array("data".utf8)
private let doneMarker = Array("[DONE]".utf8)
