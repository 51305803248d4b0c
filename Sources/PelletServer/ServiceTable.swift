import PelletWire

/// The service behind each method, looked up by the method's number without hashing.
public struct ServiceTable: Sendable {
    private var services: [any Service]

    /// Methods not in `services` answer UNIMPLEMENTED.
    public init(_ services: [Method: any Service]) {
        let count = Int(Method.allCases.map(\.rawValue).max()!) + 1
        self.services = Array(repeating: UnimplementedService(), count: count)
        for (method, service) in services {
            self.services[Int(method.rawValue)] = service
        }
    }

    public subscript(method: Method) -> any Service {
        get { services[Int(method.rawValue)] }
        set { services[Int(method.rawValue)] = newValue }
    }
}
