import Foundation
import PelletClient

/// `--client lean`: the run's connections on threads of their own (see `LeanConnection`), with
/// the same timeline, recorder, progress line and report as the NIO client's workers.
extension LoadRunner {
    func connectLean() throws(LoadError) -> [LeanConnection] {
        guard case .pellet(let address) = configuration.target else {
            throw LoadError("--client lean calls pelletd, not an http:// target")
        }
        var connections: [LeanConnection] = []
        for index in 0..<configuration.connections {
            do {
                connections.append(try LeanConnection.connect(to: address))
            } catch {
                let which =
                    configuration.connections > 1 ? " (connection \(index + 1) of \(configuration.connections))" : ""
                throw LoadError(error.description + which)
            }
        }
        return connections
    }

    func measureLean(_ connections: [LeanConnection]) async -> LoadReport {
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
        let frames = LeanLoop.frames(
            method: configuration.method.wireMethod, payloads: RPCDriver.encodedRequests(configuration))
        let drainDeadline = timeline.measureEnd + Self.nanoseconds(configuration.drainTimeout)

        await withTaskGroup(of: Void.self) { group in
            for (index, connection) in connections.enumerated() {
                let loop = LeanLoop(
                    connection: connection, index: index, inFlight: configuration.inFlight, frames: frames,
                    schedule: schedule, claims: claims[index], recorder: recorder, timeline: timeline,
                    drainDeadline: drainDeadline)
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
