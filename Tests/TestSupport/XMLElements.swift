// MARK: - XML documents as a flat list of elements, for tests of the SVG and HTML the project writes
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The elements of an XML document, with their attributes and text, in document order.
public final class XMLElements: NSObject, XMLParserDelegate {
    public struct Element { public var name: String; public var attributes: [String: String]; public var text: String; public var depth: Int }
    public private(set) var elements: [Element] = []
    private var open: [Int] = []
    public private(set) var error: Error?

    /// Parses `text`; records the parser's error if it is not well-formed XML.
    public init(_ text: String) {
        super.init()
        let parser = XMLParser(data: Data(text.utf8))
        parser.delegate = self
        if !parser.parse() { error = parser.parserError ?? CocoaError(.coderReadCorrupt) }
    }

    public func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        open.append(elements.count)
        elements.append(Element(name: name, attributes: attributes, text: "", depth: open.count))
    }
    public func parser(_ parser: XMLParser, foundCharacters string: String) {
        if let i = open.last { elements[i].text += string }
    }
    public func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        open.removeLast()
    }

    public func all(_ name: String, where attribute: String? = nil, is value: String? = nil) -> [Element] {
        elements.filter { $0.name == name && (attribute == nil || $0.attributes[attribute!] == value) }
    }
    /// The elements of a <g> (by index in `elements`) until it closes.
    public func inside(_ group: Element) -> [Element] {
        guard let start = elements.firstIndex(where: { $0.name == group.name && $0.attributes == group.attributes }) else { return [] }
        return Array(elements[(start + 1)...].prefix { $0.depth > group.depth })
    }
}

