// MARK: - Signatures of plugin-declared operations ("maml.ops/1")
//
// A signature is "RET(ARG,ARG,...)" over a fixed alphabet (docs/abi.md, section 8):
//
//   signature = sp type sp "(" sp [ type sp { "," sp type sp } ] ")" sp
//   type      = "void" | "i32" | "i64" | "u64" | "f32" | "f64" | "ptr" | "str"
//   sp        = { " " }                 (ASCII spaces only, only between tokens)
//
// Names are lower case and exact; "void" is a result type only ("u64()" takes no
// argument, "u64(void)" is refused); at most `OpSignature.maxParameters` arguments.
// The instance (maml_model *) is the real first parameter and is never written.

/// One type of the signature alphabet.
public enum OpType: String, CaseIterable, Sendable {
    case void, i32, i64, u64, f32, f64, ptr, str

    /// "void, i32, i64, u64, f32, f64, ptr or str", for messages.
    static let alphabet: String = {
        let names = allCases.map(\.rawValue)
        return names.dropLast().joined(separator: ", ") + " or " + names.last!
    }()
}

/// A parsed signature: what an op returns and takes (after the instance).
public struct OpSignature: Hashable, Sendable, CustomStringConvertible {
    public var result: OpType
    public var parameters: [OpType]

    /// More arguments than this is a corrupt or silly table.
    public static let maxParameters = 16

    public init(result: OpType, parameters: [OpType]) {
        self.result = result; self.parameters = parameters
    }

    /// The canonical spelling, "u64(u64,f32)".
    public var description: String {
        "\(result.rawValue)(\(parameters.map(\.rawValue).joined(separator: ",")))"
    }

    /// Parses `text` strictly (see the grammar above). Errors quote the signature and
    /// name the offending token and its position (1-based character).
    public init(parsing text: String) throws(HostError) {
        let tokens = try tokenize(text)
        var index = 0
        func fail(_ why: String) -> HostError { HostError("signature \(text.debugDescription): \(why)") }
        func next() -> SignatureToken? {
            defer { index += 1 }
            return index < tokens.count ? tokens[index] : nil
        }
        func type(_ token: SignatureToken?, _ role: String) throws(HostError) -> OpType {
            guard let token else { throw fail("ends where \(role) was expected") }
            guard token.isName else { throw fail("expected \(role) at \(token.position), found '\(token.text)'") }
            guard let type = OpType(rawValue: token.text) else {
                throw fail("unknown type '\(token.text)' at \(token.position) (expected \(OpType.alphabet))")
            }
            return type
        }

        let result = try type(next(), "the result type")
        guard let open = next() else { throw fail("missing '(' after the result type") }
        guard open.text == "(" else { throw fail("expected '(' at \(open.position), found '\(open.text)'") }
        var parameters: [OpType] = []
        if index < tokens.count, tokens[index].text == ")" {
            index += 1
        } else {
            while true {
                let parameter = try type(next(), "an argument type")
                if parameter == .void {
                    throw fail("'void' at \(tokens[index - 1].position) is not an argument type (write \"\(result.rawValue)()\" for no arguments)")
                }
                parameters.append(parameter)
                guard let separator = next() else { throw fail("missing ')'") }
                if separator.text == ")" { break }
                guard separator.text == "," else {
                    throw fail("expected ',' or ')' at \(separator.position), found '\(separator.text)'")
                }
            }
        }
        if let extra = next() { throw fail("unexpected '\(extra.text)' at \(extra.position) after ')'") }
        guard parameters.count <= Self.maxParameters else {
            throw fail("\(parameters.count) arguments, more than the \(Self.maxParameters) allowed")
        }
        self.init(result: result, parameters: parameters)
    }
}

// MARK: - Tokens

private struct SignatureToken {
    var text: String
    /// 1-based character position in the signature.
    var position: Int
    var isName: Bool
}

/// Splits into names ([A-Za-z0-9_]+) and the punctuation ( ) , ; skips spaces; refuses anything else.
private func tokenize(_ text: String) throws(HostError) -> [SignatureToken] {
    guard !text.isEmpty else { throw HostError("signature is empty (expected RET(ARG,...), e.g. \"u64(u64)\")") }
    var tokens: [SignatureToken] = []
    var name = "", nameStart = 0
    func flush() {
        if !name.isEmpty { tokens.append(SignatureToken(text: name, position: nameStart, isName: true)) }
        name = ""
    }
    for (offset, character) in text.enumerated() {
        let position = offset + 1
        switch character {
        case "a"..."z", "A"..."Z", "0"..."9", "_":
            if name.isEmpty { nameStart = position }
            name.append(character)
        case " ":
            flush()
        case "(", ")", ",":
            flush()
            tokens.append(SignatureToken(text: String(character), position: position, isName: false))
        default:
            let shown = character.isASCII && !(character.asciiValue! < 0x20 || character == "\u{7f}")
                ? "'\(character)'" : "U+" + String(character.unicodeScalars.first!.value, radix: 16, uppercase: true)
            throw HostError("signature \(text.debugDescription): character \(shown) at \(position) is not allowed (only type names, '(', ',', ')' and spaces)")
        }
    }
    flush()
    return tokens
}
