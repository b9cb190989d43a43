import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorWire

/// A row of the tree as drawn: a node and its depth.
public struct VisibleRow: Hashable, Sendable {
    /// The node.
    public var node: NodeID
    /// Nesting depth (instances are 0).
    public var depth: Int
}

/// What the demo agent is doing, when there is one.
public enum DemoState: String, Hashable, Sendable {
    case running, paused
}

/// Everything the UI shows and remembers: the data (from the core client's events) and the interface state.
public struct AppModel: Sendable {
    // MARK: Data

    /// Instances and spans.
    public var tree = TraceTree()
    /// Unsettled operations by id.
    public var operations: [UInt64: OperationSnapshot] = [:]
    /// The latest permanent failures, newest last.
    public var failures: [FailedOperation] = []
    /// Operations that left the queue (delivered or failed for good), by node, for their idempotency keys.
    public internal(set) var settledOperations: [NodeID: [SettledOperation]] = [:]
    /// Queue counts.
    public var queue = QueueStats()
    /// How many operations the latest bulk request carried, once one went out.
    public var lastBatchSize: Int?
    /// Every attempt at each operation, as the client reported them, by operation id.
    public internal(set) var attempts: [UInt64: [OperationAttempt]] = [:]
    /// Failed operations the operator discarded (no longer listed).
    public internal(set) var discarded: Set<UInt64> = []
    /// The queue file this process's client keeps its operations in (`nil`: in memory).
    public var queueFile: String?
    /// Another process's queue file shown in the queue pane instead of this process's queue (`prefactor tui --queue`).
    public var fileView: QueueFileView?
    /// The list of queue files to pick one from, while it is open.
    public var queuePicker: QueueFilePicker?
    /// API health, as the core client reports it from its deliveries.
    public var health: APIHealth = .ok
    /// What the check of the API at start found (`nil` until it ran); cleared by a later success.
    public var apiCheck: APICheckResult?
    /// The last reason a delivery attempt failed, while the API is not healthy.
    public var lastDeliveryError: String?
    /// The API endpoint shown in the header.
    public var apiURL: String
    /// The remote view (other processes' runs, polled from the API), when watching.
    public var remote: RemoteView?
    /// Operations delivered per second, oldest first (the sparkline).
    public var throughput: [Int] = []
    private var deliveredAtLastTick = 0
    private var lastTick: Date?

    // MARK: Interface state

    /// The selected node.
    public var selection: NodeID?
    /// Collapsed nodes.
    public var collapsed: Set<NodeID> = []
    /// Index of the first tree row on screen.
    public var scroll = 0
    /// The pane with the keyboard.
    public var focus: Pane = .tree
    /// The filter text.
    public var filter = ""
    /// Whether the filter is being typed.
    public var filterEditing = false
    /// Errors-only view.
    public var errorsOnly = false
    /// Follow mode: keep the newest activity in view.
    public var follow = false
    /// Help overlay.
    public var showHelp = false
    /// Scroll of the help overlay (when the terminal is too short for it).
    public var helpScroll = 0
    /// Scroll of the detail pane.
    public var detailScroll = 0
    /// Scroll of the queue list.
    public var queueScroll = 0
    /// The operation selected in the queue list.
    public var queueSelection: UInt64?
    /// The operation shown in full in the detail pane (Enter in the queue); `nil` shows the selected node.
    public var operationDetail: UInt64?
    /// A pending y/n question.
    public var confirmation: Confirmation?
    /// A pending text prompt.
    public var prompt: Prompt?
    /// Span types entered in the prompt, oldest first (Up and Down recall them).
    public var promptHistory: [String] = []
    /// The transient message.
    public var message: Message?
    /// Read-only mode: no mutating keys.
    public var readonly: Bool
    /// Skip y/n questions.
    public var noConfirm: Bool
    /// Which key does what (the config file's `keys`).
    public var keyMap = KeyMap.default
    /// The demo agent, when one runs.
    public var demo: DemoState?
    /// Set while quitting: the queue is draining.
    public var quitting = false
    /// The time durations are computed against (ticks once a second); while frozen, the moment of the freeze.
    public var now: Date {
        get { frozen?.at ?? clock }
        set { clock = newValue }
    }
    /// The time, ticking even while frozen.
    public private(set) var clock: Date
    /// The order of siblings (`S`).
    public var sort: RowSort = .start
    /// Only rows of one status (`v`).
    public var statusFilter: StatusFilter = .all
    /// The timeline of the selected run (`w`), while shown.
    public var timeline: TimelineState?
    /// Prices of LLM tokens, for the cost of their usage (none built in).
    public var pricing: (any TokenPricing)?
    /// Updates held back while frozen (`Z`).
    public internal(set) var frozen: FrozenUpdates?
    /// The screen size.
    public var width = 80
    /// The screen size.
    public var height = 24
    /// Tree rows the layout last had room for.
    public var treeRowsVisible = 18

