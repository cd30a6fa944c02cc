using System.Text.Json.Nodes;

namespace Tiny.Tests.Integration.Oci;

/// <summary>
/// One OCI runtime under test: tiny or runc, each with its own --root in a temporary directory, so that
/// the same bundle runs on both and their answers can be compared.
/// </summary>
public sealed class RuntimeUnderTest : IDisposable
{
    public const string Runc = "/usr/sbin/runc";

    public string Name { get; }
    public string Binary { get; }
    public string Root { get; } = Directory.CreateTempSubdirectory("tiny-oci-root-").FullName;
    readonly List<string> _ids = [];

    RuntimeUnderTest(string name, string binary) => (Name, Binary) = (name, binary);

    public static RuntimeUnderTest Of(string name) => name switch
    {
        "tiny" => new RuntimeUnderTest(name, Tiny.Binary),
        _ => new RuntimeUnderTest(name, Runc),
    };

    /// <summary>Skips unless runc is installed (apt-get install runc) when <paramref name="name"/> is runc.</summary>
    public static void Require(string name)
    {
        Tiny.RequireRootAndBinary();
        if (name == "runc") Skip.Unless(File.Exists(Runc), "runc is needed for the comparison (apt-get install runc)");
    }

    public string NewId(string prefix)
    {
        var id = Tiny.UniqueName(prefix);
        _ids.Add(id);
        return id;
    }

    public Task<Tiny.Result> Run(params string[] args) => Tiny.Exec(Binary, ["--root", Root, .. args]);

    /// <summary>A command that goes on while the test acts (events), its output captured.</summary>
    public System.Diagnostics.Process Start(params string[] args) => Tiny.Start(Binary, ["--root", Root, .. args]);

    /// <summary>`run` of the bundle in the foreground under tiny, then under runc, each with its own root.</summary>
    public static async Task<Dictionary<string, Tiny.Result>> RunUnderBoth(OciBundle bundle, string idPrefix)
    {
        var outputs = new Dictionary<string, Tiny.Result>();
        foreach (var name in new[] { "tiny", "runc" })
        {
            using var runtime = Of(name);
            outputs[name] = await runtime.Run("run", "--bundle", bundle.Path, runtime.NewId(idPrefix));
        }
        return outputs;
    }

    /// <summary>
    /// A command whose container outlives it (create, run -d): the container inherits stdout and stderr, so they go to
    /// files rather than pipes a reader would wait on; returns the runtime's exit code and what is in the files so far.
    /// </summary>
    public async Task<(int ExitCode, string Output)> Detached(params string[] args)
    {
        var output = Path.Combine(Root, $"out-{Guid.NewGuid():N}");
        var result = await Tiny.Exec("/bin/sh", ["-c", "out=$1; shift; exec \"$@\" >\"$out\" 2>&1 </dev/null", "sh", output, Binary, "--root", Root, .. args]);
        return (result.ExitCode, File.ReadAllText(output));
    }

    public async Task<JsonNode> State(string id)
    {
        var result = await Run("state", id);
        if (result.ExitCode != 0) throw new InvalidOperationException($"{Name} state {id}: {result.Stderr}");
        return JsonNode.Parse(result.Stdout)!;
    }

    /// <summary>Waits until the container's status is <paramref name="status"/> (a process's exit is not instant).</summary>
    public async Task<JsonNode> WaitForStatus(string id, string status)
    {
        for (var attempt = 0; ; attempt++)
        {
            var state = await State(id);
            if ((string?)state["status"] == status || attempt == 200) return state;
            await Task.Delay(25);
        }
    }

    /// <summary>The pids `ps --format json` lists, once there are <paramref name="count"/> of them (or after 2 s).</summary>
    public async Task<int[]> WaitForProcesses(string id, int count)
    {
        for (var attempt = 0; ; attempt++)
        {
            var ps = await Run("ps", "--format", "json", id);
            if (ps.ExitCode != 0) throw new InvalidOperationException($"{Name} ps {id}: {ps.Stderr}");
            var pids = JsonNode.Parse(ps.Stdout)!.AsArray().Select(p => (int)p!).Order().ToArray();
            if (pids.Length == count || attempt == 100) return pids;
            await Task.Delay(20);
        }
    }

    /// <summary>delete --force every container this test made, then the root.</summary>
    public void Dispose()
    {
        foreach (var id in _ids) Run("delete", "--force", id).GetAwaiter().GetResult();
        Directory.Delete(Root, recursive: true);
    }
}

/// <summary>A bundle made as a user would: `tiny spec`, then config.json edited (no terminal, busybox as rootfs).</summary>
public sealed class OciBundle : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("tiny-oci-bundle-").FullName;

    public static async Task<OciBundle> Create(string[] args, Action<JsonObject>? edit = null)
    {
        var bundle = new OciBundle();
        var spec = await Tiny.Run("spec", "--bundle", bundle.Path);
        if (spec.ExitCode != 0) throw new InvalidOperationException($"tiny spec: {spec.Stderr}");
        var configPath = System.IO.Path.Combine(bundle.Path, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["process"]!["terminal"] = false;
        config["process"]!["args"] = new JsonArray(args.Select(a => (JsonNode)JsonValue.Create(a)!).ToArray());
        config["root"]!["path"] = BusyboxRootfs.Path;
        edit?.Invoke(config);
        File.WriteAllText(configPath, config.ToJsonString());
        return bundle;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>A bundle run with `run --detach` by one runtime under test (skipped where that runtime is missing).</summary>
public sealed class DetachedContainer : IDisposable
{
    public required RuntimeUnderTest Runtime { get; init; }
    public required OciBundle Bundle { get; init; }
    public required string Id { get; init; }

    public static async Task<DetachedContainer> Run(string runtime, string prefix, string[] args, Action<JsonObject>? edit = null)
    {
        RuntimeUnderTest.Require(runtime);
        var under = RuntimeUnderTest.Of(runtime);
        var container = new DetachedContainer { Runtime = under, Bundle = await OciBundle.Create(args, edit), Id = under.NewId(prefix) };
        var run = await container.Runtime.Detached("run", "--detach", "--bundle", container.Bundle.Path, container.Id);
        if (run.ExitCode != 0) throw new InvalidOperationException($"{runtime} run --detach: {run.Output}");
        return container;
    }

    public void Dispose()
    {
        Runtime.Dispose();
        Bundle.Dispose();
    }
}
