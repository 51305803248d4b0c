import Foundation
import Logging

/// The write end of the pipe that the signal handler reports to. Written once, before the
/// handler is installed; read only by the handler.
nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1

/// Turns SIGTERM, SIGINT and SIGHUP into one callback each time they arrive.
///
/// The handler is installed synchronously with sigaction (a signal that arrives right after
/// "ready" is never lost, as it could be in the gap before a DispatchSource is registered); it
/// only writes the signal number to a pipe, which a thread of its own reads.
final class ShutdownSignals {
    init(onSignal: @escaping @Sendable (String) -> Void) throws {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw StartupFailure("cannot create the signal pipe: \(String(cString: strerror(errno)))")
        }
        signalPipeWriteEnd = ends[1]
        let readEnd = ends[0]
        for number in [SIGTERM, SIGINT, SIGHUP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(signalPipeWriteEnd, &byte, 1)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(number, &action, nil)
        }
        Thread.detachNewThread {
            var byte: UInt8 = 0
            while read(readEnd, &byte, 1) == 1 {
                switch Int32(byte) {
                case SIGTERM: onSignal("SIGTERM")
                case SIGHUP: onSignal("SIGHUP")
                default: onSignal("SIGINT")
                }
            }
        }
    }
}

/// Every call to a provider holds a socket while it lasts, so thousands of open streams need
/// thousands of descriptors: the soft limit (often 1,024) goes up to the hard limit.
func raiseFileDescriptorLimit(logger: Logger) {
    #if os(Linux)
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    let resource = RLIMIT_NOFILE
    #endif
    var limit = rlimit()
    guard getrlimit(resource, &limit) == 0 else { return }
    let wanted = limit.rlim_max
    guard limit.rlim_cur < wanted else { return }
    let previous = limit.rlim_cur
    limit.rlim_cur = wanted
    if setrlimit(resource, &limit) != 0 {
        logger.warning(
            "could not raise the open-file limit", metadata: ["from": "\(previous)", "to": "\(wanted)"])
    }
}
