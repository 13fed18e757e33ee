// MARK: - plot --png: SVG to PNG through rsvg-convert (librsvg), when it is installed
//
// The project draws SVG itself; rasterising text and curves well is a job for a
// maintained library, so PNGs come from librsvg's converter (Debian: librsvg2-bin)
// when it is on PATH, and the command says so plainly when it is not.
#if canImport(Glibc)
import Glibc
#endif
import MAMLHost

/// The converter on PATH, or nil.
func findOnPath(_ program: String) -> String? {
    let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") where !directory.isEmpty {
        let candidate = "\(directory)/\(program)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}

/// Writes FILE.png beside each FILE.svg (to a temporary name, renamed when complete).
func convertToPNG(_ svgs: [String]) throws {
    guard let converter = findOnPath("rsvg-convert") else {
        throw CLIError("PNG not written: rsvg-convert is not installed (sudo apt-get install -y librsvg2-bin); "
                       + "the SVG files above were written")
    }
    for svg in svgs {
        let png = String(svg.dropLast(4)) + ".png"
        let (directory, name) = (String(png[..<(png.lastIndex(of: "/") ?? png.startIndex)]), baseName(png))
        let temporary = (directory.isEmpty ? "." : directory) + "/.\(name).tmp-\(getpid())"
        let result: ChildResult
        do { result = try runChild(converter, ["--format", "png", "--background-color", "white", "-o", temporary, svg], timeout: 120) }
        catch { throw CLIError("\(png): cannot run \(converter): \(error)") }
        guard result.succeeded else {
            unlink(temporary)
            throw CLIError("\(png): \(converter) failed (\(result.termination)): \(result.stderr)")
        }
        guard rename(temporary, png) == 0 else {
            unlink(temporary)
            throw CLIError("\(png): cannot rename into place: \(String(cString: strerror(errno)))")
        }
        say("wrote \(png)")
    }
}
