import Foundation

/// A listening TCP socket on 127.0.0.1 at a port the kernel chose, for test servers written on
/// plain sockets (providers that misbehave on purpose). The caller owns `descriptor`.
public func loopbackListener(backlog: Int32) throws -> (descriptor: Int32, port: Int) {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard listener >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    var yes: Int32 = 1
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ready = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0
        }
    }
    guard ready, listen(listener, backlog) == 0 else {
        let error = POSIXError(.init(rawValue: errno) ?? .EIO)
        close(listener)
        throw error
    }
    return (listener, Int(UInt16(bigEndian: address.sin_port)))
}
