import Foundation
import Logging
import PelletServer
import PelletWire

/// `--log-format json`: pelletd's own log as one JSON object a line on stderr, for log
/// collectors. Metadata keys become fields; values are strings, as swift-log renders them.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let (level, message, explicit) = (event.level, event.message, event.metadata)
        var fields = self.metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let explicit { fields.merge(explicit) { $1 } }
        var text = "{\"time\":" + JSONText.quoted(Date().ISO8601Format(.iso8601.time(includingFractionalSeconds: true).year().month().day().dateTimeSeparator(.standard)))
        text += ",\"level\":\"\(level)\",\"label\":" + JSONText.quoted(label)
        text += ",\"message\":" + JSONText.quoted("\(message)")
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            text += "," + JSONText.quoted(key) + ":" + JSONText.quoted("\(value)")
        }
        text += "}\n"
        FileHandle.standardError.write(Data(text.utf8))
    }
}

enum LogFormat: String, CaseIterable {
    case text, json
}
