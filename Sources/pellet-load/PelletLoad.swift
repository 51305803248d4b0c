import ArgumentParser

@main
struct PelletLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pellet-load",
        abstract: "Measure Pellet: in-process microbenchmarks of its hot paths.",
        subcommands: [Micro.self]
    )
}
