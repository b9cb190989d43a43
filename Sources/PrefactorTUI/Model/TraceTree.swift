import Foundation
import PrefactorCore
import PrefactorWire
import Synchronization

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
        // Cancelled before it started: the cancel-unstarted path creates it `pending` on the API, then cancels it.
        // Until that cancel is delivered the API has it pending, and so does the tree.
        if span.phase == .cancelled, span.startedAt == nil, !span.finishDelivered, span.deliveryError == nil { return .pending }
        return DisplayStatus(span.phase)
    }

    /// Whether one of its operations failed for good: the API does not have the span as the client does.
    public var syncFailed: Bool { span.deliveryError != nil }
}

/// An instance row's data.
public struct InstanceNode: Sendable, Hashable {
    /// The client's snapshot of the instance.
    public var instance: InstanceSnapshot
    /// Status changes seen, oldest first.
    public var history: [(status: DisplayStatus, at: Date)]

    /// Why the API no longer has the run (it answered 404 for it), and since when.
    public var gone: (reason: String, at: Date)?

    /// Compares instances and histories.
    public static func == (lhs: InstanceNode, rhs: InstanceNode) -> Bool {
        lhs.instance == rhs.instance && lhs.history.map(\.status) == rhs.history.map(\.status)
            && lhs.gone?.reason == rhs.gone?.reason
    }

    /// Hashes the instance.
    public func hash(into hasher: inout Hasher) { hasher.combine(instance) }

    /// The display status.
    public var status: DisplayStatus { gone == nil ? DisplayStatus(instance.phase) : .gone }
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
    /// Tells trees apart: a tree built anew has another identity, so that versions of different trees are never
    /// compared.
    public let identity: UInt64 = nextTreeIdentity.add(1, ordering: .relaxed).newValue
    /// Bumped on every change of structure only (a node added, moved or removed); the visible rows depend on it.
    public private(set) var structureVersion = 0
    /// The latest changes of structure, one per bump of ``structureVersion``: the entry for version `v` is at
    /// `v - structureLogStart - 1`. Older entries are dropped; a reader that fell behind rebuilds.
    public private(set) var structureLog: [StructureChange] = []
    /// The ``structureVersion`` before the first entry of ``structureLog``.
    public private(set) var structureLogStart = 0

    /// A change of the tree's structure.
    public enum StructureChange: Sendable, Hashable {
        /// A new span, placed as the last child of its parent (or its instance): its row, when shown, goes at the
        /// end of its parent's subtree.
        case appended(String)
        /// A new instance, last in ``instanceOrder``: its row goes at the end.
        case appendedInstance(String)
        /// Anything else (a span moved or placed among its siblings, something removed).
        case other
    }

    private mutating func noteStructure(_ change: StructureChange) {
        structureVersion += 1
        structureLog.append(change)
        if structureLog.count > 8192 {
            structureLog.removeFirst(4096)
            structureLogStart += 4096
        }
    }
    /// For each span, the order of its latest status change among all spans' (higher is later): orders changes that
    /// carry the same timestamp.
    public private(set) var statusChangeOrder: [String: Int] = [:]
    /// Spans by display status, kept up to date as spans change.
    public private(set) var spanStatusCounts: [DisplayStatus: Int] = [:]
    /// Instances by display status.
    public private(set) var instanceStatusCounts: [DisplayStatus: Int] = [:]
    /// Instances seen only through the API (other processes' runs), read-only here.
    public private(set) var remoteInstances: Set<String> = []
    /// Spans seen only through the API.
    public private(set) var remoteSpans: Set<String> = []
    /// Remote instances whose spans are loaded; the others show the API's span counts until opened.
    public private(set) var loadedRemoteInstances: Set<String> = []
    /// The API's span counts of remote instances.
    public private(set) var remoteSpanCounts: [String: SpanCounts] = [:]
    /// The token usage each span recorded (LLM calls), with the model it names.
    public internal(set) var spanUsage: [String: SpanUsage] = [:]
    /// Token usage added up by instance.
    public internal(set) var instanceUsage: [String: UsageTotals] = [:]
    /// Token usage of every span in the tree (the header).
    public internal(set) var totalUsage = UsageTotals()

