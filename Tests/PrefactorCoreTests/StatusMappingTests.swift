import PrefactorCore
import PrefactorWire
import Testing

@Suite struct StatusMappingTests {
    @Test(arguments: FinishStatus.allCases)
    func aFinishStatusMeansTheSameEverywhere(status: FinishStatus) {
        let wire = StatusMapping.agentStatus(for: status)
        #expect(wire.rawValue == status.rawValue)
        #expect(StatusMapping.spanPhase(for: wire) == StatusMapping.spanPhase(for: status))
        #expect(StatusMapping.instancePhase(for: wire) == StatusMapping.instancePhase(for: status))
        #expect(StatusMapping.agentStatus(for: StatusMapping.spanPhase(for: status)) == wire)
        #expect(StatusMapping.agentStatus(for: StatusMapping.instancePhase(for: status)) == wire)
    }

    @Test func aRemotePendingSpanStaysPending() {
        let phase = StatusMapping.spanPhase(for: AgentStatus.pending)
        #expect(phase == .pending)
        #expect(DisplayStatus(phase) == .pending)
        #expect(StatusMapping.agentStatus(for: phase) == .pending)
        #expect(StatusMapping.agentStatus(for: SpanPhase.prepared) == nil, "the API never sees a prepared span")
    }

    @Test(arguments: AgentStatus.allCases)
    func everyWireStatusOfAnInstanceRoundTrips(status: AgentStatus) {
        #expect(StatusMapping.agentStatus(for: StatusMapping.instancePhase(for: status)) == status)
    }
}
