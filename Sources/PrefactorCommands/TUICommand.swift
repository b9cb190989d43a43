import ArgumentParser
@preconcurrency import Dispatch
import Foundation
import Logging
import PrefactorCore
import PrefactorDemo
import PrefactorHTTP
import PrefactorTUI
import PrefactorTUICurses
import PrefactorWire

/// `prefactor tui` (the default command): the live trace viewer and controller.
struct TUICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tui",
        abstract: "Watch and drive agent runs live in the terminal (the default command).",
        discussion: """
            With no API given (no --api-url and no $PREFACTOR_API_URL) it starts an embedded local API server in memory with a demo agent, so live runs appear at once. With --api-url and --token (or the environment variables) it shows what this process's client does against that API; --demo adds the demo agent, and --watch adds the runs of every other process on that API (polled every --poll-interval seconds; runs finished more than --age-out minutes ago leave the view). The embedded server is watched by default. The API is checked before the first frame: the header says when the token is rejected, nothing answers, or the address is not a Prefactor API.

            Keys: arrows or j/k move, h/l fold, n new run, a add span, s start, f finish, x fail, c cancel, T terminate, / filter, e errors only, F follow, y copy (OSC 52), E export the run as JSON, p pause the demo, W poll interval when watching, O queue files, ? help, q quit (drains the queue). The mouse selects, folds and scrolls (--no-mouse turns it off). In the queue pane: arrows select an operation, Enter shows it in full, t goes to its span, r retries it now, d discards a failed one (y/n), D takes over a dead process's file (y/n), Esc goes back.

            q cancels what this process left open (spans and runs, the reason in the result), then delivers the queue; it exits 1 when something could not be delivered.
            Ctrl-C quits at once (exit status 130), printing what it leaves behind. SIGTERM and SIGHUP deliver the queue first, for at most the drain timeout as q does, then exit with 143 and 129; every exit says on standard error and in the log what it left undelivered.

            The queue is kept in a file of this process under $XDG_STATE_HOME/prefactor/queues (--queue-file chooses another, --memory-queue keeps it in memory), so a crash loses nothing that was queued. On a clean exit with nothing left in it, the process's own file is removed; a file with undelivered or failed operations is kept, and the summary names it with `prefactor queue deliver FILE` and `prefactor queue show FILE`.

            --queue FILE shows another process's queue file in the queue pane, read again every --poll-interval seconds: read-only while its owner runs; when the owner is dead, D takes it over (after y/n) and delivers it to this session's API. --queue alone (or O in the UI) lists the queue files found to pick one.

            The config file ($XDG_CONFIG_HOME/prefactor/config.yml, or --config FILE) sets the theme, key bindings, mouse, poll interval, age-out, export directory and LLM prices; flags win over it. `prefactor config check` checks it, `prefactor config example` prints a commented one.

            --render prints one frame as text without a terminal (for docs and tests). Logs go to --log-file, never to the screen: every change of the API's health and every operation that failed for good. NO_COLOR turns colours off.
            """)

    @Option(name: .customLong("api-url"), help: "The API origin (default: $PREFACTOR_API_URL, else an embedded server).")
    var apiURL: String?

    @Option(help: "The API token (default: $PREFACTOR_API_TOKEN); shown to every user by `ps`, unlike --token-file.")
    var token: String?

    @Option(name: .customLong("token-file"), help: "A file whose first line is the API token.")
    var tokenFile: String?

    @Flag(help: "Run the demo agent (on by default with the embedded server).")
    var demo = false

    @OptionGroup var queueFileOptions: QueueFileOptions

    @Flag(name: .customLong("queue"), help: "Open another process's queue file (FILE), or pick one of the files found (no FILE).")
    var openQueue = false

    @Argument(help: ArgumentHelp("With --queue: the queue file to show.", valueName: "FILE"))
    var queueToOpen: String?

    @Flag(help: "No demo agent, even with the embedded server.")
    var noDemo = false

    @Flag(help: "Disable every key that changes something.")
    var readonly = false

    @Flag(help: "Do not ask y/n before failing, cancelling or terminating.")
    var noConfirm = false

    @Flag(help: "ASCII glyphs instead of Unicode.")
    var ascii = false

    @Flag(help: "No colours (also with NO_COLOR set).")
    var noColor = false

    @Option(help: "Where to write logs (default: $XDG_STATE_HOME/prefactor/tui.log).")
    var logFile: String?

    @Flag(help: "Print one frame as text and exit (no terminal needed).")
    var render = false

    @Option(help: "Frame width for --render.")
    var width = 100

    @Option(help: "Frame height for --render.")
    var height = 30

    @Option(help: "Seconds to let things happen before the --render frame.")
    var after: Double?

    @Flag(help: "With --render: keep colours as ANSI escapes.")
    var ansi = false

    @Option(help: "Demo speed factor (2 runs twice as fast).")
    var demoSpeed = 1.0

    @Flag(help: "Also show runs of other processes, polled from the API (on by default with the embedded server).")
    var watch = false

    @Flag(help: "Show only this process's runs, even with the embedded server.")
    var noWatch = false

    @Option(help: "Seconds between polls of the API when watching (default: the config file's, else 1).")
    var pollInterval: Double?

    @Option(help: "Minutes after which finished runs of other processes leave the view (default: the config file's, else 15).")
    var ageOut: Double?

    @OptionGroup var configOptions: ConfigOptions

    @Option(help: "The most finished runs of other processes kept in view.")
    var maxFinished = 200

    func validate() throws {
        guard (Geometry.minimumWidth...1000).contains(width), (Geometry.minimumHeight...500).contains(height) else {
            throw ValidationError(
                "--width must be \(Geometry.minimumWidth)-1000 and --height \(Geometry.minimumHeight)-500 "
                    + "(the smallest frame the UI draws is \(Geometry.minimumWidth)x\(Geometry.minimumHeight))")
        }
        if let apiURL, let problem = APIClient.Configuration.problem(withAPIURL: apiURL) {
            throw ValidationError("--api-url '\(apiURL)' \(problem)")
        }
        if queueToOpen != nil && !openQueue {
            throw ValidationError("a FILE argument goes with --queue (prefactor tui --queue FILE)")
        }
        if let after, !(0...3600).contains(after) { throw ValidationError("--after must be from 0 to 3600 seconds") }
        if demo && noDemo { throw ValidationError("--demo and --no-demo cannot be used together") }
        guard demoSpeed > 0, demoSpeed <= 100 else {
            throw ValidationError("--demo-speed must be greater than 0 and at most 100 (1 is real time; p pauses the demo)")
        }
        if watch && noWatch { throw ValidationError("--watch and --no-watch cannot be used together") }
        if let pollInterval, !(0.1...3600).contains(pollInterval) {
            throw ValidationError("--poll-interval must be from 0.1 to 3600 seconds")
        }
        if let ageOut, !(ageOut > 0 && ageOut <= 60 * 24 * 365) {
            throw ValidationError("--age-out must be a positive number of minutes")
        }
        guard (1...100_000).contains(maxFinished) else { throw ValidationError("--max-finished must be from 1 to 100000") }
    }

    /// The remote watcher, when watching.
    func makeWatcher(api: APIClient.Configuration, embedded: Bool, settings: TUISettings) throws -> RemoteWatcher? {
        guard watch || (embedded && !noWatch) else { return nil }
        let options = WatchOptions(
            interval: .milliseconds(Int(settings.pollInterval * 1000)), ageOut: .seconds(Int(settings.ageOut * 60)),
            maxFinished: maxFinished)
        // The watcher backs off on its own and shows failures at once, so its requests are not retried.
        var configuration = api
        configuration.retryPolicy = .none
        return RemoteWatcher(api: try APIClient(configuration: configuration), options: options)
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let logPath = logFile ?? FileLogHandler.defaultPath(environment)
        let sink: FileLogHandler.Sink
        do { sink = try FileLogHandler.open(path: logPath) } catch {
            printError("error: cannot open the log file \(logPath): \(error)")
            throw ExitCode.failure
        }
        var logger = Logger(label: "prefactor.tui") { FileLogHandler(label: $0, sink: sink) }
        logger.logLevel = .info
        // The config file first: a mistake in it stops here, before the terminal is taken.
        let settings: TUISettings
        do { settings = try resolveSettings(environment: environment) } catch {
            printError("error: the config file cannot be used:\n\(error)")
            printError("  `prefactor config check` checks it; `prefactor config example` prints a commented example.")
            throw ExitCode.validationFailure
        }
        let theme = settings.theme

        // A terminal first (unless rendering), so a missing one fails before anything starts.
        var backend: CursesBackend?
        if !render {
            do {
                backend = try CursesBackend.start(environment: environment, mouse: settings.mouse)
            } catch {
                printError("error: the terminal UI needs a terminal: \(error).")
                printError(
                    "  Use `prefactor tui --render` for a text frame, `prefactor serve` for the API, or `prefactor demo` for a headless demo."
                )
                throw ExitCode.failure
            }
        }

        let wantsEmbedded = apiURL == nil && (environment["PREFACTOR_API_URL"] ?? "").isEmpty
        var embedded: EmbeddedServer?
        let clientConfiguration: APIClient.Configuration
        do {
            if wantsEmbedded {
                let server = try await EmbeddedServer.start(logger: logger)
                embedded = server
                clientConfiguration = APIClient.Configuration(apiURL: server.url, apiToken: server.token)
            } else {
                let token = try TokenSource.resolve(token: token, file: tokenFile)
                clientConfiguration = try APIClient.Configuration.fromEnvironment(apiURL: apiURL, apiToken: token)
            }
        } catch let error as PrefactorHTTPError where error.code == .configuration {
            backend?.stop()
            printError("error: \(error.message)")
            throw ExitCode.validationFailure
        } catch {
            backend?.stop()
            printError("error: \(Self.describe(error))")
            throw ExitCode.failure
        }
        let runDemo = (wantsEmbedded && !noDemo) || demo
        var configuration = PrefactorClient.Configuration(api: clientConfiguration, schemaRegistry: DemoAgent.schemaRegistry)
        configuration.drainTimeout = .seconds(30)
        let queueChoice = queueFileOptions.apply(to: &configuration, command: "tui", environment: environment)
        let client: PrefactorClient
        do { client = try PrefactorClient(configuration: configuration, logger: logger) } catch {
            backend?.stop()
            await embedded?.stop()
            printError("error: \(Self.describe(error))")
            throw ExitCode.failure
        }
        let agent = runDemo ? DemoAgent(client: client, speed: demoSpeed) : nil
        let options = TUIOptions(
            apiURL: clientConfiguration.apiURL, readonly: readonly, noConfirm: noConfirm, theme: theme,
            keyMap: settings.config.keyMap, exportDirectory: settings.config.exportDirectory, prices: settings.config.prices)
        // The check at start answers quickly or not at all: no retries, a short limit.
        var probeConfiguration = clientConfiguration
        probeConfiguration.retryPolicy = .none
        probeConfiguration.requestTimeout = .seconds(5)
        probeConfiguration.connectTimeout = .seconds(5)
        let probe = try? APIClient(configuration: probeConfiguration)
        let watcher: RemoteWatcher?
        do { watcher = try makeWatcher(api: clientConfiguration, embedded: wantsEmbedded, settings: settings) } catch {
            backend?.stop()
            printError("error: \(Self.describe(error))")
            throw ExitCode.failure
        }

        let demoControl = agent.map { agent in
            DemoControl(togglePause: { agent.togglePause() }, stop: { await agent.stopAndWait() }, notices: agent.notices)
        }
        let drainTimeout = configuration.drainTimeout
        let (outcome, status): (String, Int32) = await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await client.run() }
            if let agent { group.addTask { await agent.run() } }
            defer { group.cancelAll() }
            if render {
                let frame = await renderFrame(client: client, options: options, demo: agent, watcher: watcher, probe: probe)
                try? await probe?.shutdown()
                return (frame, 0)
            }
            let controller = TUIController(
                client: client, backend: backend!, options: options, demo: demoControl, watcher: watcher, probe: probe,
                logger: logger,
                queueFiles: queueFileControl(api: clientConfiguration, environment: environment, settings: settings))
            let exit = await controller.run()
            try? await probe?.shutdown()
            backend?.stop()
            switch exit {
            case .interrupted(let left):
                // Ctrl-C, with the terminal restored: exit at once with the shell's status for SIGINT (128 + 2).
                // Nothing more is delivered; what is left is said, on standard error and in the log.
                let line = Self.leftBehind(operations: left, openRuns: OpenWork.openRuns(client.snapshot()), signal: SIGINT)
                logger.error("\(line)")
                printError(line)
                if left > 0, let kept = queueChoice?.settle() { printError(kept) }
                Foundation.exit(130)
            case .signalled(let signal, let left):
                // SIGTERM or SIGHUP: say what is open, deliver the queue for at most the drain timeout as `q` does,
                // then say what is left, on standard error and in the log, and exit with 128 + the signal.
                let line = Self.leftBehind(operations: left, openRuns: OpenWork.openRuns(client.snapshot()), signal: signal)
                printError(line + " Delivering the queue (at most \(drainTimeout))…")
                logger.warning("\(line)")
                let report = await client.shutdown()
                let name = signal == SIGHUP ? "SIGHUP" : "SIGTERM"
                let message =
                    report.isComplete
                    ? "prefactor: \(name): \(report.deliveredCount) operations delivered; nothing left in the queue."
                    : "prefactor: \(name): \(report.undelivered.count) operations were not delivered and "
                        + "\(report.failed.count) failed (see \(logPath))."
                printError(message)
                logger.log(level: report.isComplete ? .info : .error, "\(message)")
                for operation in report.undelivered { logger.error("Not delivered", metadata: ["operation": "\(operation)"]) }
                for failure in report.failed { logger.error("Failed", metadata: ["operation": "\(failure)"]) }
                if let kept = queueChoice?.settle() { printError(kept) }
                Foundation.exit(128 + signal)
            case .drained, .terminalClosed, .abandoned:
                break
            }
            let report = await client.shutdown()
            let summary = SessionSummary(exit: exit, report: report, logPath: logPath)
            logger.notice("\(summary.text)")
            return (summary.text, summary.status)
        }
        _ = await client.shutdown()
        await embedded?.stop()
        let kept = queueChoice?.settle()
        if let kept { logger.notice("\(kept)") }
        if render {
            print(outcome)
            if let kept { printError(kept) }
        } else {
            print(kept.map { outcome + "\n" + $0 } ?? outcome)
            logger.info("\(outcome)")
        }
        if status != 0 { throw ExitCode(status) }
    }

    /// Other processes' queue files: the one given with `--queue FILE`, the picker with `--queue` alone, and take-overs
    /// delivered to this session's API.
    func queueFileControl(api: APIClient.Configuration, environment: [String: String], settings: TUISettings)
        -> QueueFileControl
    {
        QueueFileControl(
            directory: QueueFiles.defaultDirectory(environment), interval: .milliseconds(Int(settings.pollInterval * 1000)),
            initial: openQueue ? queueToOpen : nil, showPicker: openQueue && queueToOpen == nil
        ) { path in
            await Self.takeOver(path, api: api)
        }
    }

    /// Delivers a dead process's queue file with a client on it (as `prefactor queue deliver` does); one line says
    /// what happened.
    static func takeOver(_ path: String, api: APIClient.Configuration, timeout: Duration = .seconds(300)) async -> String {
        var configuration = PrefactorClient.Configuration(api: api)
        configuration.queueFile = path
        configuration.drainTimeout = timeout
        let client: PrefactorClient
        do { client = try PrefactorClient(configuration: configuration) } catch {
            return "Cannot take over \(path): \(describe(error))"
        }
        let report = await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await client.run() }
            let deadline = ContinuousClock.now + timeout
            while client.snapshot().queue.depth > 0, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(50))
            }
            let report = await client.shutdown()
            await group.waitForAll()
            return report
        }
        let left = (try? SQLiteTelemetryQueueStore.inspect(path: path).entries().count) ?? -1
        return "Took over \(path): \(report.deliveredCount) delivered, \(report.failed.count) failed; \(left) left in the file"
    }

    /// The line printed when the UI quits at once.
    static func leftBehind(operations: Int, openRuns: Int, signal: Int32) -> String {
        let how = signal == SIGINT ? "interrupted" : "stopped by signal \(signal)"
        var line = "prefactor: \(how) with \(operations) operations still queued (not delivered)"
        if openRuns > 0 { line += " and \(openRuns) runs left open (they stay active on the API)" }
        return line + "."
    }

    private func renderFrame(
        client: PrefactorClient, options: TUIOptions, demo: DemoAgent?, watcher: RemoteWatcher?, probe: APIClient?
    ) async -> String {
        let check = await probe?.check()
        let (snapshot, events) = client.subscribe()
        var model = AppModel(
            apiURL: options.apiURL, readonly: options.readonly, noConfirm: options.noConfirm, demo: demo == nil ? nil : .running)
        model.width = width
        model.height = height
        model.queueFile = client.queueFilePath
        model.apply(options)
        model.load(snapshot)
        if let check { model.applyCheck(check) }
        let wait = after ?? (demo == nil ? 0.5 : 4)
        // The remote view: polls for the whole wait, then one more, so the frame shows the latest state.
        let remote: [RemoteEvent] = await {
            guard let watcher else { return [] }
            let deadline = ContinuousClock.now + .milliseconds(Int(wait * 1000))
            var events: [RemoteEvent] = []
            repeat {
                do { events.append(.changes(try await watcher.poll())) } catch {
                    if let error = error as? PrefactorHTTPError {
                        events.append(.checked(APICheckResult(error: error, endpoint: watcher.endpoint)))
                    }
                    events.append(.failed(message: ErrorText.oneLine(error), failures: 1, retryAt: Date()))
                }
                if ContinuousClock.now >= deadline { break }
                try? await Task.sleep(for: min(watcher.options.interval, deadline - ContinuousClock.now))
            } while true
            return events
        }()
        if let watcher {
            model.remote = RemoteView(
                ageOut: watcher.options.ageOut.seconds, maxFinished: watcher.options.maxFinished,
                interval: watcher.options.interval.seconds)
        }
        let collected = await withTaskGroup(of: [ClientEvent]?.self) { group in
            group.addTask {
                var all: [ClientEvent] = []
                for await event in events {
                    all.append(event)
                    if Task.isCancelled { break }
                }
                return all
            }
            group.addTask {
                // With a watcher, its polling above already took the wait.
                if watcher == nil { try? await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
                return nil
            }
            _ = await group.next()
            group.cancelAll()
            return []
        }
        _ = collected
        // The stream cannot be read after cancellation mid-way; take the client's state directly.
        let checked = model.apiCheck
        model.load(client.snapshot())
        model.apiCheck = checked
        model.now = Date()
        for event in remote { model.apply(event) }
        model.tick(Date())
        model.treeRowsVisible = Geometry(for: model).bodyHeight
        model.refreshRows()
        let frame = Layout(model: model, theme: options.theme).render()
        return ansi ? frame.ansiText() : frame.plainText()
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? PrefactorHTTPError { return error.message }
        if let error = error as? PrefactorError { return error.message }
        return "\(error)"
    }
}

