import Foundation
import PelletWire

/// The outcome of a run: what `--json` writes, and the table otherwise.
public struct LoadReport: Sendable, Equatable {
    public var method: String
    public var target: String
    /// "closed" or "open".
    public var mode: String
    /// The open loop's target rate; nil in a closed loop.
    public var rate: Double?
    public var connections: Int
    public var inFlight: Int
    /// From the end of the warm-up until the last measured call ended (at least `--duration`).
    public var durationSeconds: Double
    public var sent: UInt64
    public var completed: UInt64
    public var errors: UInt64
    /// Completed calls per second of `durationSeconds`.
    public var achievedRate: Double
    /// Calls by how they ended: "OK", "UNAVAILABLE", "HTTP_503", "TRANSPORT_ERROR".
    public var statuses: [String: UInt64]
    public var latency: LatencySummary
    /// Time to the first streamed chunk, for complete-stream; nil for other methods.
    public var firstChunk: LatencySummary?
    /// Open loop only: from the scheduled time to the actual send (see `LoadTally.sendDelay`).
    /// Not one of the documented keys scripts rely on; an extra for reading the latency.
    public var sendDelay: LatencySummary?

    init(configuration: LoadConfiguration, tally: LoadTally, durationSeconds: Double) {
        method = configuration.method.rawValue
        target = configuration.targetText
        mode = configuration.isOpenLoop ? "open" : "closed"
        rate = configuration.rate
        connections = configuration.connections
        inFlight = configuration.inFlight
        self.durationSeconds = durationSeconds
        sent = tally.sent
        completed = tally.completed
        errors = tally.errors
        achievedRate = durationSeconds > 0 ? Double(tally.completed) / durationSeconds : 0
        statuses = Dictionary(uniqueKeysWithValues: tally.outcomes.map { ($0.key.description, $0.value) })
        latency = tally.latency.summary
        firstChunk = configuration.method.isStreamed ? tally.firstChunk.summary : nil
        sendDelay = configuration.isOpenLoop ? tally.sendDelay.summary : nil
    }

    // MARK: JSON

    /// One JSON object, keys in the documented order, statuses sorted by name.
    public var json: String {
        var fields: [(String, String)] = [
            ("method", JSONText.quoted(method)),
            ("target", JSONText.quoted(target)),
            ("mode", JSONText.quoted(mode)),
            ("rate", rate.map(Self.jsonNumber) ?? "null"),
            ("connections", String(connections)),
            ("in_flight", String(inFlight)),
            ("duration_s", Self.jsonNumber(durationSeconds)),
            ("sent", String(sent)),
            ("completed", String(completed)),
            ("errors", String(errors)),
            ("achieved_rate", Self.jsonNumber(achievedRate)),
        ]
        let statusFields = statuses.sorted { $0.key < $1.key }.map { "\(JSONText.quoted($0.key)):\($0.value)" }
        fields.append(("statuses", "{" + statusFields.joined(separator: ",") + "}"))
        fields.append(("latency_us", Self.json(latency)))
        fields.append(("first_chunk_us", firstChunk.map(Self.json) ?? "null"))
        fields.append(("send_delay_us", sendDelay.map(Self.json) ?? "null"))
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    private static func json(_ summary: LatencySummary) -> String {
        "{\"p50\":\(summary.p50),\"p90\":\(summary.p90),\"p99\":\(summary.p99),\"p999\":\(summary.p999),"
            + "\"max\":\(summary.max),\"mean\":\(jsonNumber(summary.mean))}"
    }

    /// Rounded to 3 decimals: more would be noise.
    private static func jsonNumber(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        let rounded = (value * 1_000).rounded() / 1_000
        return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int64(rounded)) : String(rounded)
    }

    // MARK: Table

    /// The report for people, one figure a line.
    public var table: String {
        let shape = "\(connections) connection\(connections == 1 ? "" : "s") × \(inFlight) in flight"
        let loop = rate.map { "open loop at \(Self.decimal($0)) req/s" } ?? "closed loop"
        var lines = [
            "\(method) on \(target): \(loop), \(shape)",
            "duration      \(String(format: "%.3f", durationSeconds)) s measured",
            "sent          \(sent)",
            "completed     \(completed)  (\(String(format: "%.1f", achievedRate)) /s)",
            "errors        \(errors)",
            "statuses      "
                + statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
            "latency       " + Self.row(latency),
        ]
        if let firstChunk { lines.append("first chunk   " + Self.row(firstChunk)) }
        if let sendDelay { lines.append("send delay    " + Self.row(sendDelay)) }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func row(_ summary: LatencySummary) -> String {
        "p50 \(formatMicroseconds(summary.p50))  p90 \(formatMicroseconds(summary.p90))  "
            + "p99 \(formatMicroseconds(summary.p99))  p99.9 \(formatMicroseconds(summary.p999))  "
            + "max \(formatMicroseconds(summary.max))  mean \(formatMicroseconds(UInt64(summary.mean.rounded())))"
    }

    /// "850 µs" below a millisecond, "12.3 ms" below a second, "2.41 s" above.
    public static func formatMicroseconds(_ microseconds: UInt64) -> String {
        if microseconds < 1_000 { return "\(microseconds) µs" }
        if microseconds < 1_000_000 { return String(format: "%.2f ms", Double(microseconds) / 1e3) }
        return String(format: "%.2f s", Double(microseconds) / 1e6)
    }

    private static func decimal(_ value: Double) -> String {
        value == value.rounded() ? String(Int64(value)) : String(value)
    }
}
