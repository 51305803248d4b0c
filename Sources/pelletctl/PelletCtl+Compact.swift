import ArgumentParser
import PelletWire

extension PelletCtl {
    struct Compact: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rewrite pelletd's data file without its freed pages (needs the admin token).",
            discussion: """
                LMDB keeps the bytes of deleted records (deleted accounts, expired request records) \
                in the data file's freed pages until the file is rewritten. This rewrites it now, \
                while pelletd serves: writes wait while it runs, reads only during the swap. \
                pelletd also compacts by itself after deletions, at most once per \
                --compact-interval-hours.
                """
        )

        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let response = try await options.accountCall(.compact(CompactStore()))
            guard let report = response.compaction else {
                throw RPCError(.internal, "the server's reply to compact has no report")
            }
            if options.json {
                try Output.printJSON(CompactionJSON(report))
            } else {
                print(
                    "compacted data.mdb: \(Output.size(bytes: report.bytesBefore)) → "
                        + "\(Output.size(bytes: report.bytesAfter)), writes held \(report.durationMs) ms"
                )
            }
        }
    }
}

struct CompactionJSON: Encodable {
    var bytesBefore, bytesAfter: UInt64
    var durationMs: UInt32

    init(_ report: CompactionReport) {
        bytesBefore = report.bytesBefore
        bytesAfter = report.bytesAfter
        durationMs = report.durationMs
    }

    enum CodingKeys: String, CodingKey {
        case bytesBefore = "bytes_before"
        case bytesAfter = "bytes_after"
        case durationMs = "duration_ms"
    }
}

extension Output {
    /// "512 B", "64.0 KiB", "12.0 MiB", "1.5 GiB": binary units, one decimal.
    static func size(bytes: UInt64) -> String {
        guard bytes >= 1_024 else { return "\(bytes) B" }
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var (value, unit) = (Double(bytes) / 1_024, 0)
        while value >= 1_024, unit < units.count - 1 {
            value /= 1_024
            unit += 1
        }
        return "\(oneDecimal(value)) \(units[unit])"
    }
}
