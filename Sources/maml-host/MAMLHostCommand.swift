// maml-host: load meta-learning backbones as plugins and meta-train them.
import ArgumentParser
import MAMLCore
import MAMLHost   // displaySafe
#if canImport(Glibc)
import Glibc
#endif

@main
struct MAMLHostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maml-host",
        abstract: "Meta-train neural-network backbones loaded as plugins.",
        discussion: """
            Plugins are found next to maml-host, in ./models, in each directory of \
            MAML_PLUGIN_PATH, and in --plugin-dir DIR. See docs/cli.md.
            """,
        version: Version.line,
        subcommands: [List.self, Info.self, Ops.self, Call.self, Train.self, Eval.self, Bench.self, Demo.self,
                      Plot.self, Report.self,
                      Check.self, CheckOne.self, CheckLocate.self, Trust.self, Scan.self])

    /// ArgumentParser's main, with the host's stdout claimed between parsing and running
    /// (HostOutput.swift): help and usage errors use the real stdout/stderr as usual; from the
    /// first plugin load on, only maml-host writes to its stdout.
    static func main() {
        HostOutput.occupyStandardDescriptors()
        refuseNonUTF8Arguments()
        refuseUnknownKernelCap()
        BLASCoreType.reexecIfMisdetected()
        Supervisor.superviseIfNeeded()   // train, eval, bench, demo: before the claim, so the worker gets the real stdout
        Glibc.exit(runCommand())
    }

    /// MAML_KERNELS_ISA caps MAMLKernels' build in every library's load-time constructor, where
    /// an unknown value can only be ignored; a typo would then silently measure the wrong path.
    static func refuseUnknownKernelCap() {
        guard let raw = getenv("MAML_KERNELS_ISA") else { return }
        let value = String(cString: raw)
        guard !["avx512", "avx2", "baseline"].contains(value) else { return }
        printError("Error: MAML_KERNELS_ISA=\(displaySafe(value)) is not a kernel build: expected avx512, avx2 or baseline "
                   + "(or unset for the best this CPU runs)")
        Activity.announceExit(ExitCode.validationFailure.rawValue)
        Glibc.exit(ExitCode.validationFailure.rawValue)
    }

    /// Swift's String replaces bytes that are not UTF-8 with U+FFFD: a path argument holding them
    /// would name another file, and the run would write there and report success. Such an
    /// argument is refused before parsing, naming it with the bad bytes shown as \xNN.
    static func refuseNonUTF8Arguments() {
        for i in 1..<Int(CommandLine.argc) {
            guard let argument = CommandLine.unsafeArgv[i] else { continue }
            let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(argument).assumingMemoryBound(to: UInt8.self),
                                            count: strlen(argument))
            guard String(validating: bytes, as: UTF8.self) == nil else { continue }
            printError("Error: argument \(i) (\(showBytes(bytes))) is not valid UTF-8: maml-host needs file names and "
                       + "values in UTF-8; rename the file, or link to it under a UTF-8 name (ln -s)")
            Activity.announceExit(ExitCode.validationFailure.rawValue)
            Glibc.exit(ExitCode.validationFailure.rawValue)
        }
    }

    /// Parses and runs the command in this process; the exit status, announced on the
    /// activity page first so a supervisor can tell it from a plugin's exit().
    static func runCommand() -> Int32 {
        var command: ParsableCommand
        do { command = try parseAsRoot() } catch {
            Activity.announceExit(exitCode(for: error).rawValue)
            exit(withError: error)
        }
        HostOutput.claimStandardOutput()
        do {
            try command.run()
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if !message.isEmpty {
                if code.isSuccess { print(message) } else { printError(message) }   // printError escapes terminal controls
            }
            HostOutput.flush()
            MPIRanks.current?.finish(status: code.rawValue, message: message)
            Activity.announceExit(code.rawValue)
            return code.rawValue
        }
        HostOutput.flush()
        MPIRanks.current?.finish(status: 0, message: "")
        Activity.announceExit(0)
        return 0
    }
}