    /// A node to select as soon as it appears (one the operator just created).
    public var pendingSelection: NodeID?

    /// The visible rows, brought up to date when the tree, folds or filters change: a span added at the end of its
    /// parent's children is inserted where it goes; anything else rebuilds them.
    public private(set) var rows: [VisibleRow] = []
    private var rowsKey: RowsKey?
    /// Where each row is: every row node has an ordinal; `rowPositions[ordinal]` is its index in ``rows``, and
    /// `rowOrdinals[index]` the ordinal of the row at that index. Inserting a row shifts the positions after it.
    private var rowOrdinal: [NodeID: Int] = [:]
    /// How many times the rows were rebuilt from scratch (the benchmark and tests watch it).
    public private(set) var rowRebuilds = 0
    private var rowPositions: [Int] = []
    private var rowOrdinals: [Int] = []

    private struct RowsKey: Equatable {
        /// Which tree.
        var tree: UInt64
        /// The tree's structure version (without a filter, statuses do not change the rows), or its version (a
        /// filter looks at statuses and contents).
        var version: Int
        var collapsed: Set<NodeID>
        var filter: String
        var errorsOnly: Bool
        var sort: RowSort
        var statusFilter: StatusFilter
    }

    /// Creates a model.
    public init(apiURL: String, readonly: Bool = false, noConfirm: Bool = false, demo: DemoState? = nil, now: Date = Date()) {
        self.apiURL = apiURL
        self.readonly = readonly
        self.noConfirm = noConfirm
        self.demo = demo
        self.clock = now
    }

    // MARK: Client state

    /// Replaces the data with a snapshot, keeping the interface state.
    public mutating func load(_ snapshot: ClientSnapshot) {
        if frozen != nil { return hold(.snapshot(snapshot)) }
        let previous = tree
        tree = TraceTree()
        for instance in snapshot.instances {
            tree.upsert(instance, at: previous.instances[instance.id]?.history.first?.at ?? now)
        }
        for span in snapshot.spans { tree.upsert(span, at: previous.spans[span.id]?.history.first?.at ?? now) }
        tree.adoptRemote(from: previous)
        operations = Dictionary(uniqueKeysWithValues: snapshot.operations.map { ($0.id, $0) })
        queue = snapshot.queue
        health = snapshot.health
        refreshRows()
    }

    /// Applies one event of the core client.
    public mutating func apply(_ event: ClientEvent) {
        if frozen != nil { return hold(.client(event)) }
        switch event {
        case .instanceRegistered(let instance), .instanceStarted(let instance), .instanceFinished(let instance),
            .instanceTerminated(let instance):
            tree.upsert(instance, at: now)
        case .qualityRecorded:
            break
        case .spanPrepared(let span), .spanStarted(let span), .spanResolved(let span), .spanFinished(let span):
            tree.upsert(span, at: now)
        case .operationEnqueued(let operation):
            operations[operation.id] = operation
        case .operationReady(let id):
            operations[id]?.state = .pending
        case .operationSent(let id, let attempt):
            operations[id]?.state = .inFlight(attempt: attempt)
            recordAttempt(id, number: attempt)
        case .operationDelivered(let id, let attempts):
            settleAttempt(id, .delivered)
            // The API took something: whatever the check at start found is over.
            if apiCheck != nil, apiCheck != .ok { apiCheck = .ok }
            if let operation = operations.removeValue(forKey: id)?.operation { settle(operation, .delivered(attempts: attempts)) }
        case .operationRetrying(let id, let attempt, let next, _, let error):
            settleAttempt(id, .retrying(error: error, nextAttemptAt: next))
            operations[id]?.state = .retrying(attempt: attempt, nextAttemptAt: next, error: error)
            lastDeliveryError = ErrorText.brief(error)
        case .operationFailed(let failure):
            settleAttempt(failure.operation.id, .failed(reason: failure.reason))
            operations[failure.operation.id] = nil
            settle(failure.operation, .failed(reason: failure.reason))
            failures.append(failure)
            if failures.count > 100 { failures.removeFirst(failures.count - 100) }
        case .batchSent(let ids):
            lastBatchSize = ids.count
        case .bulkUnavailable(let reason):
            message = Message(text: "Bulk requests off: \(reason)", isError: false)
        case .queueChanged(let stats):
            queue = stats
        case .healthChanged(let health):
            self.health = health
            if health == .ok { lastDeliveryError = nil }
        case .queueNotice(let notice):
            message = Message(text: notice.summary, isError: notice.isProblem)
        case .eventsDropped:
            break
        }
    }

