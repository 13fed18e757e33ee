// MARK: - A small SVG/XML tree and its text
//
// Pictures are built as a tree of elements and written out in one pass, so
// every attribute and text is escaped in one place and the output is
// deterministic (attributes in the order given, fixed indentation).

/// One XML element: attributes in order, then either text or children.
public struct SVGNode: Sendable {
    public var name: String
    public var attributes: [(String, String)]
    public var children: [SVGNode]
    public var text: String?

    public init(_ name: String, _ attributes: [(String, String)] = [], text: String? = nil,
                children: [SVGNode] = []) {
        self.name = name; self.attributes = attributes; self.text = text; self.children = children
    }

    /// The element as XML, each child on its own line indented by two spaces per level.
    public func render(indent: Int = 0) -> String {
        var out = ""
        write(to: &out, indent: indent)
        return out
    }

    private func write(to out: inout String, indent: Int) {
        out += String(repeating: " ", count: indent * 2) + "<" + name
        for (key, value) in attributes { out += " \(key)=\"\(xmlEscaped(value))\"" }
        if let text {
            out += ">" + xmlEscaped(text) + "</\(name)>\n"
        } else if children.isEmpty {
            out += "/>\n"
        } else {
            out += ">\n"
            for child in children { child.write(to: &out, indent: indent + 1) }
            out += String(repeating: " ", count: indent * 2) + "</\(name)>\n"
        }
    }
}

/// `text` safe inside XML/HTML text and quoted attributes: markup characters as entities and
/// characters XML 1.0 forbids (controls other than tab and line breaks) as U+FFFD, so a name
/// from a plugin or a file can never break the document.
public func xmlEscaped(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
        default:
            let v = scalar.value
            if v < 0x20 || (0x7F...0x9F).contains(v) || v == 0xFFFE || v == 0xFFFF {
                out += "\u{FFFD}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out
}