/// `prefactor demo`: the demo agent without the UI.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the demo agent headless against an API (e.g. `prefactor serve`).",
        discussion: """
            Stops after --duration seconds, or on Ctrl-C or SIGTERM: the runs in progress cancel their open spans and finish as cancelled, then the queue is delivered and a summary printed. A run an operator terminates stops at once. Exits 1 when anything was left undelivered or failed, and at once, before running anything, when the API rejects the token.

            The queue is kept in a file of this process under $XDG_STATE_HOME/prefactor/queues (--queue-file chooses another, --memory-queue keeps it in memory), so a crash loses nothing that was queued. On a clean exit with nothing left in it, the process's own file is removed; a file with undelivered or failed operations is kept, and the summary names it with `prefactor queue deliver FILE` and `prefactor queue show FILE`.
            """)

    @OptionGroup var api: APIOptions

    @OptionGroup var queueFileOptions: QueueFileOptions

    @Option(help: "Seconds to run (default: until Ctrl-C).")
    var duration: Double?

    @Option(help: "Runs in flight at once.")
    var concurrency = 3

    @Option(help: "Speed factor (2 runs twice as fast).")
    var speed = 1.0

    @Option(help: "Seconds to keep delivering the queue once the runs stopped; what is left is kept in the queue file.")
    var drainTimeout: Double = 10

    func validate() throws {
        if let duration, duration <= 0 { throw ValidationError("--duration must be positive") }
        guard drainTimeout >= 0 else { throw ValidationError("--drain-timeout must be 0 or more") }
        guard (1...50).contains(concurrency) else { throw ValidationError("--concurrency must be from 1 to 50") }
        guard speed > 0, speed <= 100 else { throw ValidationError("--speed must be greater than 0 and at most 100") }
    }

    func run() async throws {
        var configuration = PrefactorClient.Configuration(
            api: try api.clientConfiguration(), drainTimeout: .milliseconds(Int64(drainTimeout * 1000)),
            schemaRegistry: DemoAgent.schemaRegistry)
        try await Self.checkToken(configuration.api)
        let queueChoice = queueFileOptions.apply(to: &configuration, command: "demo")
        let client: PrefactorClient
        do { client = try PrefactorClient(configuration: configuration) } catch {
            printError("error: \(TUICommand.describe(error))")
            throw ExitCode.failure
        }
        let agent = DemoAgent(client: client, concurrency: concurrency, speed: speed)
        printFlushed("demo: running against \(configuration.api.apiURL)" + (duration.map { " for \($0) s" } ?? "; Ctrl-C stops"))
        printFlushed("demo: queue " + (queueChoice.map { "file \($0.path)" } ?? "in memory (--memory-queue)"))
        let interrupted = SignalWaiter(signals: [SIGINT, SIGTERM])
        let report = await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await client.run() }
            group.addTask { await agent.run() }
            group.addTask {
                for await notice in agent.notices { printFlushed("demo: " + notice) }
            }
            group.addTask {
                let events = client.events()
                for await event in events {
                    if case .instanceFinished(let instance) = event {
                        printFlushed("demo: run \(instance.id) finished \(instance.phase.rawValue)")
                    }
                }
            }
            if let duration {
                await interrupted.wait(timeout: .milliseconds(Int(duration * 1000)))
            } else {
                await interrupted.wait(timeout: nil)
            }
            printFlushed("demo: stopping: cancelling the runs in progress…")
            await agent.stopAndWait()
            printFlushed("demo: delivering the queue…")
            let report = await client.shutdown()
            group.cancelAll()
            return report
        }
        let summary =
            "demo: \(report.deliveredCount) operations delivered, \(report.undelivered.count) undelivered, \(report.failed.count) failed"
        printFlushed(summary)
        if let kept = queueChoice?.settle() { printFlushed("demo: " + kept) }
        if !report.isComplete {
            printError("error: the demo did not deliver everything it made (see the counts above)")
            throw ExitCode.failure
        }
    }

    /// Asks the API whether it takes the token before anything runs, so a wrong token stops the demo at once
    /// instead of queueing work no request can deliver. Other failures (the API is down) are left to the queue.
    static func checkToken(_ api: APIClient.Configuration) async throws {
        var configuration = api
        configuration.retryPolicy.maxRetries = 0
        let client = try APIClient(configuration: configuration)
        var rejection: PrefactorHTTPError?
        do {
            _ = try await client.ping()
        } catch  where error.code == .auth {
            rejection = error
        } catch {}
        try? await client.shutdown()
        if let rejection {
            printError("error: \(api.apiURL) rejected the token (\(rejection.description)); nothing was run")
            throw ExitCode.failure
        }
    }
}

