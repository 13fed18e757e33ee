// MARK: - Fixed number formatting, the same on every machine
//
// SVG coordinates and labels are written with a fixed number of decimals and no
// locale or exponent, so the same inputs give byte-identical files (and diffs of
// committed pictures mean something).

/// `x` with exactly `digits` decimals ("nan", "inf", "-inf" for non-finite values; magnitudes
/// of 1e12 and more in Swift's shortest form, beyond fixed-point use).
public func fixedPoint(_ x: Double, _ digits: Int = 3) -> String {
    guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
    guard abs(x) < 1e12 else { return x.description }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (abs(x) * scale).rounded()
    let whole = Int(r / scale)
    let frac = Int(r - Double(whole) * scale)
    var f = String(frac)
    while f.count < digits { f = "0" + f }
    let sign = x < 0 && r != 0 ? "-" : ""
    return digits == 0 ? sign + String(whole) : sign + String(whole) + "." + f
}

/// `x` with at most `digits` decimals, trailing zeros dropped ("12.5", "3", "-0.25"); never "-0".
public func compactNumber(_ x: Double, digits: Int = 2) -> String {
    var s = fixedPoint(x, digits)
    guard s.contains("."), x.isFinite, abs(x) < 1e12 else { return s }
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s == "-0" ? "0" : s
}