    /// Applies a batch of events and brings the rows (and, in follow mode, the selection) up to date.
    public mutating func apply(_ events: [ClientEvent]) {
        for event in events { apply(event) }
        refreshRows()
        if follow { followNewest() }
    }

    /// Moves the clock: durations tick, the throughput sparkline gets a new bucket each second.
    public mutating func tick(_ time: Date) {
        now = time
        if let lastTick {
            if time.timeIntervalSince(lastTick) >= 1 {
                throughput.append(max(0, queue.delivered - deliveredAtLastTick))
                if throughput.count > 120 { throughput.removeFirst(throughput.count - 120) }
                deliveredAtLastTick = queue.delivered
                self.lastTick = time
            }
        } else {
            lastTick = time
            deliveredAtLastTick = queue.delivered
        }
    }

    // MARK: Rows

    /// Brings the visible rows up to date when something they depend on changed, and keeps the selection valid.
    public mutating func refreshRows() {
        let filtering = !filter.isEmpty || errorsOnly || statusFilter != .all
        // A filter looks at statuses and contents, and so do sorts other than by start.
        let key = RowsKey(
            tree: tree.identity, version: filtering || sort != .start ? tree.version : tree.structureVersion,
            collapsed: collapsed, filter: filter, errorsOnly: errorsOnly, sort: sort, statusFilter: statusFilter)
        guard key != rowsKey else { return }
        let previous = rowsKey
        rowsKey = key
        // Where the selected row is on screen, so that rows added or removed above it do not move it.
        let anchor = selection.flatMap { node in selectedIndex.map { (node: node, offset: $0 - scroll) } }
        if !filtering, let previous, previous.tree == tree.identity, previous.collapsed == collapsed, previous.filter == filter,
            previous.errorsOnly == errorsOnly, sort == .start, previous.sort == sort,
            insertAppendedRows(since: previous.version)
        {
            // Updated in place.
        } else {
            rows = computeRows()
            indexRows()
            rowRebuilds += 1
        }
        if let pending = pendingSelection, rowIndex(of: pending) != nil {
            selection = pending
            pendingSelection = nil
            follow = false
        }
        if let selection, rowIndex(of: selection) == nil {
            // The selection was filtered out or removed: keep the nearest visible ancestor.
            var ancestor = tree.parent(of: selection)
            while let current = ancestor, rowIndex(of: current) == nil { ancestor = tree.parent(of: current) }
            self.selection = ancestor ?? rows.first?.node
        }
        if selection == nil { selection = rows.first?.node }
        if let anchor, anchor.node == selection, (0..<max(1, treeRowsVisible)).contains(anchor.offset), let index = selectedIndex
        {
            scroll = index - anchor.offset
        }
        clampScroll()
    }

    /// The index of a node's row, if it has one.
    public func rowIndex(of node: NodeID) -> Int? {
        guard let ordinal = rowOrdinal[node] else { return nil }
        let index = rowPositions[ordinal]
        return index >= 0 && index < rows.count && rows[index].node == node ? index : nil
    }

    private mutating func indexRows() {
        rowOrdinal = [:]
        rowOrdinal.reserveCapacity(rows.count)
        rowPositions = Array(rows.indices)
        rowOrdinals = Array(rows.indices)
        for (index, row) in rows.enumerated() { rowOrdinal[row.node] = index }
    }

    /// Inserts the rows of spans appended since structure version `version`, when that is all that changed.
    ///
    /// - Returns: `false` when the rows must be rebuilt instead (another kind of change, or a log that no longer
    ///   reaches back that far); the rows are then left for the rebuild.
    private mutating func insertAppendedRows(since version: Int) -> Bool {
        guard version >= tree.structureLogStart, version <= tree.structureVersion else { return false }
        let changes = tree.structureLog[(version - tree.structureLogStart)...]
        guard changes.allSatisfy({ change in if case .other = change { false } else { true } }) else { return false }
        for change in changes {
            switch change {
            case .appended(let id):
                guard insertRow(ofSpan: id) else { return false }
            case .appendedInstance(let id):
                let node = NodeID.instance(id)
                guard rowOrdinal[node] == nil else { return false }
                rowOrdinal[node] = rowPositions.count
                rowOrdinals.append(rowPositions.count)
                rowPositions.append(rows.count)
                rows.append(VisibleRow(node: node, depth: 0))
            case .other:
                return false
            }
        }
        return true
    }

