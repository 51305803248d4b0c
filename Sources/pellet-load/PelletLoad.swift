import ArgumentParser

@main
struct PelletLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pellet-load",
        abstract:
            "Measure Pellet: load against a running pelletd (rpc), and in-process microbenchmarks of its hot paths (micro).",
        subcommands: [RPC.self, Micro.self]
    )
}
