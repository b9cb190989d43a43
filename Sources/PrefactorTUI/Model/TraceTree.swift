import Foundation
import PrefactorCore
import PrefactorWire

/// A node of the tree: an instance or a span.
public enum NodeID: Hashable, Sendable, Comparable {
    /// An agent instance, by API id.
    case instance(String)
    /// A span, by the id the client uses for it (local when local, the API id when remote).
    case span(String)

    /// The id text.
    public var rawID: String {
        switch self {
        case .instance(let id), .span(let id): return id
        }
    }
}

/// A span row's data.
public struct SpanNode: Sendable, Hashable {
    /// The client's snapshot of the span.
    public var span: SpanSnapshot
    /// Status changes seen, oldest first.
    public var history: [(status: DisplayStatus, at: Date)]

    /// Compares spans and histories.
    public static func == (lhs: SpanNode, rhs: SpanNode) -> Bool {
        lhs.span == rhs.span && lhs.history.map(\.status) == rhs.history.map(\.status)
    }

    /// Hashes the span.
    public func hash(into hasher: inout Hasher) { hasher.combine(span) }

    /// The display status.
    public var status: DisplayStatus {
        if span.phase == .cancelled, span.startedAt == nil { return .cancelled }
        return DisplayStatus(span.phase)
    }
}

/// An instance row's data.
public struct InstanceNode: Sendable, Hashable {
    /// The client's snapshot of the instance.
    public var instance: InstanceSnapshot
    /// Status changes seen, oldest first.
    public var history: [(status: DisplayStatus, at: Date)]

    /// Compares instances and histories.
    public static func == (lhs: InstanceNode, rhs: InstanceNode) -> Bool {
        lhs.instance == rhs.instance && lhs.history.map(\.status) == rhs.history.map(\.status)
    }

    /// Hashes the instance.
    public func hash(into hasher: inout Hasher) { hasher.combine(instance) }

    /// The display status.
    public var status: DisplayStatus { DisplayStatus(instance.phase) }
}

/// Counts under a node, shown on collapsed rows.
public struct RollUp: Sendable, Hashable {
    /// Descendant spans.
    public var spans = 0
    /// Descendants running.
    public var running = 0
    /// Descendants failed.
    public var failed = 0
}

/// The instances and spans the UI shows, as a tree, with late parents handled: a child whose parent is not known yet
/// hangs under its instance and moves under its parent when the parent arrives.
public struct TraceTree: Sendable {
    /// Instances in the order they appeared.
    public private(set) var instanceOrder: [String] = []
    /// Instances by id.
    public private(set) var instances: [String: InstanceNode] = [:]
    /// Spans by id.
    public private(set) var spans: [String: SpanNode] = [:]
    /// Children of each node, in arrival order.
    public private(set) var children: [NodeID: [String]] = [:]
    /// Where each span hangs now.
    public private(set) var attachedTo: [String: NodeID] = [:]
    /// Spans waiting for a parent that is not known yet, by the parent's id.
    private var waitingForParent: [String: [String]] = [:]
    /// API ids of local spans, to find parents given by API id.
    private var apiToLocal: [String: String] = [:]
    /// Bumped on every change of structure or status; caches compare it.
    public private(set) var version = 0
    /// For each span, the order of its latest status change among all spans' (higher is later): orders changes that
    /// carry the same timestamp.
    public private(set) var statusChangeOrder: [String: Int] = [:]
    /// Spans by display status, kept up to date as spans change.
    public private(set) var spanStatusCounts: [DisplayStatus: Int] = [:]
    /// Instances by display status.
    public private(set) var instanceStatusCounts: [DisplayStatus: Int] = [:]

    /// An empty tree.
    public init() {}

    /// Number of spans.
    public var spanCount: Int { spans.count }

    /// Adds or updates an instance.
    public mutating func upsert(_ instance: InstanceSnapshot, at time: Date = Date()) {
        version += 1
        if var node = instances[instance.id] {
            let status = DisplayStatus(instance.phase)
            instanceStatusCounts[node.status, default: 0] -= 1
            instanceStatusCounts[status, default: 0] += 1
            if node.history.last?.status != status { node.history.append((status, time)) }
            node.instance = instance
            instances[instance.id] = node
        } else {
            instances[instance.id] = InstanceNode(instance: instance, history: [(DisplayStatus(instance.phase), time)])
            instanceStatusCounts[DisplayStatus(instance.phase), default: 0] += 1
            instanceOrder.append(instance.id)
        }
    }

