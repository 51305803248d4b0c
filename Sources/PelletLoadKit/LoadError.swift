/// Why pellet-load cannot run: a flag at fault, an unreadable prompt file, a target it cannot
/// reach. One sentence that names the flag or the address. Failed calls during a run are not
/// errors of this kind; they are counted in the report.
public struct LoadError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
