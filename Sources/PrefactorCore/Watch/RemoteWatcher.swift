import Foundation
import PrefactorHTTP
import PrefactorWire

/// How the remote view is kept.
public struct WatchOptions: Sendable, Hashable {
    /// Time between polls.
    public var interval: Duration
    /// Finished instances whose last change is older than this leave the view (and are not loaded at start).
    public var ageOut: Duration
    /// At most this many finished instances are kept in view (the newest).
    public var maxFinished: Int
    /// The longest wait between polls after failures.
    public var maxBackoff: Duration

    /// Creates options.
    public init(
        interval: Duration = .seconds(1), ageOut: Duration = .seconds(15 * 60), maxFinished: Int = 200,
        maxBackoff: Duration = .seconds(30)
    ) {
        self.interval = interval
        self.ageOut = ageOut
        self.maxFinished = maxFinished
        self.maxBackoff = maxBackoff
    }
}

/// What one poll (or an on-demand fetch) found: only items that are new or changed since the watcher last saw them.
public struct RemoteChanges: Sendable, Hashable {
    /// Agents, new or changed.
    public var agents: [Agent] = []
    /// Instances, new or changed.
    public var instances: [AgentInstance] = []
    /// Spans, new or changed.
    public var spans: [AgentSpan] = []
    /// Instances whose spans are now loaded (the tree can show their children).
    public var loadedInstances: [String] = []
    /// When the poll ended (the remote view is this fresh).
    public var at: Date

    /// Creates changes.
    public init(
        agents: [Agent] = [], instances: [AgentInstance] = [], spans: [AgentSpan] = [], loadedInstances: [String] = [],
        at: Date
    ) {
        self.agents = agents
        self.instances = instances
        self.spans = spans
        self.loadedInstances = loadedInstances
        self.at = at
    }

    /// Whether nothing changed.
    public var isEmpty: Bool { agents.isEmpty && instances.isEmpty && spans.isEmpty && loadedInstances.isEmpty }
}

/// What the watcher reports.
public enum RemoteEvent: Sendable, Hashable {
    /// A poll or fetch succeeded.
    case changes(RemoteChanges)
    /// A poll failed; the next try is at `retryAt` (the view is kept as it was).
    case failed(message: String, failures: Int, retryAt: Date)
    /// What a failed poll says about the API (auth failed, unreachable...); sent before ``failed(message:failures:retryAt:)``.
    case checked(APICheckResult)
    /// The API answered 404 for an instance: it no longer has it (e.g. a restarted in-memory server).
    case gone(instanceID: String, reason: String)
}

