import ArgumentParser
import Foundation
import PelletClient
import PelletLoadKit

extension PelletLoad {
    struct RPC: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rpc",
            abstract: "Drive a running pelletd (or a provider over HTTP) with calls and report throughput and latency.",
            discussion: """
                Closed loop (no --rate): each connection keeps --in-flight calls outstanding and \
                starts a new one when one ends. Open loop (--rate R): send times are fixed in \
                advance at R per second in total, dealt to the connections in turn; latency is \
                measured from each request's scheduled time, so a server that falls behind is \
                charged for the queue (no coordinated omission). When a connection's --in-flight \
                calls are all out, due requests wait, and the wait is part of their latency. \
                The open loop's report adds the send delay (scheduled time to actual send: that \
                wait plus the generator's own timer lateness), send_delay_us in the JSON.

                An http://HOST:PORT target is an OpenAI-compatible provider (such as \
                pellet-mock-provider) called straight over HTTP/1.1 with POST /v1/chat/completions: \
                the baseline that pelletd's overhead is measured against. Only complete and \
                complete-stream go there. With the nio client every call in flight has a \
                keep-alive connection of its own; with --client lean (complete only) each \
                connection's calls in flight are pipelined on it, answered in order.

                Latency counts every answered call, OK or not; the statuses say how they ended. \
                Calls still out --drain seconds after the measured time are abandoned (sent, not \
                completed). Progress goes to stderr each second; the report to stdout (with \
                --json as one JSON object, the table then going to stderr).
                """
        )

        @Option(
            help: ArgumentHelp(
                "unix:PATH, tcp://HOST:PORT or tls://HOST:PORT for pelletd; http://HOST:PORT for a provider.",
                valueName: "address"
            )
        )
        var target: String

        @Option(help: ArgumentHelp("With a tls:// target: the CA (PEM) that signs pelletd's certificate.", valueName: "file"))
        var tlsCa: String?

        @Option(help: ArgumentHelp("With a tls:// target and mutual TLS: the client certificate (PEM).", valueName: "file"))
        var tlsCert: String?

        @Option(help: ArgumentHelp("With a tls:// target and mutual TLS: the private key (PEM) of --tls-cert.", valueName: "file"))
        var tlsKey: String?

        @Option(help: ArgumentHelp("The call to make: \(LoadMethod.choices).", valueName: "method"))
        var method = "health"

        @Option(help: "Connections to open.")
        var connections = 1

        @Option(help: "Calls outstanding per connection.")
        var inFlight = 1

        @Option(
            help: ArgumentHelp("Requests per second in total, open loop. (default: a closed loop)", valueName: "rate")
        )
        var rate: Double?

        @Option(help: ArgumentHelp("Seconds measured (fractions allowed).", valueName: "seconds"))
        var duration = 10.0

        @Option(help: ArgumentHelp("Seconds run first and not counted.", valueName: "seconds"))
        var warmup = 1.0

        @Option(
            help: ArgumentHelp(
                "How long calls still out at the end may take before they are abandoned.",
                valueName: "seconds"
            )
        )
        var drain = 10.0

        @Option(
            help: ArgumentHelp(
                "A JSONL file, one object with a \"prompt\" string a line. (default: a built-in mix of task types)",
                valueName: "file"
            )
        )
        var prompts: String?

        @Option(
            help: ArgumentHelp(
                "The API key for route, complete and usage. (default: $PELLET_API_KEY)",
                valueName: "key"
            )
        )
        var apiKey: String?

        @Option(help: "The model complete and route ask for (\"auto\": let Pellet choose; mock-model over http).")
        var model = "auto"

        @Option(help: ArgumentHelp("cost|quality|latency|balanced", valueName: "preference"))
        var preference = "balanced"

        @Option(help: "max_tokens of each completion.")
        var maxTokens = 64

        @Option(
            help: ArgumentHelp(
                "nio: PelletClient, every method and TLS. lean: a socket and a thread per connection, unary "
                    + "methods over unix: and tcp://, complete over http:// (pipelined), so that the client's own "
                    + "cost per call stays out of the figures.",
                valueName: "client"
            )
        )
        var client = "nio"

        @Flag(help: "Write the report as JSON to stdout (progress still goes to stderr).")
        var json = false

        @Flag(help: "No progress line.")
        var quiet = false

        func validate() throws {
            _ = try makeConfiguration()
        }

        func run() async throws {
            let configuration = try makeConfiguration()
            let printProgress: @Sendable (String) -> Void = { line in StandardError.write(line + "\n") }
            let runner = LoadRunner(configuration: configuration, progress: quiet ? nil : printProgress)
            let report: LoadReport
            do throws(LoadError) {
                report = try await runner.run()
            } catch {
                throw RunFailure(description: error.description)
            }
            if json {
                if !quiet { StandardError.write(report.table) }
                print(report.json)
            } else {
                print(report.table, terminator: "")
            }
        }

        private func makeConfiguration() throws -> LoadConfiguration {
            var options = LoadConfiguration.Options(target: target)
            options.method = method
            options.connections = connections
            options.inFlight = inFlight
            options.rate = rate
            options.durationSeconds = duration
            options.warmupSeconds = warmup
            options.promptsFile = prompts
            options.apiKey = apiKey ?? ProcessInfo.processInfo.environment["PELLET_API_KEY"]
            options.model = model
            options.preference = preference
            options.maxTokens = maxTokens
            options.drainSeconds = drain
            options.client = client
            options.tls = ClientTLSOptions(trustedCA: tlsCa, certificate: tlsCert, privateKey: tlsKey)
            do {
                return try LoadConfiguration(options: options)
            } catch {
                throw ValidationError(error.description)
            }
        }
    }
}

/// A run that could not start (the target is unreachable): ArgumentParser prints it and exits 1.
private struct RunFailure: Error, CustomStringConvertible {
    let description: String
}

enum StandardError {
    static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
