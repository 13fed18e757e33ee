// MARK: - list and info, end to end
import Foundation
import Testing

@Suite struct CatalogCommandTests {
    @Test func listShowsTheBundledMLP() throws {
        let run = try mamlHost(["list"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("org.mamlzoo.mlp"))
        #expect(run.stdout.contains("libmaml_mlp.so"))
    }

    @Test func listJSONHasModelsAndProblems() throws {
        let run = try mamlHost(["list", "--json"])
        #expect(run.status == 0)
        let object = try jsonObject(run.stdout)
        let models = try #require(object["models"] as? [[String: Any]])
        #expect(models.contains { $0["name"] as? String == "mlp" && $0["family"] as? String == "mlp" })
        #expect(object["problems"] is [Any])
    }

    @Test func infoShowsSchemaDefaultsAndLayout() throws {
        let run = try mamlHost(["info", "mlp"])
        #expect(run.status == 0, "\(run.stderr)")
        for text in ["[40,40]", "\"relu\" | \"tanh\"", "1761", "layer2.weight", "head", "maml.hvp/1", "exact"] {
            #expect(run.stdout.contains(text), "info output lacks \(text)")
        }
    }

    @Test func infoWithAnotherConfigShowsItsLayout() throws {
        let run = try mamlHost(["info", "mlp", "--config", #"{"hidden": [8], "output": 3, "loss": "softmax-ce"}"#])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("parameters:    43"))   // 8*1 + 8 + 3*8 + 3
        #expect(run.stdout.contains("softmax-ce"))
    }

    @Test func unknownModelListsTheKnownOnes() throws {
        let run = try mamlHost(["info", "nosuchmodel"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("unknown model 'nosuchmodel'"))
        #expect(run.stderr.contains("mlp"))
    }

    @Test func badConfigNamesTheKeyAndAllowedValues() throws {
        let run = try mamlHost(["info", "mlp", "--config", #"{"activation": "sigmoid"}"#])
        #expect(run.status != 0)
        #expect(run.stderr.contains("\"activation\""))
        #expect(run.stderr.contains("relu") && run.stderr.contains("tanh"))
        #expect(run.stdout.isEmpty, "nothing is printed before the error")
    }

    @Test func unknownConfigKeyIsNamed() throws {
        let run = try mamlHost(["train", "--config", #"{"hiden": [3]}"#, "--iterations", "1", "--output", "x.ckpt"],
                               in: try temporaryDirectory())
        #expect(run.status != 0)
        #expect(run.stderr.contains("unknown config key \"hiden\""))
    }
}