    /// An empty tree.
    public init() {}

    /// Number of spans.
    public var spanCount: Int { spans.count }

    /// Adds or updates an instance of this process's client (which takes over a remote node of the same id).
    public mutating func upsert(_ instance: InstanceSnapshot, at time: Date = Date()) {
        remoteInstances.remove(instance.id)
        loadedRemoteInstances.remove(instance.id)
        remoteSpanCounts[instance.id] = nil
        store(instance, at: time)
    }

    private mutating func store(_ instance: InstanceSnapshot, at time: Date) {
        version += 1
        if var node = instances[instance.id] {
            let status = DisplayStatus(instance.phase)
            instanceStatusCounts[node.status, default: 0] -= 1
            node.gone = nil  // the API has it again
            instanceStatusCounts[status, default: 0] += 1
            if node.history.last?.status != status { node.history.append((status, time)) }
            node.instance = instance
            instances[instance.id] = node
        } else {
            instances[instance.id] = InstanceNode(instance: instance, history: [(DisplayStatus(instance.phase), time)])
            instanceStatusCounts[DisplayStatus(instance.phase), default: 0] += 1
            instanceOrder.append(instance.id)
            noteStructure(.appendedInstance(instance.id))
        }
    }

    /// Adds or updates a span of this process's client, placing it under its parent (or its instance until the
    /// parent arrives). A remote node for the same API id (seen through the API before the client's own create was
    /// answered) is replaced by this one.
    public mutating func upsert(_ span: SpanSnapshot, at time: Date = Date()) {
        if let apiID = span.apiID, apiID != span.id, remoteSpans.contains(apiID) {
            apiToLocal[apiID] = span.id
            removeSpan(apiID)
        }
        store(span, at: time)
    }

    private mutating func store(_ span: SpanSnapshot, at time: Date) {
        var span = span
        if span.payloadInQueueFile, let known = spans[span.id]?.span {
            // The client left the payload (or result) in its queue file: keep what an earlier event showed.
            if span.payload.isEmpty { span.payload = known.payload }
            if span.resultPayload == nil { span.resultPayload = known.resultPayload }
        }
        version += 1
        noteUsage(of: span)
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
                store(
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
        case .active: return span.startedAt
        case .pending: return span.startedAt ?? span.finishedAt  // a cancel-unstarted span: pending from the cancel
        case .complete, .failed, .cancelled, .terminated: return span.finishedAt
        case .gone: return nil
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
        let moved = attachedTo[spanID] != nil
        if let current = attachedTo[spanID] {
            if current == target { return }
            children[current]?.removeAll { $0 == spanID }
        }
        attachedTo[spanID] = target
        let appended = insertChild(spanID, under: target)
        noteStructure(appended && !moved ? .appended(spanID) : .other)
    }

    /// Siblings are ordered by when they started (or were prepared), whatever order they arrive in: spans seen
    /// through the API arrive by last change, not by start. Arrivals in order append at once.
    ///
    /// - Returns: Whether it went last.
    @discardableResult
    private mutating func insertChild(_ spanID: String, under target: NodeID) -> Bool {
        let key = siblingOrder(spanID)
        var list = children.removeValue(forKey: target) ?? []
        defer { children[target] = list }
        if let last = list.last, siblingOrder(last) > key {
            var low = 0
            var high = list.count
            while low < high {
                let middle = (low + high) / 2
                if siblingOrder(list[middle]) <= key { low = middle + 1 } else { high = middle }
            }
            list.insert(spanID, at: low)
            return low == list.count - 1
        } else {
            list.append(spanID)
            return true
        }
    }

    private func siblingOrder(_ id: String) -> Date {
        guard let span = spans[id]?.span else { return .distantPast }
        return span.startedAt ?? span.preparedAt
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
            // Prepared spans have not started: they are not running.
            if span.status == .active { result.running += 1 }
            if span.status == .failed || span.syncFailed { result.failed += 1 }
            stack += children[.span(id)] ?? []
        }
        return result
    }

