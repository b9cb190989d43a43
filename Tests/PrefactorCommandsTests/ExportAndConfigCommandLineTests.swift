import Foundation
import PrefactorHTTP
import PrefactorServerTesting
import PrefactorWire
import Testing

/// `prefactor export` and `prefactor config` as a user runs them.
@Suite("Export and config commands", .timeLimit(.minutes(2)))
struct ExportAndConfigCommandLineTests {
    @Test func exportWritesEverySpanOverSeveralPages() async throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("run-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        try await withTestServer { server in
            let api = try APIClient(configuration: .init(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .none))
            let instance = try await api.registerAgentInstance(
                RegisterAgentInstanceRequest(agentVersion: ["name": "export-cli"], agentSchemaVersion: [:]))
            var ids = Set<String>()
            for index in 0..<101 {
                let created = try await api.createSpan(
                    CreateSpanRequest(agentInstanceID: instance.id, schemaName: "agent:step", payload: ["n": .int(Int64(index))]))
                ids.insert(created.span.id)
            }
            try await api.shutdown()
            let environment = ["PREFACTOR_API_TOKEN": server.token]
            let toFile = try Executable.run(
                ["export", instance.id, "--api-url", server.baseURL, "--output", output], environment: environment)
            #expect(toFile.status == 0, "\(toFile.stderr)")
            #expect(toFile.stderr.contains("Exported run \(instance.id) with 101 span(s) to \(output)"))
            let data = try #require(FileManager.default.contents(atPath: output))
            let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let spans = try #require(object["spans"] as? [[String: Any]])
            #expect(Set(spans.compactMap { $0["id"] as? String }) == ids)
            #expect(object["span_count"] as? Int == 101)
            #expect((object["instance"] as? [String: Any])?["id"] as? String == instance.id)

            let toStdout = try Executable.run(["export", instance.id, "--api-url", server.baseURL], environment: environment)
            #expect(toStdout.status == 0)
            #expect(toStdout.stdout.hasPrefix("{"), "the JSON on standard output")
            #expect(toStdout.stdout.contains("\"span_count\" : 101"))

            let unknown = try Executable.run(["export", "no-such-run", "--api-url", server.baseURL], environment: environment)
            #expect(unknown.status == 1)
            #expect(unknown.stderr.contains("the API has no run no-such-run"), "\(unknown.stderr)")
            let rejected = try Executable.run(
                ["export", instance.id, "--api-url", server.baseURL, "--token", "wrong"], environment: [:])
            #expect(rejected.status == 1)
            #expect(rejected.stderr.contains("the token was rejected"), "\(rejected.stderr)")
        }
    }

    @Test func exportSaysWhenTheAPICannotBeReachedAndExplainsItself() throws {
        let unreachable = try Executable.run(
            ["export", "inst_1", "--api-url", "http://127.0.0.1:1", "--token", "t", "--timeout", "5"])
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("the API could not be reached"), "\(unreachable.stderr)")
        let help = try Executable.run(["export", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("RUN_ID"))
        #expect(help.stdout.contains("--output"))
        #expect(help.stdout.contains("prefactor.run-export.v1"))
    }

    @Test func configCheckNamesTheLineAndKeyOfEachProblem() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bad = directory + "/bad.yml"
        try Data("mouse: true\nkeys:\n  fial: x\ntheme:\n  colors:\n    good: teal\n".utf8).write(to: URL(fileURLWithPath: bad))
        let checked = try Executable.run(["config", "check", bad])
        #expect(checked.status == 1)
        #expect(
            checked.stderr.contains("\(bad):3:3: keys.fial: unknown action \"fial\"; did you mean fail?"), "\(checked.stderr)")
        #expect(checked.stderr.contains("\(bad):6:11: theme.colors.good: unknown colour \"teal\""))
        #expect(checked.stderr.contains("2 problems"))
        #expect(!checked.stderr.contains("Fatal error"))

        let good = directory + "/good.yml"
        let example = try Executable.run(["config", "example"])
        try Data(example.stdout.utf8).write(to: URL(fileURLWithPath: good))
        let fine = try Executable.run(["config", "check", good])
        #expect(fine.status == 0, "\(fine.stderr)")
        #expect(fine.stdout.contains("OK (default keys; 2 model prices; mouse on)"))

        // The UI refuses a bad file before it takes the terminal, with the same messages.
        let tui = try Executable.run(["tui", "--render", "--config", bad])
        #expect(tui.status == 64)
        #expect(tui.stderr.contains("keys.fial"))
        // The default file is read from $XDG_CONFIG_HOME.
        try FileManager.default.createDirectory(atPath: directory + "/prefactor", withIntermediateDirectories: true)
        try Data("keys:\n  quit: Q\n".utf8).write(to: URL(fileURLWithPath: directory + "/prefactor/config.yml"))
        let keys = try Executable.run(["config", "keys", directory + "/prefactor/config.yml"])
        #expect(keys.stdout.contains("quit            Q "))
        let defaultCheck = try Executable.run(["config", "check"], environment: ["XDG_CONFIG_HOME": directory])
        #expect(defaultCheck.stdout.contains("keys changed: quit"), "\(defaultCheck.stdout)\(defaultCheck.stderr)")
    }
}