    /// Adds or updates a span, placing it under its parent (or its instance until the parent arrives).
    public mutating func upsert(_ span: SpanSnapshot, at time: Date = Date()) {
        version += 1
        if let apiID = span.apiID { apiToLocal[apiID] = span.id }
        if var node = spans[span.id] {
            let previousParent = node.span.parentID
            spanStatusCounts[node.status, default: 0] -= 1
            node.span = span
            let status = node.status
            spanStatusCounts[status, default: 0] += 1
            if node.history.last?.status != status {
                node.history.append((status, Self.time(of: status, in: span) ?? time))
                statusChangeOrder[span.id] = version
            }
            spans[span.id] = node
            if previousParent != span.parentID { attach(span.id) }
        } else {
            let node = SpanNode(span: span, history: [])
            spanStatusCounts[node.status, default: 0] += 1
            spans[span.id] = node
            spans[span.id]?.history = [(node.status, Self.time(of: node.status, in: span) ?? time)]
            statusChangeOrder[span.id] = version
            if instances[span.instanceID] == nil {
                upsert(
                    InstanceSnapshot(
                        id: span.instanceID, agentID: nil, phase: .active, registeredAt: time, startedAt: nil,
                        finishedAt: nil, terminationReason: nil, quality: [:]),
                    at: time)
            }
            attach(span.id)
        }
        // Spans that were waiting for this one (by local or API id) move under it.
        for key in [span.id, span.apiID].compactMap({ $0 }) {
            if let waiting = waitingForParent.removeValue(forKey: key) {
                for child in waiting { attach(child) }
            }
        }
    }

    /// When a span reached a status, from its own timestamps (the client's clock), when it has them.
    static func time(of status: DisplayStatus, in span: SpanSnapshot) -> Date? {
        switch status {
        case .prepared: return span.preparedAt
        case .active, .pending: return span.startedAt
        case .complete, .failed, .cancelled, .terminated: return span.finishedAt
        }
    }

    /// Resolves a parent id (local or API) to a known span id.
    func knownSpan(_ id: String) -> String? {
        if spans[id] != nil { return id }
        return apiToLocal[id]
    }

    private mutating func attach(_ spanID: String) {
        guard let node = spans[spanID] else { return }
        let target: NodeID
        if let parent = node.span.parentID {
            if let known = knownSpan(parent) {
                target = .span(known)
            } else {
                target = .instance(node.span.instanceID)
                if !(waitingForParent[parent]?.contains(spanID) ?? false) { waitingForParent[parent, default: []].append(spanID) }
            }
        } else {
            target = .instance(node.span.instanceID)
        }
        if let current = attachedTo[spanID] {
            if current == target { return }
            children[current]?.removeAll { $0 == spanID }
        }
        attachedTo[spanID] = target
        children[target, default: []].append(spanID)
    }

    /// The display status of a node.
    public func status(of node: NodeID) -> DisplayStatus? {
        switch node {
        case .instance(let id): return instances[id]?.status
        case .span(let id): return spans[id]?.status
        }
    }

    /// The parent of a node in the tree.
    public func parent(of node: NodeID) -> NodeID? {
        switch node {
        case .instance: return nil
        case .span(let id): return attachedTo[id]
        }
    }

    /// The instance a node belongs to.
    public func instanceID(of node: NodeID) -> String? {
        switch node {
        case .instance(let id): return id
        case .span(let id): return spans[id]?.span.instanceID
        }
    }

    /// Counts of the spans below a node.
    public func rollUp(_ node: NodeID) -> RollUp {
        var result = RollUp()
        var stack = children[node] ?? []
        while let id = stack.popLast() {
            guard let span = spans[id] else { continue }
            result.spans += 1
            switch span.status {
            case .active, .prepared: result.running += 1
            case .failed: result.failed += 1
            default: break
            }
            stack += children[.span(id)] ?? []
        }
        return result
    }
}
