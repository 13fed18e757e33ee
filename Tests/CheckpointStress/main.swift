// MARK: - checkpoint-stress: rewrite one checkpoint in a loop, for kill -9 tests
//
// A test helper, not part of the product: writes OUTPUT over and over (atomically,
// as training does), version k holding iteration k and parameters[0] == k, so a
// reader can tell a whole version from a torn one. Tests/CLITests/FaultToleranceTests
// kills it with SIGKILL at random moments, nearly always mid-write, and checks the
// file is always a whole, loadable version.
//
// usage: checkpoint-stress OUTPUT [WIDTH [COUNT]]
//   WIDTH  sets the size: the parameters of a 1-WIDTH-WIDTH-1 MLP, with Adam moments (default 600)
//   COUNT  versions to write (default 0: until killed)
import MAMLCore
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count >= 2, arguments.count <= 4,
      let width = arguments.count > 2 ? Int(arguments[2]) : 600, width >= 1,
      let count = arguments.count > 3 ? Int(arguments[3]) : 0, count >= 0 else {
    print("usage: checkpoint-stress OUTPUT [WIDTH [COUNT]]")
    exit(64)
}
let output = arguments[1]
let parameterCount = 2 * width + width * (width + 1) + width + 1
let header = CheckpointHeader(
    model: ModelIdentity(id: "org.mamlzoo.mlp", version: "1.0.0", config: "{\"hidden\":[\(width),\(width)]}"),
    task: TaskIdentity(family: "sinusoid", config: "{}"), training: TrainerConfig(iterations: 1),
    iteration: 0, parameterCount: parameterCount,
    optimizer: OptimizerHeader(kind: .adam, step: 0, learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-8),
    rng: RNGHeader(seed: 0))
let zeros = [Float](repeating: 0, count: parameterCount)
var checkpoint = Checkpoint(header: header, parameters: zeros, moments: (zeros, zeros))
var version = ((try? Checkpoint.read(from: output))?.header.iteration ?? -1) + 1
let end = count > 0 ? version + count : Int.max
while version < end {
    checkpoint.header.iteration = version
    checkpoint.parameters[0] = Float(version)
    do { try checkpoint.write(to: output) } catch { print("\(error)"); exit(1) }
    version += 1
}
