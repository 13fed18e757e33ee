// MARK: - The host's own toolchain string
//
// Swift is not ABI-stable on Linux, so a Swift plugin must be built by exactly
// the toolchain that built the host. The registry's built_with is compared to
// this string. TODO(merge): point this at MAMLPluginKit's toolchain constant.

/// The toolchain that built this host, in the registry's `built_with` spelling ("swift-6.3.1").
public func hostSwiftToolchain() -> String {
    #if compiler(>=6.5)
    return "swift-6.5"
    #elseif compiler(>=6.4)
    return "swift-6.4"
    #elseif compiler(>=6.3.2)
    return "swift-6.3.2"
    #elseif compiler(>=6.3.1)
    return "swift-6.3.1"
    #elseif compiler(>=6.3)
    return "swift-6.3"
    #else
    return "swift-6.2-or-older"
    #endif
}
