import Foundation
import PrefactorWire

/// What the server uses from a registered schema version: span type titles and templates, quality schema names.
struct SchemaInfo: Sendable {
    var spanTitles: [String: String] = [:]
    var spanTemplates: [String: String] = [:]
    var qualityNames: Set<String> = []
    var qualityTemplates: [String: String] = [:]

    init() {}

    /// Reads the parts of an `agent_schema_version` body the server needs, reporting malformed entries.
    init(body: [String: JSONValue], errors: inout [String: [String]]) {
        let field = "agent_schema_version"
        if let types = body["span_type_schemas"], !types.isNull {
            if let entries = types.arrayValue {
                for (index, entry) in entries.enumerated() {
                    guard let name = entry["name"]?.stringValue, !name.isEmpty else {
                        errors["\(field).span_type_schemas[\(index)].name", default: []].append("is required")
                        continue
                    }
                    if let paramsSchema = entry["params_schema"], paramsSchema.objectValue == nil {
                        errors["\(field).span_type_schemas[\(index)].params_schema", default: []]
                            .append("must be an object")
                    }
                    spanTitles[name] = entry["title"]?.stringValue ?? name
                    if let template = entry["template"]?.stringValue { spanTemplates[name] = template }
                }
            } else {
                errors["\(field).span_type_schemas", default: []].append("must be an array")
            }
        }
        if let quality = body["quality_schemas"], !quality.isNull {
            if let entries = quality.arrayValue {
                for (index, entry) in entries.enumerated() {
                    guard let name = entry["name"]?.stringValue, !name.isEmpty else {
                        errors["\(field).quality_schemas[\(index)].name", default: []].append("is required")
                        continue
                    }
                    qualityNames.insert(name)
                    if let template = entry["template"]?.stringValue { qualityTemplates[name] = template }
                }
            } else {
                errors["\(field).quality_schemas", default: []].append("must be an array")
            }
        }
        for mapKey in ["span_schemas", "span_result_schemas"] {
            if let map = body[mapKey], !map.isNull, map.objectValue == nil {
                errors["\(field).\(mapKey)", default: []].append("must be an object")
            }
        }
    }
}

/// Minimal template rendering (spec §7.4): `{{ path }}` and `{{ a.b }}` substitution; missing values render empty.
enum SummaryTemplate {
    static func render(_ template: String, context: [String: JSONValue]) -> String {
        var output = ""
        var rest = Substring(template)
        while let open = rest.range(of: "{{") {
            output += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                output += rest[open.lowerBound...]
                return output
            }
            let path = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            var value: JSONValue? = .object(context)
            for component in path.split(separator: ".") {
                value = value?[String(component)]
            }
            switch value {
            case .string(let text)?: output += text
            case .null?, nil: break
            case let other?: output += other.description
            }
            rest = rest[close.upperBound...]
        }
        output += rest
        return output
    }
}