    /// Inserts one new span's row at the end of its parent's subtree, unless a folded ancestor hides it.
    private mutating func insertRow(ofSpan id: String) -> Bool {
        let node = NodeID.span(id)
        guard rowOrdinal[node] == nil, let parent = tree.attachedTo[id] else { return false }
        var ancestor: NodeID? = parent
        while let current = ancestor {
            if collapsed.contains(current) { return true }  // hidden under a fold: no row
            ancestor = tree.parent(of: current)
        }
        guard let parentIndex = rowIndex(of: parent) else { return false }
        let parentDepth = rows[parentIndex].depth
        var index = parentIndex + 1
        while index < rows.count, rows[index].depth > parentDepth { index += 1 }
        let ordinal = rowPositions.count
        rows.insert(VisibleRow(node: node, depth: parentDepth + 1), at: index)
        rowOrdinals.insert(ordinal, at: index)
        rowPositions.append(index)
        rowOrdinal[node] = ordinal
        for position in (index + 1)..<rows.count { rowPositions[rowOrdinals[position]] = position }
        return true
    }

    func matchesFilter(_ node: NodeID) -> Bool {
        let needle = filter.lowercased()
        switch node {
        case .instance(let id):
            guard let instance = tree.instances[id] else { return false }
            return id.lowercased().contains(needle) || (instance.instance.agentID?.lowercased().contains(needle) ?? false)
        case .span(let id):
            guard let span = tree.spans[id]?.span else { return false }
            if span.schemaName.lowercased().contains(needle) || id.lowercased().contains(needle) { return true }
            if let apiID = span.apiID, apiID.lowercased().contains(needle) { return true }
            return JSONText.serialize(span.payload).lowercased().contains(needle)
                || (span.resultPayload.map { JSONText.serialize($0).lowercased().contains(needle) } ?? false)
        }
    }

    private func computeRows() -> [VisibleRow] {
        let filtering = !filter.isEmpty || errorsOnly || statusFilter != .all
        var keep: Set<NodeID>?
        if filtering {
            var set = Set<NodeID>()
            func consider(_ node: NodeID) {
                guard matchesCriteria(node) else { return }
                var current: NodeID? = node
                while let node = current, set.insert(node).inserted { current = tree.parent(of: node) }
            }
            for id in tree.instanceOrder { consider(.instance(id)) }
            for id in tree.spans.keys { consider(.span(id)) }
            keep = set
        }
        var result: [VisibleRow] = []
        result.reserveCapacity(min(tree.spanCount + tree.instanceOrder.count, 100_000))
        var stack: [(NodeID, Int)] = sorted(tree.instanceOrder.map(NodeID.instance)).reversed().map { ($0, 0) }
        while let (node, depth) = stack.popLast() {
            if let keep, !keep.contains(node) { continue }
            result.append(VisibleRow(node: node, depth: depth))
            // While filtering, matches inside collapsed nodes are shown anyway.
            guard filtering || !collapsed.contains(node) else { continue }
            if let children = tree.children[node] {
                for child in sorted(children.map(NodeID.span)).reversed() { stack.append((child, depth + 1)) }
            }
        }
        return result
    }

    /// Where the selection was last found in ``rows``, to find it again in constant time.
    private var selectedRowHint = 0

    /// The index of the selected row.
    public var selectedIndex: Int? {
        guard let selection else { return nil }
        if selectedRowHint < rows.count, rows[selectedRowHint].node == selection { return selectedRowHint }
        return rowIndex(of: selection)
    }

    /// Remembers where the selection is.
    mutating func noteSelection(at index: Int) {
        selectedRowHint = index
    }

    public mutating func clampScroll() {
        let visible = max(1, treeRowsVisible)
        scroll = min(max(0, scroll), max(0, rows.count - visible))
        if let index = selectedIndex {
            selectedRowHint = index
            if index < scroll { scroll = index }
            if index >= scroll + visible { scroll = index - visible + 1 }
        }
    }

    /// In follow mode: select the most recently changed span and keep it in view.
    public mutating func followNewest() {
        var newest: (node: NodeID, at: Date, order: Int)?
        for (id, node) in tree.spans {
            guard let at = node.history.last?.at else { continue }
            let order = tree.statusChangeOrder[id] ?? 0
            if let current = newest, (at, order) <= (current.at, current.order) { continue }
            newest = (.span(id), at, order)
        }
        if let newest, rowIndex(of: newest.node) != nil {
            selection = newest.node
            clampScroll()
        }
    }

    // MARK: Derived values

    /// Counts of instances and spans by display status, for the header.
    public var statusCounts: (instances: [DisplayStatus: Int], spans: [DisplayStatus: Int]) {
        (tree.instanceStatusCounts, tree.spanStatusCounts)
    }

    /// Operations that belong to a node.
    public func operations(for node: NodeID) -> [OperationSnapshot] {
        operations.values.filter { snapshot in
            switch node {
            case .instance(let id): return snapshot.operation.instanceID == id && snapshot.operation.spanID == nil
            case .span(let id): return snapshot.operation.spanID == id
            }
        }.sorted { $0.id < $1.id }
    }
}
