import Foundation
import Testing

@testable import PrefactorCore

/// The bounded per-subscriber buffers of the event stream and the notices of what a slow reader missed.
@Suite struct EventHubTests {
    /// Emits `count` distinct events in batches to a subscriber that reads nothing until the end.
    func unreadSubscriber(events count: Int, batch: Int, buffer: Int) async -> [ClientEvent] {
        let hub = EventHub(bufferSize: buffer)
        let stream = hub.subscribe()
        var next = 0
        while next < count {
            let size = min(batch, count - next)
            hub.emit((next..<next + size).map { .healthChanged($0 % 2 == 0 ? .ok : .retrying) })
            next += size
        }
        hub.finishAll()
        var received: [ClientEvent] = []
        for await event in stream { received.append(event) }
        return received
    }

    @Test(arguments: [(100, 1), (100, 7), (1_000, 3), (40, 40), (17, 1)])
    func theNewestNoticeCountsWhatWasLost(count: Int, batch: Int) async {
        let received = await unreadSubscriber(events: count, batch: batch, buffer: 16)
        let notices = received.compactMap { event -> Int? in
            if case .eventsDropped(let missed) = event { return missed }
            return nil
        }
        let kept = received.count - notices.count
        let newest = notices.last ?? 0
        #expect(received.count <= 16)
        #expect(notices == notices.sorted(), "counts only grow")
        // Every lost event is counted, except the one the newest notice itself may have pushed out.
        #expect(kept + newest <= count, "newest notice \(newest), kept \(kept), of \(count)")
        #expect(kept + newest >= count - 1, "newest notice \(newest), kept \(kept), of \(count)")
    }

    @Test func aReaderThatKeepsUpIsNeverToldItMissedAnything() async {
        let received = await unreadSubscriber(events: 16, batch: 4, buffer: 16)
        #expect(received.count == 16)
        #expect(!received.contains { if case .eventsDropped = $0 { true } else { false } })
    }
}
