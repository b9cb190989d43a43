import Synchronization

/// The live set of fault rules of a running server; change it at any time from tests or over HTTP.
public final class FaultInjector: Sendable {
    /// What to do with one request.
    public struct Decision: Sendable, Equatable {
        /// Latency to add first.
        public var latencyMilliseconds: Int = 0
        /// A status to answer with instead of handling the request.
        public var status: Int?
        /// Whether to close the connection without answering.
        public var dropConnection = false
    }

    private let rules: Mutex<[FaultRule]>

    /// Creates an injector with initial rules.
    public init(_ rules: [FaultRule] = []) {
        self.rules = Mutex(rules)
    }

    /// Adds a rule.
    public func add(_ rule: FaultRule) {
        rules.withLock { $0.append(rule) }
    }

    /// Removes every rule.
    public func removeAll() {
        rules.withLock { $0.removeAll() }
    }

    /// Whether any rule is in force.
    var isActive: Bool {
        rules.withLock { !$0.isEmpty }
    }

    /// The rules still in force (those whose count ran out are gone).
    public var current: [FaultRule] {
        rules.withLock { $0 }
    }

    /// The status a failing rule gives one item of a bulk request (`method` and `path` of the item's own request),
    /// using up one application of it; latency and dropped connections apply to the bulk request as a whole only.
    func itemStatus(method: String, path: String) -> Int? {
        rules.withLock { rules in
            guard let index = rules.firstIndex(where: { $0.status != nil && $0.matches(method: method, path: path) })
            else { return nil }
            let status = rules[index].status
            if let count = rules[index].count {
                if count <= 1 { rules.remove(at: index) } else { rules[index].count = count - 1 }
            }
            return status
        }
    }

    /// Decides the fate of one request and uses up one application of each counted rule that applies.
    func decide(method: String, path: String) -> Decision? {
        rules.withLock { rules in
            guard !rules.isEmpty else { return nil }
            var decision = Decision()
            var matched = false
            var index = 0
            while index < rules.count {
                var rule = rules[index]
                guard rule.matches(method: method, path: path) else {
                    index += 1
                    continue
                }
                let failing = rule.status != nil || rule.dropConnection
                if failing && (decision.status != nil || decision.dropConnection) {
                    index += 1
                    continue
                }
                matched = true
                decision.latencyMilliseconds += rule.latencyMilliseconds ?? 0
                if rule.dropConnection {
                    decision.dropConnection = true
                } else if let status = rule.status {
                    decision.status = status
                }
                if let count = rule.count {
                    if count <= 1 {
                        rules.remove(at: index)
                        continue
                    }
                    rule.count = count - 1
                    rules[index] = rule
                }
                index += 1
            }
            return matched ? decision : nil
        }
    }
}
