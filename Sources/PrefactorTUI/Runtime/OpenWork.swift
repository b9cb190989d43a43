import PrefactorCore
import PrefactorWire

/// Finishing what a process started and left open, so that quitting leaves nothing running on the API.
public enum OpenWork {
    /// What was finished.
    public struct Summary: Sendable, Hashable {
        /// Spans cancelled.
        public var spans = 0
        /// Runs cancelled.
        public var runs = 0
    }

    /// Cancels the client's open spans (deepest first, the reason in their result; prepared ones by the
    /// cancel-unstarted path) and then its open runs.
    ///
    /// - Parameters:
    ///   - client: The client whose runs and spans these are.
    ///   - reason: Why, recorded in each span's result.
    /// - Returns: How many spans and runs were cancelled.
    @discardableResult
    public static func cancel(in client: PrefactorClient, reason: String) async -> Summary {
        let snapshot = client.snapshot()
        var summary = Summary()
        let byID = Dictionary(uniqueKeysWithValues: snapshot.spans.map { ($0.id, $0) })
        func depth(_ span: SpanSnapshot) -> Int {
            var depth = 0
            var parent = span.parentID
            while let id = parent, let next = byID[id], depth < 1000 {
                depth += 1
                parent = next.parentID
            }
            return depth
        }
        let open = snapshot.spans.filter { $0.phase == .active || $0.phase == .prepared }.sorted { depth($0) > depth($1) }
        for span in open {
            do {
                if span.phase == .prepared {
                    try await client.spanManager.cancelUnstarted(span.id)
                } else {
                    try await client.spanManager.finish(
                        span.id, resultPayload: ["cancelled_because": .string(reason)], status: .cancelled)
                }
                summary.spans += 1
            } catch {}
        }
        for instance in snapshot.instances where instance.phase == .active || instance.phase == .registered {
            do {
                try await client.instanceManager.finish(instance.id, status: .cancelled)
                summary.runs += 1
            } catch {}
        }
        return summary
    }

    /// The runs of a snapshot still open (registered or active).
    public static func openRuns(_ snapshot: ClientSnapshot) -> Int {
        snapshot.instances.count { $0.phase == .active || $0.phase == .registered }
    }
}
