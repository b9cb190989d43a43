import Foundation
import Logging
import PrefactorCore
import PrefactorHTTP
import PrefactorWire

/// Options of a UI session.
public struct TUIOptions: Sendable {
    /// The API shown in the header.
    public var apiURL: String
    /// No mutating keys.
    public var readonly: Bool
    /// No y/n questions.
    public var noConfirm: Bool
    /// Glyphs and colours.
    public var theme: Theme

    /// Creates options.
    public init(apiURL: String, readonly: Bool = false, noConfirm: Bool = false, theme: Theme = Theme()) {
        self.apiURL = apiURL
        self.readonly = readonly
        self.noConfirm = noConfirm
        self.theme = theme
    }
}

/// Why a UI session ended.
public enum TUIExit: Sendable, Equatable {
    /// The operator quit after the queue drained.
    case drained
    /// The operator quit at once; this many operations were left.
    case abandoned(operationsLeft: Int)
    /// The operator pressed Ctrl-C: quit at once, as an interrupted program; this many operations were left.
    case interrupted(operationsLeft: Int)
    /// The terminal went away.
    case terminalClosed
}

/// Runs the UI: merges the core client's events, keys and a clock; runs the reducer; carries out effects with the
/// client; and presents frames to the backend (at most every 50 ms, and once a second for ticking durations).
public actor TUIController {
    private let client: PrefactorClient
    private let backend: any TerminalBackend
    private let demo: DemoAgent?
    private let watcher: RemoteWatcher?
    private let theme: Theme
    private let logger: Logger
    private var model: AppModel
    private var dirty = true
    private var exit: TUIExit?

    private enum Input: Sendable {
        case events([ClientEvent])
        case terminal(TerminalInput)
        case tick
        case drained(DeliveryReport)
        case effectFailed(String)
        case selected(NodeID)
        case terminalEnded
        case remote(RemoteEvent)
    }

    private let (inputs, inputContinuation) = AsyncStream<Input>.makeStream()

    /// Creates a controller.
    public init(
        client: PrefactorClient, backend: any TerminalBackend, options: TUIOptions, demo: DemoAgent? = nil,
        watcher: RemoteWatcher? = nil,
        logger: Logger = Logger(label: "prefactor.tui", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.client = client
        self.backend = backend
        self.demo = demo
        self.watcher = watcher
        self.theme = options.theme
        self.logger = logger
        var model = AppModel(apiURL: options.apiURL, readonly: options.readonly, noConfirm: options.noConfirm, demo: demo == nil ? nil : .running)
        let size = backend.size
        model.width = size.width
        model.height = size.height
        if let watcher {
            model.remote = RemoteView(
                ageOut: watcher.options.ageOut.seconds, maxFinished: watcher.options.maxFinished,
                interval: watcher.options.interval.seconds)
        }
        self.model = model
    }

    /// The current model (for tests).
    public var currentModel: AppModel { model }

    /// Runs until the operator quits or the terminal closes.
    public func run() async -> TUIExit {
        let (snapshot, events) = client.subscribe()
        model.load(snapshot)
        let continuation = inputContinuation
        return await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in events { continuation.yield(.events([event])) }
            }
            group.addTask { [backend] in
                for await input in backend.inputs { continuation.yield(.terminal(input)) }
                continuation.yield(.terminalEnded)
            }
            if let watcher {
                group.addTask { await watcher.run() }
                group.addTask {
                    for await event in watcher.events { continuation.yield(.remote(event)) }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    continuation.yield(.tick)
                }
            }
            var lastFrame = ContinuousClock.now - .seconds(1)
            var lastSecond = Date.distantPast
            for await input in inputs {
                await handle(input)
                if let exit {
                    group.cancelAll()
                    return exit
                }
                let now = Date()
                if now.timeIntervalSince(lastSecond) >= 1 {
                    lastSecond = now
                    model.tick(now)
                    dirty = true
                }
                if dirty, ContinuousClock.now - lastFrame >= .milliseconds(50) {
                    present()
                    lastFrame = ContinuousClock.now
                }
            }
            group.cancelAll()
            return exit ?? .terminalClosed
        }
    }

    private func present() {
        let geometry = Geometry(for: model)
        model.refreshRows()
        model.treeRowsVisible = model.rows.count > geometry.bodyHeight ? max(1, geometry.bodyHeight - 1) : max(1, geometry.bodyHeight)
        if model.follow { model.followNewest() }
        model.clampScroll()
        backend.present(Layout(model: model, theme: theme).render())
        dirty = false
    }

    private func handle(_ input: Input) async {
        switch input {
        case .events(let events):
            model.now = Date()
            var resync = false
            for event in events { if case .eventsDropped = event { resync = true } }
            if resync {
                model.load(client.snapshot())
            } else {
                for event in events { model.apply(event) }  // rows are refreshed once per frame
            }
            if model.quitting, model.queue.depth == 0 { dirty = true }
            dirty = true
        case .terminal(.key(let key)):
            let effects = model.handle(key)
            dirty = true
            for effect in effects { await perform(effect) }
        case .terminal(.resize(let width, let height)):
            model.width = width
            model.height = height
            dirty = true
        case .tick:
            break
        case .terminalEnded:
            exit = .terminalClosed
        case .drained(let report):
            exit = .drained
            if !report.isComplete {
                logger.info("Quit with telemetry not delivered", metadata: ["undelivered": "\(report.undelivered.count)"])
            }
        case .effectFailed(let message):
            model.message = Message(text: message, isError: true)
            dirty = true
        case .remote(let event):
            model.now = Date()
            let removed = model.apply(event)
            if let watcher, !removed.isEmpty {
                Task { for id in removed { await watcher.forget(instanceID: id) } }
            }
            dirty = true
        case .selected(let node):
            if case .instance = node, model.message == AppModel.registeringMessage { model.message = nil }
            // The node's event may not have arrived yet: select it as soon as it is in the tree.
            model.pendingSelection = node
            model.refreshRows()
            if model.rows.contains(where: { $0.node == node }) {
                model.selection = node
                model.pendingSelection = nil
                model.follow = false
                model.clampScroll()
            }
            dirty = true
        }
    }

    private func perform(_ effect: Effect) async {
        let client = self.client
        let continuation = inputContinuation
        func attempt(_ what: String, _ body: @escaping @Sendable () async throws -> Void) {
            Task {
                do { try await body() } catch {
                    var text = (error as? PrefactorError)?.message ?? "\(error)"
                    if let cause = (error as? PrefactorError)?.underlying {
                        text += ": " + (cause.status.map { "HTTP \($0) " } ?? "") + cause.message
                    }
                    continuation.yield(.effectFailed("\(what) failed: \(text)"))
                }
            }
        }
        switch effect {
        case .newInstance:
            attempt("New run") {
                let run = try await client.createAgentInstance(
                    agentVersion: ["name": "operator", "external_identifier": "operator-console", "description": "Started from the terminal UI"],
                    agentSchemaVersion: client.configuration.schemaRegistry == nil ? [:] : nil)
                try await run.start()
                continuation.yield(.selected(.instance(run.id)))
            }
        case .addSpan(let instanceID, let parentSpanID, let schemaName):
            let id = client.spanManager.prepare(instanceID: instanceID, schemaName: schemaName, parentSpanID: parentSpanID)
            continuation.yield(.selected(.span(id)))
        case .startSpan(let id):
            attempt("Start") { try await client.spanManager.start(id, payload: ["started_by": "operator"]) }
        case .finishSpan(let id, let status):
            attempt("Finish") {
                try await client.spanManager.finish(id, resultPayload: ["finished_by": "operator"], status: status)
            }
        case .cancelUnstarted(let id):
            attempt("Cancel") { try await client.spanManager.cancelUnstarted(id) }
        case .finishInstance(let id, let status):
            attempt("Finish run") { try await client.instanceManager.finish(id, status: status) }
        case .terminateInstance(let id):
            attempt("Terminate") { try await client.terminateInstance(id, reason: "Terminated by an operator from the terminal UI") }
        case .toggleDemo:
            if let demo {
                let paused = demo.togglePause()
                model.demo = paused ? .paused : .running
                model.message = Message(text: paused ? "Demo paused (p resumes)" : "Demo running", isError: false)
            }
        case .quit(let drain):
            if drain {
                Task {
                    let report = await client.shutdown()
                    continuation.yield(.drained(report))
                }
            } else {
                exit = .abandoned(operationsLeft: model.queue.depth)
            }
        case .interrupt:
            exit = .interrupted(operationsLeft: model.queue.depth)
        case .resync:
            model.load(client.snapshot())
        case .loadRemoteSpans(let id):
            if let watcher { Task { await watcher.loadSpans(instanceID: id) } }
        case .setWatchInterval(let seconds):
            if let watcher { Task { await watcher.setInterval(.milliseconds(Int(seconds * 1000))) } }
        }
    }
}
