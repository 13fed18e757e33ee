// MARK: - The toolchain string (maml_registry.built_with)
//
// Swift is not ABI-stable on Linux, so a Swift plugin must be built by the same
// toolchain as the host. Both derive this string the same way at compile time;
// there is no compile-time string for the compiler version, so the table below
// asks `#if compiler(>=X.Y.Z)` from newest to oldest. Extend it for new toolchains.

#if compiler(>=6.7)
#warning("MAMLSchema/Toolchain.swift does not know this Swift version: extend the table")
/// "swift-<version>" of the compiler that built this code; the host compares plugins' built_with to it.
public let swiftToolchain = "swift-unknown-newer-than-6.6"
#elseif compiler(>=6.6.5)
public let swiftToolchain = "swift-6.6.5"
#elseif compiler(>=6.6.4)
public let swiftToolchain = "swift-6.6.4"
#elseif compiler(>=6.6.3)
public let swiftToolchain = "swift-6.6.3"
#elseif compiler(>=6.6.2)
public let swiftToolchain = "swift-6.6.2"
#elseif compiler(>=6.6.1)
public let swiftToolchain = "swift-6.6.1"
#elseif compiler(>=6.6)
public let swiftToolchain = "swift-6.6"
#elseif compiler(>=6.5.5)
public let swiftToolchain = "swift-6.5.5"
#elseif compiler(>=6.5.4)
public let swiftToolchain = "swift-6.5.4"
#elseif compiler(>=6.5.3)
public let swiftToolchain = "swift-6.5.3"
#elseif compiler(>=6.5.2)
public let swiftToolchain = "swift-6.5.2"
#elseif compiler(>=6.5.1)
public let swiftToolchain = "swift-6.5.1"
#elseif compiler(>=6.5)
public let swiftToolchain = "swift-6.5"
#elseif compiler(>=6.4.5)
public let swiftToolchain = "swift-6.4.5"
#elseif compiler(>=6.4.4)
public let swiftToolchain = "swift-6.4.4"
#elseif compiler(>=6.4.3)
public let swiftToolchain = "swift-6.4.3"
#elseif compiler(>=6.4.2)
public let swiftToolchain = "swift-6.4.2"
#elseif compiler(>=6.4.1)
public let swiftToolchain = "swift-6.4.1"
#elseif compiler(>=6.4)
public let swiftToolchain = "swift-6.4"
#elseif compiler(>=6.3.5)
public let swiftToolchain = "swift-6.3.5"
#elseif compiler(>=6.3.4)
public let swiftToolchain = "swift-6.3.4"
#elseif compiler(>=6.3.3)
public let swiftToolchain = "swift-6.3.3"
#elseif compiler(>=6.3.2)
public let swiftToolchain = "swift-6.3.2"
#elseif compiler(>=6.3.1)
public let swiftToolchain = "swift-6.3.1"
#elseif compiler(>=6.3)
public let swiftToolchain = "swift-6.3"
#elseif compiler(>=6.2.5)
public let swiftToolchain = "swift-6.2.5"
#elseif compiler(>=6.2.4)
public let swiftToolchain = "swift-6.2.4"
#elseif compiler(>=6.2.3)
public let swiftToolchain = "swift-6.2.3"
#elseif compiler(>=6.2.2)
public let swiftToolchain = "swift-6.2.2"
#elseif compiler(>=6.2.1)
public let swiftToolchain = "swift-6.2.1"
#elseif compiler(>=6.2)
public let swiftToolchain = "swift-6.2"
#elseif compiler(>=6.1.5)
public let swiftToolchain = "swift-6.1.5"
#elseif compiler(>=6.1.4)
public let swiftToolchain = "swift-6.1.4"
#elseif compiler(>=6.1.3)
public let swiftToolchain = "swift-6.1.3"
#elseif compiler(>=6.1.2)
public let swiftToolchain = "swift-6.1.2"
#elseif compiler(>=6.1.1)
public let swiftToolchain = "swift-6.1.1"
#elseif compiler(>=6.1)
public let swiftToolchain = "swift-6.1"
#elseif compiler(>=6.0.5)
public let swiftToolchain = "swift-6.0.5"
#elseif compiler(>=6.0.4)
public let swiftToolchain = "swift-6.0.4"
#elseif compiler(>=6.0.3)
public let swiftToolchain = "swift-6.0.3"
#elseif compiler(>=6.0.2)
public let swiftToolchain = "swift-6.0.2"
#elseif compiler(>=6.0.1)
public let swiftToolchain = "swift-6.0.1"
#elseif compiler(>=6.0)
public let swiftToolchain = "swift-6.0"
#else
public let swiftToolchain = "swift-5"
#endif