    /// Whether a node is an error for the errors-only view: failed, cancelled or terminated, or out of sync with the
    /// API because one of its operations failed for good.
    public func isError(_ node: NodeID) -> Bool {
        guard let status = status(of: node) else { return false }
        if status.isError { return true }
        if case .span(let id) = node { return spans[id]?.syncFailed ?? false }
        return false
    }

    /// Records a delivery outcome of a span of this process's client that the client reports only as an operation
    /// event (a finish delivered, an operation failed for good), so that its status follows.
    public mutating func amendSpan(_ id: String, at time: Date, _ change: (inout SpanSnapshot) -> Void) {
        guard var span = spans[id]?.span, !remoteSpans.contains(id) else { return }
        change(&span)
        guard span != spans[id]?.span else { return }
        store(span, at: time)
    }
}

// MARK: Remote items

extension TraceTree {
    /// Adds or updates an instance seen through the API. An instance this process's client owns is left alone.
    ///
    /// - Returns: Whether the tree changed.
    @discardableResult
    public mutating func upsertRemote(_ instance: AgentInstance, at time: Date = Date()) -> Bool {
        if instances[instance.id] != nil, !remoteInstances.contains(instance.id) { return false }
        remoteInstances.insert(instance.id)
        remoteSpanCounts[instance.id] = instance.spanCounts
        // The history shows when the API says the status changed, not when this view learned of it.
        let changedAt: Date?
        switch instance.status {
        case .pending: changedAt = instance.insertedAt
        case .active: changedAt = instance.startedAt
        default: changedAt = instance.finishedAt
        }
        store(InstanceSnapshot(remote: instance), at: changedAt ?? time)
        return true
    }

    /// Adds or updates a span seen through the API. A span this process's client owns (by API id) is left alone.
    ///
    /// - Returns: Whether the tree changed.
    @discardableResult
    public mutating func upsertRemote(_ span: AgentSpan, at time: Date = Date()) -> Bool {
        if let local = apiToLocal[span.id], local != span.id { return false }
        if spans[span.id] != nil, !remoteSpans.contains(span.id) { return false }
        if instances[span.agentInstanceID] == nil || remoteInstances.contains(span.agentInstanceID) {
            remoteInstances.insert(span.agentInstanceID)
        }
        remoteSpans.insert(span.id)
        store(SpanSnapshot(remote: span), at: time)
        return true
    }

    /// Copies the remote items of another tree into this one (after a rebuild from the client's snapshot), skipping
    /// any the client now owns.
    public mutating func adoptRemote(from other: TraceTree) {
        for id in other.instanceOrder where other.remoteInstances.contains(id) {
            guard let node = other.instances[id], instances[id] == nil || remoteInstances.contains(id) else { continue }
            remoteInstances.insert(id)
            remoteSpanCounts[id] = other.remoteSpanCounts[id]
            if other.loadedRemoteInstances.contains(id) { loadedRemoteInstances.insert(id) }
            store(node.instance, at: node.history.first?.at ?? Date())
        }
        for (id, node) in other.spans.sorted(by: {
            ($0.value.statusChangeKey(other), $0.key) < ($1.value.statusChangeKey(other), $1.key)
        })
        where other.remoteSpans.contains(id) {
            if let local = apiToLocal[id], local != id { continue }
            remoteSpans.insert(id)
            store(node.span, at: node.history.first?.at ?? Date())
        }
    }

    /// Marks an instance the API no longer has (it answered 404 for it): it shows as gone, with the reason, and its
    /// time stops.
    public mutating func markGone(_ instanceID: String, reason: String, at time: Date) {
        guard var node = instances[instanceID], node.gone == nil else { return }
        instanceStatusCounts[node.status, default: 0] -= 1
        node.gone = (reason, time)
        node.history.append((.gone, time))
        instanceStatusCounts[.gone, default: 0] += 1
        instances[instanceID] = node
        loadedRemoteInstances.insert(instanceID)  // nothing more to fetch
        version += 1
    }

