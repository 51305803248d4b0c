import PelletRouter
import PelletWire

/// The route decision that every Route and Complete call makes on the event loop: validation,
/// classification, token estimate, ranking and the reason sentence, with the bundled catalogue
/// and the health snapshot pelletd passes (every provider reported, all healthy).
enum RouterBenchmarks {
    static let names = [
        "router.route.prompt-2000",
        "router.route.chat",
        "router.classify.prompt-2000",
        "router.classify.chat",
    ]

    static func all() throws -> [MicroBenchmark] {
        let router = Router(catalogue: try Catalogue.loadBundled())
        // pelletd's snapshot names every provider (ProviderDirectory.routerHealth), so the
        // per-provider lookups the decision makes all find an entry.
        var health = ProviderHealthSnapshot()
        for provider in ProviderName.builtIn { health.setState(.healthy, for: provider) }

        let long = [ChatMessage(role: "user", content: prompt2000)]
        let chat = [
            ChatMessage(role: "system", content: "You are a helpful assistant."),
            ChatMessage(role: "user", content: "What is the capital of Australia?"),
        ]
        let longNote = "1 message, \(MicroReport.grouped(prompt2000.utf8.count)) bytes"
        let chatNote = "\(chat.count) messages, \(chat.reduce(0) { $0 + $1.content.utf8.count }) bytes"

        let longRequest = RouteRequest(messages: long, preference: .cost)
        let chatRequest = RouteRequest(messages: chat, model: "auto", preference: .balanced, maxTokens: 256)
        return [
            MicroBenchmark("router.route.prompt-2000", notes: "Router.route, COST, " + longNote) {
                blackHole(try router.route(longRequest, health: health))
            },
            MicroBenchmark("router.route.chat", notes: "Router.route, BALANCED, " + chatNote) {
                blackHole(try router.route(chatRequest, health: health))
            },
            MicroBenchmark("router.classify.prompt-2000", notes: "Router.classify, " + longNote) {
                blackHole(router.classify(messages: long))
            },
            MicroBenchmark("router.classify.chat", notes: "Router.classify, " + chatNote) {
                blackHole(router.classify(messages: chat))
            },
        ]
    }

    /// The 2,000-byte support question (prose with a code block) that the classifier's timing
    /// test in Tests/PelletRouterTests uses.
    static let prompt2000: String = {
        let paragraph = """
            Our checkout service times out under load. When more than 200 requests per second arrive, \
            the p99 latency climbs from 80 ms to 4 s and the database connection pool (size 20) is \
            exhausted. Here is the handler:
            ```python
            def checkout(cart_id):
                cart = db.query("SELECT * FROM carts WHERE id = %s", cart_id)
                for item in cart.items:
                    stock = db.query("SELECT qty FROM stock WHERE sku = %s", item.sku)
                    if stock.qty < item.qty:
                        raise OutOfStock(item.sku)
                return charge(cart)
            ```
            Please explain what is wrong, propose a fix with batching, and estimate the new latency.

            """
        var text = ""
        while text.utf8.count < 2000 { text += paragraph }
        return String(text.utf8.prefix(2000))!
    }()
}
