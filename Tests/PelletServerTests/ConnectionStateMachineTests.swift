import PelletWire
import XCTest

@testable import PelletServer

final class ConnectionStateMachineTests: XCTestCase {
    private func request(stream: UInt32, method: UInt16 = Method.health.rawValue, flags: UInt8 = 0, timeoutMs: UInt32 = 0) -> FrameHeader {
        FrameHeader(type: .request, flags: flags, method: method, stream: stream, value: timeoutMs)
    }

    private func active(_ limits: ConnectionStateMachine.Limits = .init()) -> ConnectionStateMachine {
        var machine = ConnectionStateMachine(limits: limits)
        machine.receivedPreface()
        return machine
    }

    func testFramesBeforeThePrefaceAreIgnored() {
        var machine = ConnectionStateMachine()
        XCTAssertEqual(machine.receivedFrame(request(stream: 1)), .none)
    }

    func testRequestStartsACallWithItsTimeout() {
        var machine = active()
        XCTAssertEqual(
            machine.receivedFrame(request(stream: 7, flags: FrameHeader.streamFlag, timeoutMs: 250)),
            .startCall(stream: 7, method: .health, streaming: true, timeoutMs: 250)
        )
        XCTAssertEqual(machine.callsInFlight, [7])
        XCTAssertEqual(machine.lastAcceptedStream, 7)
    }

    func testStreamZeroIsAConnectionError() {
        var machine = active()
        guard case .connectionError(let error, _) = machine.receivedFrame(request(stream: 0)) else {
            return XCTFail("expected a connection error")
        }
        XCTAssertEqual(error.status, .invalidArgument)
        XCTAssertTrue(error.message.contains("stream 0"))
        // Nothing more is processed on a failed connection.
        XCTAssertEqual(machine.receivedFrame(request(stream: 1)), .none)
    }

    func testDuplicateStreamInFlightIsAConnectionError() {
        var machine = active()
        _ = machine.receivedFrame(request(stream: 3))
        guard case .connectionError(let error, let lastStream) = machine.receivedFrame(request(stream: 3)) else {
            return XCTFail("expected a connection error")
        }
        XCTAssertEqual(error.status, .invalidArgument)
        XCTAssertEqual(lastStream, 3)
    }

    func testAStreamIdMayBeReusedOnceItsCallFinished() {
        var machine = active()
        _ = machine.receivedFrame(request(stream: 3))
        XCTAssertFalse(machine.callFinished(stream: 3))
        XCTAssertEqual(machine.receivedFrame(request(stream: 3)), .startCall(stream: 3, method: .health, streaming: false, timeoutMs: 0))
    }

    func testUnknownMethodIsACallError() {
        var machine = active()
        guard case .rejectCall(9, let error) = machine.receivedFrame(request(stream: 9, method: 42)) else {
            return XCTFail("expected the call to be rejected")
        }
        XCTAssertEqual(error.status, .unimplemented)
        XCTAssertTrue(machine.callsInFlight.isEmpty)
    }

    func testReservedFlagBitsAreACallError() {
        var machine = active()
        guard case .rejectCall(2, let error) = machine.receivedFrame(request(stream: 2, flags: 0x82)) else {
            return XCTFail("expected the call to be rejected")
        }
        XCTAssertEqual(error.status, .invalidArgument)
    }

    func testCallsInFlightLimitAnswersResourceExhaustedWithRetryAfter() {
        var machine = active(.init(maxCallsInFlight: 2, retryAfterMsWhenFull: 25))
        _ = machine.receivedFrame(request(stream: 1))
        _ = machine.receivedFrame(request(stream: 2))
        guard case .rejectCall(3, let error) = machine.receivedFrame(request(stream: 3)) else {
            return XCTFail("expected the call to be rejected")
        }
        XCTAssertEqual(error.status, .resourceExhausted)
        XCTAssertEqual(error.retryAfterMs, 25)
        _ = machine.callFinished(stream: 1)
        XCTAssertEqual(machine.receivedFrame(request(stream: 3)), .startCall(stream: 3, method: .health, streaming: false, timeoutMs: 0))
    }

    func testCancelOnlyAffectsCallsInFlight() {
        var machine = active()
        _ = machine.receivedFrame(request(stream: 5))
        XCTAssertEqual(machine.receivedFrame(FrameHeader(type: .cancel, stream: 5)), .cancelCall(stream: 5))
        // A CANCEL racing with the call's answer is not an error.
        XCTAssertEqual(machine.receivedFrame(FrameHeader(type: .cancel, stream: 6)), .none)
    }

    func testPingRules() {
        var machine = active()
        XCTAssertEqual(machine.receivedFrame(FrameHeader(length: 64, type: .ping, stream: 0)), .sendPong)
        guard case .connectionError(let error, _) = machine.receivedFrame(FrameHeader(length: 65, type: .ping, stream: 0)) else {
            return XCTFail("expected a connection error")
        }
        XCTAssertEqual(error.status, .invalidArgument)

        var other = active()
        guard case .connectionError = other.receivedFrame(FrameHeader(type: .ping, stream: 1)) else {
            return XCTFail("a PING on a non-zero stream must be refused")
        }
    }

    func testServerOnlyFrameTypesFromAClientAreConnectionErrors() {
        for type in [FrameType.response, .message, .end, .goAway] {
            var machine = active()
            guard case .connectionError(let error, _) = machine.receivedFrame(FrameHeader(type: type, stream: 1)) else {
                return XCTFail("\(type) must be refused")
            }
            XCTAssertTrue(error.message.contains("\(type)"), error.message)
        }
    }

    func testGracefulShutdownDrainsThenCloses() {
        var machine = active()
        _ = machine.receivedFrame(request(stream: 1))
        _ = machine.receivedFrame(request(stream: 3))
        XCTAssertEqual(machine.beginGracefulShutdown(), .sendGoAway(lastStream: 3, closeNow: false))
        XCTAssertEqual(machine.beginGracefulShutdown(), .none)
        guard case .rejectCall(5, let error) = machine.receivedFrame(request(stream: 5)) else {
            return XCTFail("a new call after GOAWAY must be refused")
        }
        XCTAssertEqual(error.status, .unavailable)
        XCTAssertEqual(machine.receivedFrame(FrameHeader(type: .cancel, stream: 3)), .cancelCall(stream: 3))
        XCTAssertFalse(machine.callFinished(stream: 1))
        XCTAssertTrue(machine.callFinished(stream: 3))
    }

    func testGracefulShutdownOfAnIdleConnectionClosesAtOnce() {
        var machine = active()
        XCTAssertEqual(machine.beginGracefulShutdown(), .sendGoAway(lastStream: 0, closeNow: true))
    }
}
