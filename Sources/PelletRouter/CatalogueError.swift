/// Why a catalogue file was refused, and where: `line` and `column` are 1-based and point at the
/// value at fault (0 when the problem is not at a place in the file, such as a file that cannot
/// be read).
public struct CatalogueError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var reason: String

    public init(line: Int, column: Int, reason: String) {
        self.line = line
        self.column = column
        self.reason = reason
    }

    /// "line 12, column 7: model \"x\": ..." — what `pelletd --catalogue` prints before it exits.
    public var description: String {
        line > 0 ? "line \(line), column \(column): \(reason)" : reason
    }
}
