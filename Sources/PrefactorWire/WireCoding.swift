import Foundation

/// The JSON encoders and decoders the client and the server use for wire bodies.
///
/// Keys are written exactly as the models declare them (no key strategy), so payload keys are never rewritten.
public enum WireCoding {
    /// A decoder that reads timestamps in any form ``WireDate`` accepts.
    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = WireDate.parse(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "Invalid ISO 8601 timestamp: \(text)")
            }
            return date
        }
        return decoder
    }

    /// An encoder that writes timestamps in the given style.
    ///
    /// - Parameter style: `.python` for requests (as the official Python SDK sends them), `.zulu` for responses.
    /// - Returns: A configured encoder.
    public static func encoder(style: WireDate.Style) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(WireDate.format(date, style: style))
        }
        return encoder
    }

    /// An encoder with sorted keys, for stable text such as descriptions and golden files.
    public static var sortedEncoder: JSONEncoder {
        let encoder = encoder(style: .zulu)
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
