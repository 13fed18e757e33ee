// MARK: - Colours and line styles that stay apart for colour-blind readers
//
// The Okabe-Ito palette (Okabe & Ito, "Color Universal Design", 2002): eight
// colours distinguishable with the common colour-vision deficiencies. Yellow is
// left out (too pale on white). Series also differ in dash pattern, so a
// greyscale print still tells them apart.

public enum Palette {
    /// Series colours in the order series take them.
    public static let series = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
    /// Dash patterns in the order series take them ("" is solid).
    public static let dashes = ["", "6 3", "2 2", "8 3 2 3", "4 4", "1 3", "10 4"]
    /// Text, axes and the true function.
    public static let ink = "#222222"
    /// Grid lines.
    public static let grid = "#DDDDDD"

    public static func colour(_ index: Int) -> String { series[index % series.count] }
    public static func dash(_ index: Int) -> String { dashes[index % dashes.count] }
}
