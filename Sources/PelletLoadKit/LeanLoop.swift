import Foundation

/// The calls of one lean connection, on a thread of its own: the same closed and open loops as
/// the workers of the NIO client (see `LoadRunner`), with `in-flight` calls outstanding at most.
/// Each call has a slot; the `Wire` writes a slot's requests and says which slot an answer ends,
/// so Pellet's RPC and HTTP/1.1 share all the rest.
///
/// Closed loop: each answer's slot sends the next call at once; all the calls sent after one read
/// leave in one write. Open loop: a request is due at its scheduled time whatever happened
/// before; when all slots are busy it waits for one, and its latency counts from the scheduled
/// time (no coordinated omission), the wait included. A lost connection ends the connection's
/// share of the run: its calls still out count as transport errors.
struct LeanLoop<Wire: LeanWire>: Sendable {
    let connection: LeanConnection
    /// Which connection of the run this is (the open loop's requests are dealt by it).
    let index: Int
    let inFlight: Int
    /// The protocol as the run starts; the loop works on a copy of its own.
    let wire: Wire
    let schedule: OpenLoopSchedule?
    let claims: RequestClaims
    let recorder: LoadRecorder
    let timeline: Timeline
    /// Calls still out at this time are abandoned.
    let drainDeadline: UInt64

    private struct Call {
        /// When its latency starts: the scheduled time in the open loop, the send otherwise.
        let start: UInt64
        let sentAt: UInt64
        let isMeasured: Bool

        /// The open loop's wait from the scheduled time to the send (0 when sent a little early).
        func sendDelay(_ isOpenLoop: Bool) -> UInt64? {
            isOpenLoop ? (sentAt > start ? sentAt - start : 0) : nil
        }
    }

    /// How often the thread's own tally joins the recorder's (the progress line reads it).
    static var mergeNanoseconds: UInt64 { 50_000_000 }

    func run() {
        var wire = self.wire
        let requestCount = wire.requestCount
        var slots = [Call?](repeating: nil, count: inFlight)
        var free = Array((0..<inFlight).reversed())
        var input = LeanInput()
        // The requests due together; it keeps its capacity from one write to the next.
        var output: [UInt8] = []
        var prompt = index % requestCount
        var ordinal: UInt64 = 0
        var sending = true
        let isOpenLoop = schedule != nil
        // Counted here and handed to the recorder every `mergeNanoseconds`, not locked per call.
        var tally = LoadTally()
        var mergedAt = LoadClock.now()
        defer { recorder.add(tally, worker: index) }

        func answered(slot: Int, outcome: LoadOutcome) {
            guard slot < inFlight, let call = slots[slot] else { return }
            slots[slot] = nil
            free.append(slot)
            guard call.isMeasured else { return }
            let now = LoadClock.now()
            tally.record(
                outcome,
                latencyNanoseconds: now > call.start ? now - call.start : 0,
                firstChunkNanoseconds: nil,
                sendDelayNanoseconds: call.sendDelay(isOpenLoop))
        }

        func add(prompt: Int, start: UInt64, sentAt: UInt64) {
            let slot = free.removeLast()
            let isMeasured = start >= timeline.measureStart
            if isMeasured { tally.sent += 1 }
            slots[slot] = Call(start: start, sentAt: sentAt, isMeasured: isMeasured)
            wire.appendRequest(prompt: prompt, slot: slot, to: &output)
        }

        func readAnswers() -> Bool {
            input.read(from: connection.descriptor, into: &wire, answered: answered)
        }

        func fail() {
            let now = LoadClock.now()
            for case let call? in slots where call.isMeasured {
                tally.record(
                    .transportError, latencyNanoseconds: now > call.start ? now - call.start : 0,
                    firstChunkNanoseconds: nil, sendDelayNanoseconds: call.sendDelay(isOpenLoop))
            }
            slots = [Call?](repeating: nil, count: inFlight)
            free = Array((0..<inFlight).reversed())
        }

        while true {
            let now = LoadClock.now()
            var nextDue: UInt64?
            if sending {
                if let schedule {
                    while !free.isEmpty {
                        let due = schedule.sendTime(connection: index, ordinal: ordinal)
                        if due >= timeline.measureEnd {
                            sending = false
                            break
                        }
                        if due > now + LoadRunner.earlySendNanoseconds {
                            nextDue = due
                            break
                        }
                        let request = schedule.requestIndex(connection: index, ordinal: ordinal)
                        add(prompt: Int(request % UInt64(requestCount)), start: due, sentAt: now)
                        ordinal += 1
                        _ = claims.claim()
                    }
                } else if now >= timeline.measureEnd {
                    sending = false
                } else {
                    while !free.isEmpty {
                        add(prompt: prompt, start: now, sentAt: now)
                        prompt = prompt + 1 == requestCount ? 0 : prompt + 1
                    }
                }
                if !output.isEmpty {
                    let sent = connection.sendAll(output, readingMeanwhile: readAnswers)
                    output.removeAll(keepingCapacity: true)
                    guard sent else { return fail() }
                }
            }
            if !sending && free.count == inFlight { return }
            if now >= drainDeadline { return }
            // Until the next request is due (open loop, a slot free), else until an answer.
            let wakeAt = nextDue.map { $0 - LoadRunner.earlySendNanoseconds / 2 } ?? drainDeadline
            if connection.waitReadable(nanoseconds: wakeAt > now ? wakeAt - now : 0) {
                guard readAnswers() else { return fail() }
            }
            if now >= mergedAt + Self.mergeNanoseconds {
                recorder.add(tally, worker: index)
                tally = LoadTally()
                mergedAt = now
            }
        }
    }
}