    /// Marks a remote instance's spans as loaded.
    public mutating func markLoaded(_ instanceID: String) {
        guard remoteInstances.contains(instanceID), loadedRemoteInstances.insert(instanceID).inserted else { return }
        version += 1
    }

    /// Whether a node came from the API rather than this process's client.
    public func isRemote(_ node: NodeID) -> Bool {
        switch node {
        case .instance(let id): return remoteInstances.contains(id)
        case .span(let id): return remoteSpans.contains(id)
        }
    }

    /// Removes an instance and all its spans (a remote run that aged out of view).
    public mutating func removeInstance(_ id: String) {
        guard let node = instances.removeValue(forKey: id) else { return }
        version += 1
        noteStructure(.other)
        instanceStatusCounts[node.status, default: 0] -= 1
        instanceOrder.removeAll { $0 == id }
        remoteInstances.remove(id)
        loadedRemoteInstances.remove(id)
        remoteSpanCounts[id] = nil
        // Every span of the instance hangs below it (under its parent, or under the instance while the parent is
        // unknown), so walking the subtree finds them all.
        var stack = children.removeValue(forKey: .instance(id)) ?? []
        while let spanID = stack.popLast() {
            stack += children.removeValue(forKey: .span(spanID)) ?? []
            forgetSpan(spanID)
        }
        for (parent, waiting) in waitingForParent {
            let kept = waiting.filter { spans[$0] != nil }
            waitingForParent[parent] = kept.isEmpty ? nil : kept
        }
    }

    /// Removes one span; its children move to where their parent now resolves (the local span that replaced it).
    mutating func removeSpan(_ id: String) {
        guard spans[id] != nil else { return }
        version += 1
        noteStructure(.other)
        let orphans = children.removeValue(forKey: .span(id)) ?? []
        if let parent = attachedTo[id] { children[parent]?.removeAll { $0 == id } }
        forgetSpan(id)
        for child in orphans {
            attachedTo[child] = nil
            attach(child)
        }
    }

    private mutating func forgetSpan(_ id: String) {
        guard let node = spans.removeValue(forKey: id) else { return }
        spanStatusCounts[node.status, default: 0] -= 1
        forgetUsage(of: id)
        attachedTo[id] = nil
        statusChangeOrder[id] = nil
        remoteSpans.remove(id)
        if apiToLocal[id] == id { apiToLocal[id] = nil }
    }
}

extension SpanNode {
    fileprivate func statusChangeKey(_ tree: TraceTree) -> Int { tree.statusChangeOrder[span.id] ?? 0 }
}

extension InstanceSnapshot {
    /// An instance as the API reports it.
    init(remote instance: AgentInstance) {
        let phase = StatusMapping.instancePhase(for: instance.status)
        self.init(
            id: instance.id, agentID: instance.agentID, phase: phase, registeredAt: instance.insertedAt,
            startedAt: instance.startedAt, finishedAt: instance.finishedAt, terminationReason: instance.terminationReason,
            quality: instance.qualityPayloads ?? [:])
    }
}

extension SpanSnapshot {
    /// A span as the API reports it (its id is the API's).
    init(remote span: AgentSpan) {
        let phase = StatusMapping.spanPhase(for: span.status)
        self.init(
            id: span.id, apiID: span.id, instanceID: span.agentInstanceID, parentID: span.parentSpanID,
            schemaName: span.schemaName, phase: phase, payload: span.payload, resultPayload: span.resultPayload,
            preparedAt: span.insertedAt ?? span.startedAt ?? Date(), startedAt: span.startedAt, finishedAt: span.finishedAt,
            createDelivered: true, finishDelivered: phase.isFinished)
    }
}

/// The source of ``TraceTree/identity``.
private let nextTreeIdentity = Atomic<UInt64>(0)
