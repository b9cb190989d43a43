import NIOCore
import NIOEmbedded
import Testing

@testable import PrefactorServer

/// A connection's deadline keeps one timer across requests: a timer that fires before the deadline now in force arms
/// itself again for it, one that fires with no deadline in force does nothing, and a deadline that has passed expires.
/// (The event loop's time is moved by hand; deadlines are compared with the real clock, so "passed" ones are set in
/// the past and "pending" ones an hour ahead.)
@Suite struct DeadlineTests {
    final class Expiries {
        var count = 0
    }

    @Test func aTimerFiringBeforeTheDeadlineInForceArmsItselfAgainForIt() throws {
        let loop = EmbeddedEventLoop()
        let deadline = Deadline()
        let expiries = Expiries()
        let first = NIODeadline.now() + .hours(1)
        deadline.set(first)
        deadline.arm(on: loop) { expiries.count += 1 }
        // The request ends; the next one sets a later deadline while the first timer stays armed.
        deadline.clear()
        let second = first + .hours(1)
        deadline.set(second)
        #expect(deadline.isArmed)
        loop.advanceTime(to: first)
        #expect(expiries.count == 0, "the first timer found a later deadline in force")
        #expect(deadline.isArmed, "and armed itself for it")
        #expect(deadline.due == second)

        // That request is slow: its deadline (set in the past here) has passed when the timer fires.
        deadline.set(.now() - .seconds(1))
        loop.advanceTime(to: second)
        #expect(expiries.count == 1)
        #expect(!deadline.isArmed)
        #expect(deadline.due == nil)
    }

    @Test func aTimerFiringWithNoDeadlineInForceDoesNothingAndStaysUnarmed() throws {
        let loop = EmbeddedEventLoop()
        let deadline = Deadline()
        let expiries = Expiries()
        let due = NIODeadline.now() + .hours(1)
        deadline.set(due)
        deadline.arm(on: loop) { expiries.count += 1 }
        deadline.clear()
        loop.advanceTime(to: due)
        #expect(expiries.count == 0)
        #expect(!deadline.isArmed)

        // The next deadline arms a timer of its own.
        deadline.set(.now() - .seconds(1))
        deadline.arm(on: loop) { expiries.count += 1 }
        loop.run()
        #expect(expiries.count == 1)
    }

    @Test func cancellingClearsTheDeadlineAndTheTimer() throws {
        let loop = EmbeddedEventLoop()
        let deadline = Deadline()
        let expiries = Expiries()
        deadline.set(.now() - .seconds(1))
        deadline.arm(on: loop) { expiries.count += 1 }
        deadline.cancel()
        #expect(!deadline.isArmed)
        loop.run()
        #expect(expiries.count == 0)
    }
}
