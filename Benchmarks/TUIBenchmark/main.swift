import ArgumentParser
import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorTUI
import PrefactorWire

/// Benchmarks of the terminal UI (run a release build).
struct TUIBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefactor-tui-benchmark",
        abstract: "Benchmarks of PrefactorTUI (run a release build).",
        subcommands: [ModelBenchmark.self, WatchBenchmark.self],
        defaultSubcommand: ModelBenchmark.self)
}

/// The resident memory of this process, in bytes.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
        let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
    else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// The pure layer: events applied to the model per second, time to lay out one frame of a 100,000-span tree, memory
/// per span.
struct ModelBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Events applied per second, a 100,000-span frame, memory per span (the default).")

    /// Events of a realistic workload: instances with nested spans that are prepared, started and finished.
    static func events(spans count: Int, instances: Int) -> [ClientEvent] {
        let origin = Date(timeIntervalSince1970: 1_800_000_000)
        var events: [ClientEvent] = []
        events.reserveCapacity(count * 3 + instances)
        for index in 0..<instances {
            events.append(
                .instanceStarted(
                    InstanceSnapshot(id: "ai_\(index)", agentID: "agent", phase: .active, registeredAt: origin, startedAt: origin)
                ))
        }
        for index in 0..<count {
            let instance = "ai_\(index % instances)"
            let depth = index % 4
            let parent: String? = depth == 0 ? nil : "s\(index - 1)"
            var span = SpanSnapshot(
                id: "s\(index)", instanceID: instance, parentID: parent,
                schemaName: ["llm:chat", "tool:call", "retrieval:search", "agent:step"][depth],
                phase: .prepared, payload: ["model": "gpt-4o", "prompt": "Summarise the ticket", "index": .int(Int64(index))],
                preparedAt: origin.addingTimeInterval(Double(index) * 0.001))
            events.append(.spanPrepared(span))
            span.phase = .active
            span.startedAt = span.preparedAt
            events.append(.spanStarted(span))
            span.phase = index % 17 == 0 ? .failed : .complete
            span.finishedAt = span.preparedAt.addingTimeInterval(0.5)
            span.resultPayload = ["response": "ok"]
            events.append(.spanFinished(span))
        }
        return events
    }

    func run() {
        let spanCount = 100_000
        let workload = Self.events(spans: spanCount, instances: 200)
        let clock = ContinuousClock()

        // (1) Events applied per second (the model's data; rows are recomputed once per frame, not per event).
        var model = AppModel(apiURL: "http://127.0.0.1:4000", now: Date(timeIntervalSince1970: 1_800_000_100))
        let before = residentBytes()
        let start = clock.now
        for event in workload { model.apply(event) }
        let applyTime = clock.now - start
        let after = residentBytes()
        print("tui benchmark: \(workload.count) events (\(spanCount) spans in 200 runs)")
        print(String(format: "  events applied      %.0f events/s", Double(workload.count) / applyTime.seconds))
        print(
            String(
                format: "  memory per span     %.0f bytes (resident growth %.1f MB over %d spans)",
                Double(after - before) / Double(spanCount), Double(after - before) / 1_048_576, spanCount))

        // (2) Time to build one frame at 200x60 of the 100,000-span tree.
        model.width = 200
        model.height = 60
        model.treeRowsVisible = Geometry(width: 200, height: 60, queueFocused: false).bodyHeight
        let rowsStart = clock.now
        model.refreshRows()
        let rowsTime = clock.now - rowsStart
        let withRows = residentBytes()
        print(
            String(
                format: "  memory per span     %.0f bytes with the visible-row index",
                Double(withRows - before) / Double(spanCount)))
        let theme = Theme()
        var frames: [Duration] = []
        for offset in stride(from: 0, to: 20_000, by: 1_000) {
            _ = model.handle(.pageDown)
            _ = offset
            let frameStart = clock.now
            let frame = Layout(model: model, theme: theme).render()
            frames.append(clock.now - frameStart)
            precondition(frame.width == 200)
        }
        frames.sort()
        print(
            String(
                format: "  frame 200x60        median %.2f ms, worst %.2f ms (%d rows in the tree)",
                frames[frames.count / 2].seconds * 1000, frames.last!.seconds * 1000, model.rows.count))
        print(
            String(
                format: "  rows built          %.1f ms from scratch (at start, or after a fold or a filter)",
                rowsTime.seconds * 1000))

        // (3) A span added to a busy tree: its row is inserted where it goes, not the rows rebuilt.
        var updates: [Duration] = []
        let rebuilds = model.rowRebuilds
        let origin = Date(timeIntervalSince1970: 1_800_000_200)
        for index in 0..<200 {
            let parent = "s\((index * 997) % spanCount)"
            guard let instanceID = model.tree.spans[parent]?.span.instanceID else { continue }
            let span = SpanSnapshot(
                id: "added-\(index)", instanceID: instanceID, parentID: parent, schemaName: "tool:call", phase: .active,
                payload: ["tool": "search"], preparedAt: origin.addingTimeInterval(Double(index)),
                startedAt: origin.addingTimeInterval(Double(index)))
            model.apply(.spanStarted(span))
            let updateStart = clock.now
            model.refreshRows()
            updates.append(clock.now - updateStart)
        }
        updates.sort()
        print(
            String(
                format: "  rows updated        median %.3f ms, worst %.3f ms after a span is added (%d rebuilds in %d updates)",
                updates[updates.count / 2].seconds * 1000, updates.last!.seconds * 1000, model.rowRebuilds - rebuilds,
                updates.count))
    }
}

/// Runs the command; called from an async function so that the async `main()` of `AsyncParsableCommand` is chosen.
func runTUIBenchmark() async {
    await TUIBenchmark.main()
}

await runTUIBenchmark()
