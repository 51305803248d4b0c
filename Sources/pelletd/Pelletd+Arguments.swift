import ArgumentParser
import Foundation
import Logging
import PelletCluster
import PelletProviders
import PelletRouter
import PelletServer
import PelletStore
import PelletWire
import Synchronization

/// pelletd's argument types and their parsing.
extension Pelletd {
    func parseTCP(_ text: String, flag: String = "--tcp") throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port), colon != text.startIndex
        else {
            throw ValidationError("\(flag) must be HOST:PORT (e.g. 127.0.0.1:7400) or 'off', not '\(text)'")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension LogFormat: ExpressibleByArgument {}

/// `--discovery-interval`: seconds, or a number with a unit (ms, s, m), or `off`.
enum DiscoveryInterval: ExpressibleByArgument, CustomStringConvertible {
    case off
    case every(Duration)

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces).lowercased()
        if text == "off" {
            self = .off
            return
        }
        let units: [(suffix: String, milliseconds: Int64)] = [("ms", 1), ("s", 1_000), ("m", 60_000)]
        let unit = units.first { text.hasSuffix($0.suffix) }
        guard let number = Int64(text.dropLast(unit?.suffix.count ?? 0)), number > 0,
              number <= Int64(Int32.max)
        else { return nil }
        self = .every(.milliseconds(number * (unit?.milliseconds ?? 1_000)))
    }

    var description: String {
        switch self {
        case .off: "off"
        case .every(let interval): "\(interval.components.seconds)s"
        }
    }
}

enum DurabilityMode: String, ExpressibleByArgument, CaseIterable {
    case full
    case batched

    var storeDurability: StoreConfiguration.Durability {
        switch self {
        case .full: .full
        case .batched: .batched
        }
    }
}