/// What a UI session printed when it ended, and its exit status: 0 only when everything was delivered.
struct SessionSummary: Equatable {
    var text: String
    var status: Int32

    init(exit: TUIExit, report: DeliveryReport, logPath: String) {
        switch exit {
        case .abandoned(let left) where left > 0:
            text = "prefactor: quit at once with \(left) operations still queued (not delivered)."
            status = 1
        default:
            if report.isComplete {
                text = "prefactor: \(report.deliveredCount) operations delivered; nothing left in the queue."
                status = 0
            } else {
                text =
                    "prefactor: \(report.undelivered.count) operations were not delivered and \(report.failed.count) failed (see \(logPath))."
                status = 1
            }
        }
    }
}

/// Waits for a signal (or a timeout) without the default handler killing the process.
final class SignalWaiter: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation

    init(signals: [Int32]) {
        (stream, continuation) = AsyncStream.makeStream()
        var sources: [any DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            let continuation = self.continuation
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    /// The next signal received; `nil` when the calling task is cancelled first.
    func next() async -> Int32? {
        var iterator = stream.makeAsyncIterator()
        return await iterator.next()
    }

    func wait(timeout: Duration?) async {
        await withTaskGroup(of: Void.self) { group in
            let stream = self.stream
            group.addTask {
                var iterator = stream.makeAsyncIterator()
                _ = await iterator.next()
            }
            if let timeout { group.addTask { try? await Task.sleep(for: timeout) } }
            _ = await group.next()
            group.cancelAll()
        }
    }
}