/// Follows what every agent does on an API, through its list endpoints, incrementally.
///
/// Each poll asks for the agents changed since the previous polls (an agent counts as changed when one of its
/// instances changed), then for each of those agents the instances changed since the newest one seen, then for each
/// changed instance whose spans are followed the spans changed since the newest one seen. Unchanged items are not
/// fetched again; a quiet API costs one request per poll. Instances that are finished when first seen are not
/// followed until ``loadSpans(instanceID:)`` asks for them (the operator opens one).
///
/// Timestamps are the server's (`updated_at`), so the local clock does not matter. Lists are read in keyset pages
/// ordered by `updated_at`; a server that ignores the `updated_since` filter still works (items are filtered here,
/// at the cost of more traffic).
public actor RemoteWatcher {
    private let api: APIClient
    /// The options given at creation.
    public nonisolated let options: WatchOptions
    /// Time between polls now (``setInterval(_:)`` changes it).
    public private(set) var interval: Duration
    private let pageSize = 100
    private let (stream, continuation) = AsyncStream<RemoteEvent>.makeStream(bufferingPolicy: .unbounded)

    /// Lower bound (exclusive) of the next agents query; `nil` until the second poll.
    private var agentsBound: Date?
    /// The newest `updated_at` seen in any agent or instance, before the current poll.
    private var newestSeen: Date?
    /// Per agent: the newest instance `updated_at` seen.
    private var instanceCursor: [String: Date] = [:]
    /// Per instance: its `updated_at` when last seen.
    private var instanceSeen: [String: Date] = [:]
    /// Instances whose spans are followed, with the newest span `updated_at` seen (nil: none yet).
    private var spanCursor: [String: Date?] = [:]
    /// Agents by id, with `updated_at` when last seen.
    private var agentSeen: [String: Date?] = [:]
    /// Consecutive failed polls.
    private var failures = 0

    /// Requests made since start (for tests and the benchmark).
    public private(set) var requestCount = 0

    /// Creates a watcher on an API client.
    public init(api: APIClient, options: WatchOptions = WatchOptions()) {
        self.api = api
        self.options = options
        self.interval = options.interval
    }

    /// Changes the time between polls, and polls at once: the view is fresh right after the change, whatever the
    /// old interval (or a failure's backoff) had left to wait.
    public func setInterval(_ interval: Duration) {
        self.interval = max(interval, .milliseconds(100))
        wake.yield()
    }

    /// Ends the wait before the next poll.
    private let (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))

    /// Waits `delay`, or less when ``setInterval(_:)`` asks for a poll now.
    private func pause(_ delay: Duration) async {
        let wakes = self.wakes
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: delay) }
            group.addTask {
                var iterator = wakes.makeAsyncIterator()
                _ = await iterator.next()
            }
            _ = await group.next()
            group.cancelAll()
        }
    }

    /// The API's `host:port`, for messages.
    public nonisolated var endpoint: String { api.configuration.endpoint }

    /// What the watcher reports, for one reader.
    public nonisolated var events: AsyncStream<RemoteEvent> { stream }

    /// Polls until cancelled: every ``WatchOptions/interval`` while polls succeed, backing off (doubling, up to
    /// ``WatchOptions/maxBackoff``) while they fail.
    public func run() async {
        while !Task.isCancelled {
            let delay: Duration
            do {
                let changes = try await poll()
                continuation.yield(.changes(changes))
                delay = interval
            } catch is CancellationError {
                break
            } catch {
                delay = backoff(afterFailures: failures)
                if let error = error as? PrefactorHTTPError {
                    continuation.yield(.checked(APICheckResult(error: error, endpoint: api.configuration.endpoint)))
                }
                continuation.yield(
                    .failed(
                        message: Self.describe(error), failures: failures,
                        retryAt: Date().addingTimeInterval(delay.seconds)))
            }
            await pause(delay)
        }
        continuation.finish()
    }

    /// The wait after `failures` consecutive failed polls.
    public func backoff(afterFailures failures: Int) -> Duration {
        let factor = 1 << min(max(failures, 1), 16)
        return min(interval * factor, options.maxBackoff)
    }

    /// Runs one poll and returns what changed. A failed poll changes no cursor: the next one asks again.
    public func poll() async throws -> RemoteChanges {
        do {
            let changes = try await pollOnce()
            failures = 0
            return changes
        } catch {
            failures += 1
            throw error
        }
    }

    /// Loads the spans of an instance that is not followed yet (one the operator opened), follows them from now, and
    /// reports them (also on ``events``).
    ///
    /// - Returns: The spans loaded, or `nil` when the instance was followed already or the fetch failed (a failure is
    ///   reported on ``events``).
    @discardableResult
    public func loadSpans(instanceID: String) async -> RemoteChanges? {
        guard spanCursor[instanceID] == nil else { return nil }
        do {
            let spans = try await spanChanges(instanceID: instanceID, after: nil)
            spanCursor[instanceID] = .some(spans.compactMap(\.updatedAt).max())
            let changes = RemoteChanges(spans: spans, loadedInstances: [instanceID], at: Date())
            continuation.yield(.changes(changes))
            return changes
        } catch let error as PrefactorHTTPError where error.code == .notFound {
            continuation.yield(.gone(instanceID: instanceID, reason: "the API no longer has this run (HTTP 404)"))
            return nil
        } catch {
            continuation.yield(
                .failed(
                    message: "Loading the spans of \(instanceID) failed: \(Self.describe(error))", failures: max(1, failures),
                    retryAt: Date().addingTimeInterval(options.interval.seconds)))
            return nil
        }
    }

    /// Stops following an instance (it left the view); it is fetched again only if it changes.
    public func forget(instanceID: String) {
        spanCursor[instanceID] = nil
    }

    private func pollOnce() async throws -> RemoteChanges {
        // Cursors change only when the whole poll succeeded, so a failed poll is simply asked again.
        var agentSeen = self.agentSeen
        var instanceCursor = self.instanceCursor
        var instanceSeen = self.instanceSeen
        var spanUpdates: [String: Date?] = [:]
        var changes = RemoteChanges(at: Date())
        var newest = newestSeen

        // An agent's own `updated_at` does not move when its instances change, so agents are paged by offset and
        // not filtered here.
        let agents = try await collect(
            after: agentsBound, inclusive: false, sorting: "id", keyset: false,
            fetch: { since, page in try await self.api.listAgents(updatedSince: since, page: page) },
            updatedAt: { _ in nil }, id: { $0.id })
        for agent in agents {
            if let updated = agent.updatedAt { newest = max(newest ?? updated, updated) }
            if agentSeen[agent.id] == nil || agentSeen[agent.id]! != agent.updatedAt {
                changes.agents.append(agent)
                agentSeen[agent.id] = agent.updatedAt
            }
        }

        var firstLoadedFinished: [AgentInstance] = []
        for agent in agents {
            let instances: [AgentInstance]
            if let cursor = instanceCursor[agent.id] {
                instances = try await collect(
                    after: cursor, inclusive: false, sorting: "updated_at",
                    fetch: { since, page in
                        try await self.api.listAgentInstances(agentID: agent.id, updatedSince: since, page: page)
                    },
                    updatedAt: { $0.updatedAt }, id: { $0.id })
            } else {
                instances = try await firstLoad(agentID: agent.id)
                firstLoadedFinished += instances.filter { $0.status != .active && $0.status != .pending }
                // An agent with nothing in view still gets a cursor: the newest change seen before this poll. Any
                // change of its instances after the first load above is newer than that, so none is missed, and the
                // first load is not repeated on every poll that lists the agent.
                if instances.isEmpty, let before = newestSeen { instanceCursor[agent.id] = before }
            }
            for instance in instances {
                newest = max(newest ?? instance.updatedAt, instance.updatedAt)
                instanceCursor[agent.id] = max(instanceCursor[agent.id] ?? instance.updatedAt, instance.updatedAt)
                guard instanceSeen[instance.id] != instance.updatedAt else { continue }
                let isNew = instanceSeen[instance.id] == nil
                instanceSeen[instance.id] = instance.updatedAt
                changes.instances.append(instance)
                let live = instance.status == .pending || instance.status == .active
                var cursor = spanUpdates[instance.id] ?? spanCursor[instance.id]
                if isNew && live && cursor == nil {
                    cursor = .some(nil)
                    changes.loadedInstances.append(instance.id)
                }
                guard let followed = cursor else { continue }
                let spans = try await spanChanges(instanceID: instance.id, after: followed)
                let latest = spans.compactMap(\.updatedAt).max()
                spanUpdates[instance.id] = .some([followed, latest].compactMap { $0 }.max())
                changes.spans += spans
            }
        }
        // Each agent's first load brings up to `maxFinished` finished instances, but the view keeps that many in all:
        // only the newest are reported, the others count as aged out already (they come back if they change).
        if firstLoadedFinished.count > options.maxFinished {
            let dropped = Set(
                firstLoadedFinished.sorted { ($0.updatedAt, $0.id) > ($1.updatedAt, $1.id) }.dropFirst(options.maxFinished)
                    .map(\.id)
                    .filter { spanUpdates[$0] == nil && spanCursor[$0] == nil })
            changes.instances.removeAll { dropped.contains($0.id) }
        }
        self.agentSeen = agentSeen
        self.instanceCursor = instanceCursor
        self.instanceSeen = instanceSeen
        for (id, cursor) in spanUpdates {
            let current = spanCursor[id] ?? nil
            spanCursor[id] = .some([current, cursor].compactMap { $0 }.max())
        }
        // The next poll asks for agents changed after the newest item seen before this one: a change made while this
        // poll ran is newer than that and cannot be missed. (After the first poll that is nothing: the second poll
        // lists every agent again, and each agent's instances from its own cursor.)
        agentsBound = newestSeen
        newestSeen = newest
        changes.at = Date()
        return changes
    }

    /// The first load of an agent's instances: the live ones, and the finished ones changed within the age-out
    /// window, newest first, up to ``WatchOptions/maxFinished``.
    private func firstLoad(agentID: String) async throws -> [AgentInstance] {
        var result: [String: AgentInstance] = [:]
        for status in [AgentStatus.active, .pending] {
            var offset = 0
            while true {
                requestCount += 1
                let page = try await api.listAgentInstances(
                    agentID: agentID, status: status, page: PageRequest(offset: offset, pageSize: pageSize))
                for instance in page.items where instance.status == status { result[instance.id] = instance }
                offset += page.items.count
                if page.items.count < pageSize || offset >= (page.pagination?.itemCount ?? offset) { break }
            }
        }
        let cutoff = Date().addingTimeInterval(-options.ageOut.seconds)
        var finished = 0
        var offset = 0
        scan: while finished < options.maxFinished {
            requestCount += 1
            let page = try await api.listAgentInstances(
                agentID: agentID, updatedSince: cutoff,
                page: PageRequest(offset: offset, pageSize: pageSize, sorting: "-updated_at"))
            for instance in page.items {
                if instance.updatedAt < cutoff { break scan }
                if result[instance.id] != nil { continue }
                if instance.status == .active || instance.status == .pending {
                    result[instance.id] = instance
                    continue
                }
                guard finished < options.maxFinished else { break scan }
                result[instance.id] = instance
                finished += 1
            }
            offset += page.items.count
            if page.items.count < pageSize || offset >= (page.pagination?.itemCount ?? offset) { break }
        }
        return result.values.sorted { ($0.updatedAt, $0.id) < ($1.updatedAt, $1.id) }
    }

    private func spanChanges(instanceID: String, after cursor: Date?) async throws -> [AgentSpan] {
        try await collect(
            after: cursor, inclusive: false, sorting: "updated_at",
            fetch: { since, page in try await self.api.listSpans(instanceID: instanceID, updatedSince: since, page: page) },
            updatedAt: { $0.updatedAt }, id: { $0.id })
    }

    /// Every item changed after `cursor` (at or after it when `inclusive`), oldest change first, read in keyset
    /// pages: each page starts at the last `updated_at` of the previous one. Items the server returns although they
    /// did not change (a server without the filter) are dropped here.
    private func collect<Item: Sendable>(
        after cursor: Date?, inclusive: Bool, sorting: String, keyset: Bool = true,
        fetch: (Date?, PageRequest) async throws -> ListPage<Item>,
        updatedAt: (Item) -> Date?, id: (Item) -> String
    ) async throws -> [Item] {
        var bound = cursor.map { inclusive ? $0 : Self.justAfter($0) }
        var offset = 0
        var items: [Item] = []
        var index: [String: Int] = [:]
        for _ in 0..<10_000 {
            try Task.checkCancellation()
            requestCount += 1
            let page = try await fetch(bound, PageRequest(offset: offset, pageSize: pageSize, sorting: sorting))
            var fresh = 0
            for item in page.items {
                if let cursor, let updated = updatedAt(item), inclusive ? updated < cursor : updated <= cursor { continue }
                if let existing = index[id(item)] {
                    if updatedAt(items[existing]) != updatedAt(item) { items[existing] = item; fresh += 1 }
                } else {
                    index[id(item)] = items.count
                    items.append(item)
                    fresh += 1
                }
            }
            guard page.items.count == pageSize else { break }
            let last = page.items.last.flatMap(updatedAt)
            if keyset, let last, last != bound, fresh > 0 {
                bound = last
                offset = 0
            } else {
                // Many items share one timestamp, or the server ignores the filter: page by offset.
                offset += page.items.count
            }
        }
        return items
    }

    /// One microsecond later (the API's timestamp precision).
    static func justAfter(_ date: Date) -> Date {
        WireDate.date(microseconds: WireDate.microseconds(of: date) + 1)
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? PrefactorHTTPError { return error.summary() }
        return "\(error)"
    }
}
