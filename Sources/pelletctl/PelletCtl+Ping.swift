import ArgumentParser
import PelletClient
import PelletWire

extension PelletCtl {
    struct Ping: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure the round trip to pelletd with PING frames, one after another."
        )

        /// Without --timeout-ms, a PING that gets no PONG gives up after this long.
        static let defaultTimeout = Duration.seconds(5)

        @OptionGroup var options: ConnectionOptions

        @Option(name: [.customShort("c"), .long], help: "How many pings to send.")
        var count = 10

        @Option(help: ArgumentHelp("Payload bytes in each PING, 0 to \(FrameHeader.maxPingPayload).", valueName: "bytes"))
        var payloadBytes = 8

        func validate() throws {
            guard count >= 1 else { throw ValidationError("--count must be at least 1, not \(count)") }
            guard (0...FrameHeader.maxPingPayload).contains(payloadBytes) else {
                throw ValidationError(
                    "--payload-bytes must be from 0 to \(FrameHeader.maxPingPayload), not \(payloadBytes)"
                )
            }
        }

        func run() async throws {
            let client = try await options.connect()
            var roundTrips: [Double] = []
            roundTrips.reserveCapacity(count)
            for sequence in 1...count {
                // Each payload differs, so a PONG can only match its own PING.
                let payload = (0..<payloadBytes).map { UInt8(truncatingIfNeeded: sequence &+ $0) }
                let microseconds: Double
                do {
                    let roundTrip = try await client.ping(payload: payload, timeout: options.timeout ?? Self.defaultTimeout)
                    microseconds = Output.microseconds(roundTrip)
                } catch {
                    await client.close()
                    throw error
                }
                roundTrips.append(microseconds)
                if !options.json {
                    print("PONG from \(client.address): seq=\(sequence) time=\(Output.oneDecimal(microseconds)) µs")
                }
            }
            await client.close()

            let summary = PingSummary(roundTrips)
            if options.json {
                try Output.printJSON(summary)
            } else {
                let figures = [summary.minimum, summary.average, summary.median, summary.maximum]
                    .map(Output.oneDecimal)
                    .joined(separator: "/")
                print("\(summary.count) \(summary.count == 1 ? "ping" : "pings"): min/avg/p50/max = \(figures) µs")
            }
        }
    }
}

/// Round-trip statistics in microseconds; p50 is the nearest-rank median.
private struct PingSummary: Encodable {
    var count: Int
    var minimum: Double
    var average: Double
    var median: Double
    var maximum: Double

    init(_ roundTrips: [Double]) {
        let sorted = roundTrips.sorted()
        count = sorted.count
        minimum = sorted.first ?? 0
        maximum = sorted.last ?? 0
        average = sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count)
        median = sorted.isEmpty ? 0 : sorted[(sorted.count + 1) / 2 - 1]
    }

    enum CodingKeys: String, CodingKey {
        case count
        case minimum = "min_us"
        case average = "avg_us"
        case median = "p50_us"
        case maximum = "max_us"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(count, forKey: .count)
        try container.encode(Output.roundedToTenth(minimum), forKey: .minimum)
        try container.encode(Output.roundedToTenth(average), forKey: .average)
        try container.encode(Output.roundedToTenth(median), forKey: .median)
        try container.encode(Output.roundedToTenth(maximum), forKey: .maximum)
    }
}
