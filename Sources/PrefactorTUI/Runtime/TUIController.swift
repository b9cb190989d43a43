import Foundation
import Logging
import PrefactorCore
import PrefactorHTTP
import PrefactorWire
import Synchronization

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
    /// Which key does what.
    public var keyMap: KeyMap
    /// Where `E` writes exports (`nil`: the current directory).
    public var exportDirectory: String?
    /// LLM prices per model (from the config file).
    public var prices: PriceTable

    /// Creates options.
    public init(
        apiURL: String, readonly: Bool = false, noConfirm: Bool = false, theme: Theme = Theme(), keyMap: KeyMap = .default,
        exportDirectory: String? = nil, prices: PriceTable = PriceTable()
    ) {
        self.apiURL = apiURL
        self.readonly = readonly
        self.noConfirm = noConfirm
        self.theme = theme
        self.keyMap = keyMap
        self.exportDirectory = exportDirectory
        self.prices = prices
    }
}

/// The demo agent as the UI drives it: `p` pauses and resumes it.
public struct DemoControl: Sendable {
    /// Pauses or resumes; returns whether it is now paused.
    public let togglePause: @Sendable () -> Bool
    /// Stops it, winding down its runs (on a clean quit, before the rest is finished and the queue drained).
    public let stop: @Sendable () async -> Void
    /// What it tells its user (a run stopped after its termination...): shown on the message line and logged.
    public let notices: AsyncStream<String>?

    /// Creates the control of a demo agent.
    public init(
        togglePause: @escaping @Sendable () -> Bool, stop: @escaping @Sendable () async -> Void = {},
        notices: AsyncStream<String>? = nil
    ) {
        self.togglePause = togglePause
        self.stop = stop
        self.notices = notices
    }
}

/// Queue files of other processes as the UI opens them: where to look, how often to read the one shown, and how to
/// take one over.
public struct QueueFileControl: Sendable {
    /// Where the picker looks for files.
    public var directory: String
    /// How often the file shown is read again.
    public var interval: Duration
    /// A file to show from the start.
    public var initial: String?
    /// Whether to open the picker at start.
    public var showPicker: Bool
    /// Delivers a dead process's file with a client on it; returns what happened, in one line.
    public var takeOver: @Sendable (String) async -> String

