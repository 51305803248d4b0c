import Foundation
import PelletClient

/// `--client lean`: the run's connections on threads of their own (see `LeanConnection`), with
/// the same timeline, recorder, progress line and report as the NIO client's workers. pelletd is
/// called over its RPC, a provider over HTTP/1.1 with the calls of a connection pipelined.
extension LoadRunner {
    func runLean() async throws(LoadError) -> LoadReport {
        switch configuration.target {
        case .pellet(let address):
            let connections = try connectLean { () throws(LoadError) in try LeanConnection.connect(to: address) }
            let wire = RPCLeanWire(
                method: configuration.method.wireMethod,
                payloads: RPCDriver.encodedRequests(configuration)
            )
            return await measureLean(connections, wire: wire)
        case .http(let host, let port, let path):
            let target = configuration.target.description
            let connections = try connectLean { () throws(LoadError) in
                try LeanConnection.connectHTTP(host: host, port: port, target: target)
            }
            let requests = configuration.prompts.map {
                HTTPPreparedRequest(prompt: $0, configuration: configuration, host: host, port: port, path: path)
            }
            return await measureLean(
                connections,
                wire: HTTPLeanWire(requests: requests, inFlight: configuration.inFlight)
            )
        }
    }

    private func connectLean(
        _ connect: () throws(LoadError) -> LeanConnection
    ) throws(LoadError) -> [LeanConnection] {
        var connections: [LeanConnection] = []
        for index in 0..<configuration.connections {
            do {
                connections.append(try connect())
            } catch {
                let which =
                    configuration.connections > 1 ? " (connection \(index + 1) of \(configuration.connections))" : ""
                throw LoadError(error.description + which)
            }
        }
        return connections
    }

    private func measureLean<Wire: LeanWire>(_ connections: [LeanConnection], wire: Wire) async -> LoadReport {
        let timeline = Timeline(
            start: LoadClock.now(),
            warmup: Self.nanoseconds(configuration.warmup),
            duration: Self.nanoseconds(configuration.duration)
        )
        // A shard per connection: its thread is the only one recording there.
        let recorder = LoadRecorder(workers: connections.count, maxShards: connections.count)
        let schedule = configuration.rate.map {
            OpenLoopSchedule(start: timeline.start, rate: $0, connections: configuration.connections)
        }
        let claims = connections.map { _ in RequestClaims() }
        let progressTask = startProgress(timeline: timeline, recorder: recorder, schedule: schedule, claims: claims)
        let drainDeadline = timeline.measureEnd + Self.nanoseconds(configuration.drainTimeout)

        await withTaskGroup(of: Void.self) { group in
            for (index, connection) in connections.enumerated() {
                let loop = LeanLoop(
                    connection: connection,
                    index: index,
                    inFlight: configuration.inFlight,
                    wire: wire,
                    schedule: schedule,
                    claims: claims[index],
                    recorder: recorder,
                    timeline: timeline,
                    drainDeadline: drainDeadline
                )
                group.addTask {
                    await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                        let thread = Thread {
                            loop.run()
                            finished.resume()
                        }
                        thread.name = "pellet-load-lean-\(index)"
                        thread.start()
                    }
                }
            }
        }
        return await finish(timeline: timeline, recorder: recorder, progressTask: progressTask)
    }
}
