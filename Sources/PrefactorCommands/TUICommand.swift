import ArgumentParser
@preconcurrency import Dispatch
import Foundation
import Logging
import PrefactorCore
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
            With no API given (no --api-url and no $PREFACTOR_API_URL) it starts an embedded local API server in
            memory with a demo agent, so live runs appear at once. With --api-url and --token (or the environment
            variables) it shows what this process's client does against that API; --demo adds the demo agent, and
            --watch adds the runs of every other process on that API (polled every --poll-interval seconds; runs
            finished more than --age-out minutes ago leave the view). The embedded server is watched by default.

            Keys: arrows or j/k move, h/l fold, n new run, a add span, s start, f finish, x fail, c cancel,
            T terminate, / filter, e errors only, F follow, p pause the demo, W poll interval when watching,
            ? help, q quit (drains the queue).
            Ctrl-C quits at once (exit status 130). SIGTERM and SIGHUP deliver the queue first, for at most 30 s
            as q does, then exit with 143 and 129; every exit says on standard error and in the log what it left
            undelivered.

            --render prints one frame as text without a terminal (for docs and tests).
            Logs go to --log-file, never to the screen. NO_COLOR turns colours off.
            """)

    @Option(name: .customLong("api-url"), help: "The API origin (default: $PREFACTOR_API_URL, else an embedded server).")
    var apiURL: String?

    @Option(help: "The API token (default: $PREFACTOR_API_TOKEN); shown to every user by `ps`, unlike --token-file.")
    var token: String?

    @Option(name: .customLong("token-file"), help: "A file whose first line is the API token.")
    var tokenFile: String?

    @Flag(help: "Run the demo agent (on by default with the embedded server).")
    var demo = false

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

    @Option(help: "Seconds between polls of the API when watching.")
    var pollInterval = 1.0

    @Option(help: "Minutes after which finished runs of other processes leave the view.")
    var ageOut = 15.0

    @Option(help: "The most finished runs of other processes kept in view.")
    var maxFinished = 200

    func validate() throws {
        guard (20...1000).contains(width), (5...500).contains(height) else {
            throw ValidationError("--width must be 20-1000 and --height 5-500")
        }
        if let after, !(0...3600).contains(after) { throw ValidationError("--after must be from 0 to 3600 seconds") }
        if demo && noDemo { throw ValidationError("--demo and --no-demo cannot be used together") }
        guard demoSpeed > 0, demoSpeed <= 100 else { throw ValidationError("--demo-speed must be from 0 to 100") }
        if watch && noWatch { throw ValidationError("--watch and --no-watch cannot be used together") }
        guard (0.1...3600).contains(pollInterval) else { throw ValidationError("--poll-interval must be from 0.1 to 3600 seconds") }
        guard ageOut > 0, ageOut <= 60 * 24 * 365 else { throw ValidationError("--age-out must be a positive number of minutes") }
        guard (1...100_000).contains(maxFinished) else { throw ValidationError("--max-finished must be from 1 to 100000") }
    }

    /// The remote watcher, when watching.
    func makeWatcher(api: APIClient.Configuration, embedded: Bool) throws -> RemoteWatcher? {
        guard watch || (embedded && !noWatch) else { return nil }
        let options = WatchOptions(
            interval: .milliseconds(Int(pollInterval * 1000)), ageOut: .seconds(Int(ageOut * 60)), maxFinished: maxFinished)
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
        let theme = Theme.fromEnvironment(environment, forceASCII: ascii, forceMonochrome: noColor)

        // A terminal first (unless rendering), so a missing one fails before anything starts.
        var backend: CursesBackend?
        if !render {
            do {
                backend = try CursesBackend.start(environment: environment)
            } catch {
                printError("error: the terminal UI needs a terminal: \(error).")
                printError("  Use `prefactor tui --render` for a text frame, `prefactor serve` for the API, or `prefactor demo` for a headless demo.")
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
        } catch {
            backend?.stop()
            printError("error: \(Self.describe(error))")
            throw ExitCode.failure
        }
        let runDemo = (wantsEmbedded && !noDemo) || demo
        var configuration = PrefactorClient.Configuration(api: clientConfiguration, schemaRegistry: DemoAgent.schemaRegistry)
        configuration.drainTimeout = .seconds(30)
        let client = try PrefactorClient(configuration: configuration, logger: logger)
        let agent = runDemo ? DemoAgent(client: client, speed: demoSpeed) : nil
        let options = TUIOptions(apiURL: clientConfiguration.apiURL, readonly: readonly, noConfirm: noConfirm, theme: theme)
        let watcher: RemoteWatcher?
        do { watcher = try makeWatcher(api: clientConfiguration, embedded: wantsEmbedded) } catch {
            backend?.stop()
            printError("error: \(Self.describe(error))")
            throw ExitCode.failure
        }

        // SIGTERM and SIGHUP (replacing the backend's handler, which only restores the terminal and exits): restore the
        // terminal, drain the queue for at most the drain timeout as `q` does, and say what is left, on standard error
        // and in the log, before exiting with 128 + the signal.
        let termination = backend == nil ? nil : SignalWaiter(signals: [SIGTERM, SIGHUP])
        let drainTimeout = configuration.drainTimeout
        let log = logger
        let outcome: String = await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await client.run() }
            if let agent { group.addTask { await agent.run() } }
            if let termination, let screen = backend {
                group.addTask {
                    guard let signal = await termination.next() else { return }
                    screen.stop()
                    let name = signal == SIGHUP ? "SIGHUP" : "SIGTERM"
                    printError("prefactor: \(name): delivering the queue (at most \(drainTimeout))…")
                    let report = await client.shutdown()
                    let message =
                        report.isComplete
                        ? "prefactor: \(name): \(report.deliveredCount) operations delivered; nothing left in the queue."
                        : "prefactor: \(name): \(report.undelivered.count) operations were not delivered and "
                            + "\(report.failed.count) failed (see \(logPath))."
                    printError(message)
                    log.log(level: report.isComplete ? .info : .error, "\(message)")
                    for operation in report.undelivered {
                        log.error("Not delivered", metadata: ["operation": "\(operation)"])
                    }
                    for failure in report.failed {
                        log.error("Failed", metadata: ["operation": "\(failure)"])
                    }
                    Foundation.exit(128 + signal)
                }
            }
            defer { group.cancelAll() }
            if render {
                return await renderFrame(client: client, options: options, demo: agent, watcher: watcher)
            }
            let controller = TUIController(
                client: client, backend: backend!, options: options, demo: agent, watcher: watcher, logger: logger)
            let exit = await controller.run()
            backend?.stop()
            if case .interrupted(let left) = exit {
                // Ctrl-C, with the terminal restored: exit at once with the shell's status for SIGINT (128 + 2), as
                // SIGTERM (143) and SIGHUP (129) do. Nothing more is delivered.
                let message = "prefactor: interrupted with \(left) operations still queued (not delivered)."
                printError(message)
                logger.error("\(message)")
                Foundation.exit(130)
            }
            let report = await client.shutdown()
            switch exit {
            case .drained, .terminalClosed, .interrupted:
                return report.isComplete
                    ? "prefactor: \(report.deliveredCount) operations delivered; nothing left in the queue."
                    : "prefactor: \(report.undelivered.count) operations were not delivered and \(report.failed.count) failed (see \(logPath))."
            case .abandoned(let left):
                return "prefactor: quit at once with \(left) operations still queued (not delivered)."
            }
        }
        _ = await client.shutdown()
        await embedded?.stop()
        print(outcome)
        if !render { logger.info("\(outcome)") }
    }

    private func renderFrame(client: PrefactorClient, options: TUIOptions, demo: DemoAgent?, watcher: RemoteWatcher?) async -> String {
        let (snapshot, events) = client.subscribe()
        var model = AppModel(apiURL: options.apiURL, readonly: options.readonly, noConfirm: options.noConfirm, demo: demo == nil ? nil : .running)
        model.width = width
        model.height = height
        model.load(snapshot)
        let wait = after ?? (demo == nil ? 0.5 : 4)
        // The remote view: polls for the whole wait, then one more, so the frame shows the latest state.
        let remote: [RemoteEvent] = await {
            guard let watcher else { return [] }
            let deadline = ContinuousClock.now + .milliseconds(Int(wait * 1000))
            var events: [RemoteEvent] = []
            repeat {
                do { events.append(.changes(try await watcher.poll())) } catch {
                    events.append(.failed(message: "\(error)", failures: 1, retryAt: Date()))
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
        model.load(client.snapshot())
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
            Stops after --duration seconds, or on Ctrl-C; then drains the queue and reports. Exits 1 when anything
            was left undelivered or failed, and at once, before running anything, when the API rejects the token.
            """)

    @OptionGroup var api: APIOptions

    @Option(help: "Seconds to run (default: until Ctrl-C).")
    var duration: Double?

    @Option(help: "Runs in flight at once.")
    var concurrency = 3

    @Option(help: "Speed factor (2 runs twice as fast).")
    var speed = 1.0

    func validate() throws {
        if let duration, duration <= 0 { throw ValidationError("--duration must be positive") }
        guard (1...50).contains(concurrency) else { throw ValidationError("--concurrency must be from 1 to 50") }
        guard speed > 0, speed <= 100 else { throw ValidationError("--speed must be from 0 to 100") }
    }

    func run() async throws {
        let configuration = PrefactorClient.Configuration(api: try api.clientConfiguration(), schemaRegistry: DemoAgent.schemaRegistry)
        try await Self.checkToken(configuration.api)
        let client = try PrefactorClient(configuration: configuration)
        let agent = DemoAgent(client: client, concurrency: concurrency, speed: speed)
        printFlushed("demo: running against \(configuration.api.apiURL)" + (duration.map { " for \($0) s" } ?? "; Ctrl-C stops"))
        let interrupted = SignalWaiter(signals: [SIGINT, SIGTERM])
        let complete = await withTaskGroup(of: Void.self) { group -> Bool in
            group.addTask { try? await client.run() }
            group.addTask { await agent.run() }
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
            printFlushed("demo: stopping; delivering the queue…")
            let report = await client.shutdown()
            group.cancelAll()
            printFlushed("demo: \(report.deliveredCount) operations delivered, \(report.undelivered.count) undelivered, \(report.failed.count) failed")
            return report.isComplete
        }
        if !complete {
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
        } catch where error.code == .auth {
            rejection = error
        } catch {}
        try? await client.shutdown()
        if let rejection {
            printError("error: \(api.apiURL) rejected the token (\(rejection.description)); nothing was run")
            throw ExitCode.failure
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