    /// Creates the control.
    public init(
        directory: String, interval: Duration, initial: String? = nil, showPicker: Bool = false,
        takeOver: @escaping @Sendable (String) async -> String
    ) {
        self.directory = directory
        self.interval = interval
        self.initial = initial
        self.showPicker = showPicker
        self.takeOver = takeOver
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
    /// The process got a termination signal (SIGTERM, SIGHUP, SIGINT): quit at once; this many operations were left.
    case signalled(signal: Int32, operationsLeft: Int)
    /// The terminal went away.
    case terminalClosed
}

/// Runs the UI: merges the core client's events, keys and a clock; runs the reducer; carries out effects with the
/// client; and presents frames to the backend.
///
/// Effects run one after another, in the order of the keys that asked for them, on one task of ``run()``; every
/// task the controller starts ends with ``run()``. Every input already waiting is handled before a frame is drawn
/// (a burst of keys costs one frame), frames are at most every 50 ms, and a frame held back by that limit is drawn
/// as soon as it is due.
public actor TUIController {
    private let client: PrefactorClient
    private let backend: any TerminalBackend
    private let demo: DemoControl?
    private let watcher: RemoteWatcher?
    private let queueFiles: QueueFileControl?
    /// The queue file of another process shown, read again every ``QueueFileControl/interval``.
    private let viewedFile = FileSlot()

    /// The path of the file shown, shared with the task that reads it again.
    private final class FileSlot: Sendable {
        private let value = Mutex<String?>(nil)
        func get() -> String? { value.withLock { $0 } }
        func set(_ path: String?) { value.withLock { $0 = path } }
    }
    private let probe: APIClient?
    private let theme: Theme
    private let exportDirectory: String?
    private let logger: Logger
    private let tickInterval: Duration
    private let endpoint: String?
    private var model: AppModel
    private var dirty = true
    private var exit: TUIExit?
    private var frameScheduled = false
    /// What the header last showed, to log each change once.
    private var loggedHealth = ShownHealth(label: "ok", level: .ok, reason: nil)

    private enum Input: Sendable {
        case events([ClientEvent])
        case terminal(TerminalInput)
        case tick
        case frameDue
        case drained(DeliveryReport)
        case effectFailed(String)
        case notice(String)
        case selected(NodeID)
        case terminalEnded
        case remote(RemoteEvent)
        case queueFile(QueueFileView)
        case queueFiles([QueueFiles.Summary])
        case takeOverEnded(path: String, outcome: String)
    }

    /// Inputs, and how many were sent but not yet handled.
    private final class Inbox: Sendable {
        let (stream, continuation) = AsyncStream<Input>.makeStream()
        let waiting = Mutex(0)

        func send(_ input: Input) {
            waiting.withLock { $0 += 1 }
            continuation.yield(input)
        }

        func took() { waiting.withLock { $0 -= 1 } }

        var isEmpty: Bool { waiting.withLock { $0 <= 0 } }
    }

    /// A piece of work for one of the serial executors.
    private typealias Job = @Sendable () async -> Void

    private let inbox = Inbox()
    /// Effects with the core client, in keypress order.
    private let (effectJobs, effectQueue) = AsyncStream<Job>.makeStream()
    /// Requests to the watcher, in order (apart from the client's effects, so a slow API call does not hold them).
    private let (watcherJobs, watcherQueue) = AsyncStream<Job>.makeStream()
    /// Take-overs of queue files, one at a time (apart from the rest: one can take minutes).
    private let (takeOverJobs, takeOverQueue) = AsyncStream<Job>.makeStream()
    /// When a frame held back by the rate limit is due.
    private let (frameRequests, frameQueue) = AsyncStream<ContinuousClock.Instant>.makeStream()

    /// Creates a controller.
    ///
    /// - Parameters:
    ///   - client: The core client whose state is shown and driven.
    ///   - backend: The terminal.
    ///   - options: What the session allows and looks like.
    ///   - demo: The demo agent, when one runs (`p` pauses it).
    ///   - watcher: The poller of other processes' runs, when watching.
    ///   - probe: A client for checking the API before the first frame (as `prefactor ping` does); without one the
    ///     API is not checked.
    ///   - tickInterval: How often durations tick (tests slow it down to show that nothing waits for a tick).
    ///   - logger: Where health changes, permanent failures and failed actions are logged.
    ///   - queueFiles: Other processes' queue files: the picker, the file shown, take-overs.
    public init(
        client: PrefactorClient, backend: any TerminalBackend, options: TUIOptions, demo: DemoControl? = nil,
        watcher: RemoteWatcher? = nil, probe: APIClient? = nil, tickInterval: Duration = .milliseconds(250),
        logger: Logger = Logger(label: "prefactor.tui", factory: { _ in SwiftLogNoOpLogHandler() }),
        queueFiles: QueueFileControl? = nil
    ) {
        self.client = client
        self.backend = backend
        self.demo = demo
        self.watcher = watcher
        self.queueFiles = queueFiles
        viewedFile.set(queueFiles?.initial)
        self.probe = probe
        self.theme = options.theme
        self.exportDirectory = options.exportDirectory
        self.logger = logger
        self.tickInterval = tickInterval
        self.endpoint = client.configuration.api.endpoint
        var model = AppModel(
            apiURL: options.apiURL, readonly: options.readonly, noConfirm: options.noConfirm, demo: demo == nil ? nil : .running)
        if let initial = queueFiles?.initial {
            model.fileView = QueueFileView.read(initial)
            model.focus = .queue
        }
        model.queueFile = client.queueFilePath
        model.apply(options)
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
        if let probe {
            // The header tells the truth from the first frame: the API is checked before it is drawn.
            let result = await probe.check()
            model.applyCheck(result)
            if let explanation = result.explanation {
                logger.error("API check failed", metadata: ["reason": "\(explanation)"])
            } else {
                logger.info("API check passed", metadata: ["api": "\(client.configuration.api.apiURL)"])
            }
            logHealthChange()
        }
        let (snapshot, events) = client.subscribe()
        model.load(snapshot)
        let inbox = self.inbox
        let (effectJobs, watcherJobs, frameRequests) = (self.effectJobs, self.watcherJobs, self.frameRequests)
        let takeOverJobs = self.takeOverJobs
        if queueFiles?.showPicker == true { perform(.listQueueFiles) }
        let tickInterval = self.tickInterval
        let result = await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in events { inbox.send(.events([event])) }
            }
            group.addTask { [backend] in
                for await input in backend.inputs { inbox.send(.terminal(input)) }
                inbox.send(.terminalEnded)
            }
            // The serial executors: one job at a time, in the order they were queued.
            group.addTask { for await job in effectJobs { await job() } }
            group.addTask { for await job in watcherJobs { await job() } }
            group.addTask { for await job in takeOverJobs { await job() } }
            if let interval = queueFiles?.interval {
                // The file shown is read again every interval (read-only, whoever owns it).
                let viewed = self.viewedFile
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        if let path = viewed.get() { inbox.send(.queueFile(QueueFileView.read(path))) }
                    }
                }
            }
            group.addTask {
                for await due in frameRequests {
                    try? await Task.sleep(until: due, clock: .continuous)
                    inbox.send(.frameDue)
                }
            }
            if let notices = demo?.notices {
                group.addTask {
                    for await notice in notices { inbox.send(.notice("Demo: " + notice)) }
                }
            }
            if let watcher {
                group.addTask { await watcher.run() }
                group.addTask {
                    for await event in watcher.events { inbox.send(.remote(event)) }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: tickInterval)
                    inbox.send(.tick)
                }
            }
            present()
            var lastFrame = ContinuousClock.now
            var lastSecond = Date()
            for await input in inbox.stream {
                inbox.took()
                await handle(input)
                if let exit {
                    finishExecutors()
                    group.cancelAll()
                    return exit
                }
                let now = Date()
                if now.timeIntervalSince(lastSecond) >= 1 {
                    lastSecond = now
                    model.tick(now)
                    dirty = true
                }
                logHealthChange()
                // Every waiting input first: the frame shows where a burst of keys ended.
                guard dirty, inbox.isEmpty || ContinuousClock.now - lastFrame >= .milliseconds(250) else { continue }
                let due = lastFrame + .milliseconds(50)
                if ContinuousClock.now >= due {
                    present()
                    lastFrame = ContinuousClock.now
                } else if !frameScheduled {
                    frameScheduled = true
                    frameQueue.yield(due)
                }
            }
            finishExecutors()
            group.cancelAll()
            return exit ?? .terminalClosed
        }
        return result
    }

    private func finishExecutors() {
        effectQueue.finish()
        watcherQueue.finish()
        takeOverQueue.finish()
        frameQueue.finish()
    }

    private func present() {
        let geometry = Geometry(for: model)
        model.refreshRows()
        model.treeRowsVisible =
            model.rows.count > geometry.bodyHeight ? max(1, geometry.bodyHeight - 1) : max(1, geometry.bodyHeight)
        if model.follow { model.followNewest() }
        model.clampScroll()
        backend.present(Layout(model: model, theme: theme).render())
        dirty = false
    }

    /// Logs the header's health when it changes, with the reason.
    private func logHealthChange() {
        let shown = model.shownHealth
        guard shown.label != loggedHealth.label else { return }
        loggedHealth = shown
        let metadata: Logger.Metadata = shown.reason.map { ["reason": "\($0)"] } ?? [:]
        if shown.level == .ok {
            logger.notice("API health: ok", metadata: metadata)
        } else {
            logger.warning("API health: \(shown.label)", metadata: metadata)
        }
    }

    private func handle(_ input: Input) async {
        switch input {
        case .events(let events):
            model.now = Date()
            var resync = false
            for event in events {
                switch event {
                case .eventsDropped: resync = true
                case .operationFailed(let failure):
                    logger.error(
                        "Operation failed permanently",
                        metadata: [
                            "operation": "\(failure.operation.id)", "kind": "\(failure.operation.kind.rawValue)",
                            "status": "\(failure.status.map(String.init) ?? "-")", "reason": "\(failure.reason)",
                        ])
                case .healthChanged(let health):
                    logger.notice("Delivery health: \(health.rawValue)")
                default: break
                }
            }
            if resync {
                model.load(client.snapshot())
            } else {
                for event in events { model.apply(event) }  // rows are refreshed once per frame
            }
            dirty = true
        case .terminal(.key(let key)):
            let effects = model.handle(key)
            dirty = true
            for effect in effects { perform(effect) }
        case .terminal(.mouse(let event)):
            let effects = model.handle(event)
            dirty = true
            for effect in effects { perform(effect) }
        case .terminal(.resize(let width, let height)):
            model.width = width
            model.height = height
            dirty = true
        case .terminal(.terminate(let signal)):
            exit = .signalled(signal: signal, operationsLeft: model.queue.depth)
        case .tick:
            break
        case .frameDue:
            frameScheduled = false
        case .terminalEnded:
            exit = .terminalClosed
        case .drained(let report):
            exit = .drained
            if !report.isComplete {
                logger.warning(
                    "Quit with telemetry not delivered",
                    metadata: ["undelivered": "\(report.undelivered.count)", "failed": "\(report.failed.count)"])
            }
        case .effectFailed(let message):
            model.message = Message(text: message, isError: true)
            dirty = true
        case .notice(let text):
            logger.notice("\(text)")
            model.message = Message(text: text, isError: false)
            dirty = true
        case .remote(let event):
            model.now = Date()
            if case .failed(let message, let failures, _) = event, failures == 1 || model.remote?.failure?.message != message {
                logger.warning("Watching the API failed", metadata: ["reason": "\(message)", "failures": "\(failures)"])
            }
            if case .changes = event, model.remote?.failure != nil { logger.notice("Watching the API works again") }
            let removed = model.apply(event)
            if let watcher, !removed.isEmpty {
                watcherQueue.yield { for id in removed { await watcher.forget(instanceID: id) } }
            }
            dirty = true
        case .queueFile(let view):
            // A file closed meanwhile is not shown again.
            if viewedFile.get() == view.path {
                model.applyQueueFile(view)
                dirty = true
            }
        case .takeOverEnded(let path, let outcome):
            var view = QueueFileView.read(path)
            view.takingOver = false
            if viewedFile.get() == path { model.fileView = view }
            model.message = Message(text: outcome, isError: !view.entries.isEmpty)
            dirty = true
        case .queueFiles(let files):
            model.queuePicker = QueueFilePicker(files: files)
            if model.message?.text == "Looking for queue files…" { model.message = nil }
            dirty = true
        case .selected(let node):
            if case .instance = node, model.message == AppModel.registeringMessage { model.message = nil }
            // The node's event may not have arrived yet: select it as soon as it is in the tree.
            model.pendingSelection = node
            model.refreshRows()
            if model.rowIndex(of: node) != nil {
                model.selection = node
                model.pendingSelection = nil
                model.follow = false
                model.clampScroll()
            }
            dirty = true
        }
    }

    /// Queues an effect on the serial executor (or does it here when it touches only the UI).
    private func perform(_ effect: Effect) {
        let client = self.client
        let inbox = self.inbox
        let logger = self.logger
        let endpoint = self.endpoint
        func attempt(_ what: String, _ body: @escaping @Sendable () async throws -> Void) {
            effectQueue.yield {
                do { try await body() } catch {
                    logger.error("\(what) failed", metadata: ["error": "\(ErrorText.detail(error))"])
                    inbox.send(.effectFailed("\(what) failed: \(ErrorText.oneLine(error, endpoint: endpoint))"))
                }
            }
        }
        switch effect {
        case .newInstance:
            attempt("New run") {
                let run = try await client.createAgentInstance(
                    agentVersion: [
                        "name": "operator", "external_identifier": "operator-console",
                        "description": "Started from the terminal UI",
                    ],
                    agentSchemaVersion: client.configuration.schemaRegistry == nil ? [:] : nil)
                try await run.start()
                inbox.send(.selected(.instance(run.id)))
            }
        case .addSpan(let instanceID, let parentSpanID, let schemaName):
            attempt("Add span") {
                let id = client.spanManager.prepare(instanceID: instanceID, schemaName: schemaName, parentSpanID: parentSpanID)
                inbox.send(.selected(.span(id)))
            }
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
            attempt("Terminate") {
                try await client.terminateInstance(id, reason: "Terminated by an operator from the terminal UI")
            }
        case .toggleDemo:
            if let demo {
                let paused = demo.togglePause()
                model.demo = paused ? .paused : .running
                model.message = Message(text: paused ? "Demo paused (p resumes)" : "Demo running", isError: false)
            }
        case .quit(let drain):
            if drain {
                // After every effect asked for before it: the demo stops, what is still open is cancelled (so that
                // nothing stays active on the API), then the queue drains.
                let demo = self.demo
                effectQueue.yield {
                    await demo?.stop()
                    let cancelled = await OpenWork.cancel(in: client, reason: "the terminal UI quit")
                    if cancelled.spans + cancelled.runs > 0 {
                        logger.notice(
                            "Cancelled open work on quit", metadata: ["spans": "\(cancelled.spans)", "runs": "\(cancelled.runs)"])
                    }
                    let report = await client.shutdown()
                    inbox.send(.drained(report))
                }
            } else {
                exit = .abandoned(operationsLeft: model.queue.depth)
            }
        case .interrupt:
            exit = .interrupted(operationsLeft: model.queue.depth)
        case .resync:
            model.load(client.snapshot())
        case .loadRemoteSpans(let id):
            if let watcher { watcherQueue.yield { await watcher.loadSpans(instanceID: id) } }
        case .setWatchInterval(let seconds):
            if let watcher { watcherQueue.yield { await watcher.setInterval(.milliseconds(Int(seconds * 1000))) } }
        case .listQueueFiles:
            let directory = queueFiles?.directory ?? QueueFiles.defaultDirectory()
            watcherQueue.yield { inbox.send(.queueFiles(QueueFiles.list(in: directory).map(QueueFiles.summary(of:)))) }
        case .openQueueFile(let path):
            viewedFile.set(path)
            model.fileView = nil
            watcherQueue.yield { inbox.send(.queueFile(QueueFileView.read(path))) }
        case .closeQueueFile:
            viewedFile.set(nil)
        case .takeOverQueueFile(let path):
            guard let takeOver = queueFiles?.takeOver else {
                model.message = Message(text: "Taking over a queue file is not available here", isError: true)
                return
            }
            model.queueFileTakenOver(path)
            logger.notice("Taking over a queue file", metadata: ["file": "\(path)"])
            takeOverQueue.yield {
                let outcome = await takeOver(path)
                logger.notice("\(outcome)")
                inbox.send(.takeOverEnded(path: path, outcome: outcome))
            }
        case .copyToClipboard(let text):
            guard let clipboard = backend as? any ClipboardBackend else {
                model.message = Message(text: "This terminal backend cannot copy", isError: true)
                return
            }
            clipboard.copyToClipboard(text)
        case .exportRun(let id):
            let api = client.configuration.api
            let directory = exportDirectory
            // Apart from the client's effects: a run of many spans takes a while to read.
            watcherQueue.yield {
                let message = await ExportJob.run(instanceID: id, api: api, directory: directory)
                if message.isError {
                    logger.error("Export failed", metadata: ["run": "\(id)", "reason": "\(message.text)"])
                    inbox.send(.effectFailed(message.text))
                } else {
                    inbox.send(.notice(message.text))
                }
            }
        case .retryNow(let id):
            client.retryNow(operationID: id)
        case .discardOperation(let id):
            guard let file = client.queueFilePath else {
                model.operationDiscarded(id, fromFile: nil)
                return
            }
            do {
                let dropped = try client.discardFailed(
                    operationIDs: [id], reason: "discarded by an operator from the terminal UI")
                if dropped.isEmpty {
                    model.message = Message(
                        text: "#\(id) is not in \(file) as a failed operation; nothing discarded", isError: true)
                } else {
                    logger.notice("Discarded a failed operation", metadata: ["operation": "\(id)", "file": "\(file)"])
                    model.operationDiscarded(id, fromFile: file)
                }
            } catch {
                model.message = Message(
                    text: "Discarding #\(id) failed: \(ErrorText.oneLine(error, endpoint: endpoint))", isError: true)
            }
        }
    }
}
