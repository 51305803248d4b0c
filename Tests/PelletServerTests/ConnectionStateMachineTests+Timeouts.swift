import NIOCore
import PelletWire
import XCTest

@testable import PelletServer

/// The connection's timeouts, with the time given to the machine: the preface and a frame once
/// begun must arrive within the handshake timeout, and a connection with nothing to do is closed
/// after the idle timeout.
final class ConnectionTimeoutStateMachineTests: XCTestCase {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private let limits = ConnectionStateMachine.Limits(handshakeTimeout: .seconds(5), idleTimeout: .seconds(600))

    private func at(_ seconds: Int64) -> NIODeadline { start + .seconds(seconds) }

    private func closeError(_ action: ConnectionStateMachine.TimerAction) -> ConnectionError? {
        guard case .close(let error, _) = action else { return nil }
        return error
    }

    func testThePrefaceIsDueWithinTheHandshakeTimeout() {
        var machine = ConnectionStateMachine(limits: limits, now: start)
        XCTAssertEqual(machine.nextDeadline, at(5))
        XCTAssertEqual(machine.timerFired(now: at(4)), .none)
        // Part of the preface does not move the deadline.
        machine.partialFrameStarted(now: at(3))
        machine.receivedBytes(now: at(3))
        let error = closeError(machine.timerFired(now: at(5)))
        XCTAssertEqual(error?.status, .deadlineExceeded)
        XCTAssertTrue(error?.message.contains("preface") ?? false, error?.message ?? "")
        XCTAssertNil(machine.nextDeadline, "closed")
    }

    func testAPartialFrameIsDueWithinTheHandshakeTimeoutOfItsFirstByte() {
        var machine = ConnectionStateMachine(limits: limits, now: start)
        machine.receivedPreface()
        XCTAssertEqual(machine.nextDeadline, at(600), "idle once the preface is in")
        machine.partialFrameStarted(now: at(10))
        // More bytes of the same frame do not buy time: trickling is no way to hold a buffer.
        machine.receivedBytes(now: at(14))
        machine.partialFrameStarted(now: at(14))
        XCTAssertEqual(machine.nextDeadline, at(15))
        let error = closeError(machine.timerFired(now: at(15)))
        XCTAssertEqual(error?.status, .deadlineExceeded)
        XCTAssertTrue(error?.message.contains("frame") ?? false, error?.message ?? "")
    }

    func testACompleteFrameEndsTheHandshakeTimer() {
        var machine = ConnectionStateMachine(limits: limits, now: start)
        machine.receivedPreface()
        machine.partialFrameStarted(now: at(10))
        machine.receivedBytes(now: at(12))
        _ = machine.receivedFrame(FrameHeader(type: .ping, stream: 0))
        XCTAssertEqual(machine.nextDeadline, at(612))
        XCTAssertEqual(machine.timerFired(now: at(15)), .none)
    }

    func testThePartialFrameTimerWaitsWhileReadingIsPaused() {
        var machine = ConnectionStateMachine(limits: limits, now: start)
        machine.receivedPreface()
        machine.partialFrameStarted(now: at(10))
        machine.readsPaused(true, now: at(11))
        XCTAssertNil(machine.nextDeadline, "the bytes wait in the socket because the server does not read")
        XCTAssertEqual(machine.timerFired(now: at(100)), .none)
        machine.readsPaused(false, now: at(100))
        XCTAssertEqual(machine.nextDeadline, at(105))
    }

    func testAnIdleConnectionGetsGoAwayOKIdle() {
        var machine = ConnectionStateMachine(limits: limits, now: start)
        machine.receivedPreface()
        machine.receivedBytes(now: at(100))
        _ = machine.receivedFrame(FrameHeader(type: .ping, stream: 0))
        XCTAssertEqual(machine.timerFired(now: at(600)), .none, "the PING counted as activity")
        XCTAssertEqual(machine.nextDeadline, at(700))
        XCTAssertEqual(machine.timerFired(now: at(700)), .close(ConnectionError(.ok, "idle"), lastStream: 0))
    }

    func testACallInFlightIsNotIdle() {
        var machine = ConnectionStateMachine(limits: limits, now: start)
        machine.receivedPreface()
        _ = machine.receivedFrame(FrameHeader(type: .request, method: Method.complete.rawValue, stream: 3))
        XCTAssertNil(machine.nextDeadline)
        XCTAssertEqual(machine.timerFired(now: at(10_000)), .none)
        _ = machine.callFinished(stream: 3, now: at(10_000))
        XCTAssertEqual(machine.nextDeadline, at(10_600))
        XCTAssertEqual(machine.timerFired(now: at(10_600)), .close(ConnectionError(.ok, "idle"), lastStream: 3))
    }

    func testWithoutTimeoutsNothingIsDue() {
        var machine = ConnectionStateMachine(limits: .init(), now: start)
        XCTAssertNil(machine.nextDeadline)
        machine.receivedPreface()
        XCTAssertNil(machine.nextDeadline)
        XCTAssertEqual(machine.timerFired(now: at(1_000_000)), .none)
    }
}
