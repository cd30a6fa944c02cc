using System.Text.Json.Nodes;

namespace Tiny.Tests.Integration.Oci;

/// <summary>events, against tiny and runc on one bundle: the stats the container's cgroup holds, stats every interval
/// until the container goes, and an oom event when the OOM killer strikes in it.</summary>
public class OciEventsTests
{
    const long MemoryLimit = 64L << 20;

    /// <summary>A shell and three sleeps under a memory limit, running.</summary>
    static async Task<DetachedContainer> ThreeSleeps(string name, string prefix)
    {
        var container = await DetachedContainer.Run(name, prefix, ["sh", "-c", "sleep 100 & sleep 100 & sleep 100 & wait"],
            config => config["linux"]!["resources"] = new JsonObject { ["memory"] = new JsonObject { ["limit"] = MemoryLimit } });
        await Assert.That(await container.Runtime.WaitForProcesses(container.Id, 4)).Count().IsEqualTo(4);
        return container;
    }

    static async Task<JsonNode> Stats(string name)
    {
        using var container = await ThreeSleeps(name, "stats");
        var (runtime, id) = (container.Runtime, container.Id);
        var result = await runtime.Run("events", "--stats", id);
        await Assert.That(result.ExitCode).IsEqualTo(0);
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await Assert.That(lines.Length).IsEqualTo(1);
        var json = JsonNode.Parse(lines[0])!;
        await Assert.That((string?)json["type"]).IsEqualTo("stats");
        await Assert.That((string?)json["id"]).IsEqualTo(id);
        return json["data"]!;
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Stats_count_the_processes_and_show_the_memory_limit_and_cpu_used(string name)
    {
        var data = await Stats(name);
        await Assert.That((int)data["pids"]!["current"]!).IsEqualTo(4);
        await Assert.That((long)data["memory"]!["usage"]!["limit"]!).IsEqualTo(MemoryLimit);
        await Assert.That((long)data["memory"]!["usage"]!["usage"]!).IsGreaterThan(0);
        await Assert.That((long)data["cpu"]!["usage"]!["total"]!).IsGreaterThan(0);
    }

    [Test]
    public async Task Stats_have_the_same_sections_as_runcs()
    {
        RuntimeUnderTest.Require("runc");
        static string[] Keys(JsonNode node) => node.AsObject().Select(p => p.Key).Order().ToArray();
        var tiny = await Stats("tiny");
        var runc = await Stats("runc");
        await Assert.That(Keys(tiny)).IsEquivalentTo(Keys(runc), CollectionOrdering.Matching);
        await Assert.That(Keys(tiny["cpu"]!)).IsEquivalentTo(Keys(runc["cpu"]!), CollectionOrdering.Matching);
        await Assert.That(Keys(tiny["memory"]!["usage"]!)).IsEquivalentTo(Keys(runc["memory"]!["usage"]!), CollectionOrdering.Matching);
    }

    /// <summary>Starts events, lets <paramref name="act"/> end the container, deletes it (runc's events ends only once
    /// the cgroup is gone) and returns events' exit code and lines.</summary>
    static async Task<(int ExitCode, JsonNode[] Events)> Watch(RuntimeUnderTest runtime, string id, string[] options, Func<Task> act)
    {
        using var events = runtime.Start(["events", .. options, id]);
        var output = events.StandardOutput.ReadToEndAsync();
        await act();
        await runtime.WaitForStatus(id, "stopped");
        await Assert.That((await runtime.Run("delete", id)).ExitCode).IsEqualTo(0);
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await events.WaitForExitAsync(patience.Token);
        return (events.ExitCode, (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToArray());
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Events_print_stats_every_interval_until_the_container_is_gone(string name)
    {
        using var container = await ThreeSleeps(name, "interval");
        var (runtime, id) = (container.Runtime, container.Id);
        var (exitCode, lines) = await Watch(runtime, id, ["--interval=200ms"], async () =>
        {
            await Task.Delay(1100);
            await Assert.That((await runtime.Run("kill", id, "KILL")).ExitCode).IsEqualTo(0);
        });
        await Assert.That(exitCode).IsEqualTo(0);
        await Assert.That(lines.Length).IsGreaterThanOrEqualTo(3);
        await Assert.That(lines.All(l => (string?)l["type"] == "stats" && (string?)l["id"] == id)).IsTrue();
        await Assert.That((int)lines[0]["data"]!["pids"]!["current"]!).IsEqualTo(4);
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task An_oom_kill_in_the_container_is_an_oom_event(string name)
    {
        // The shell keeps 64 MiB of output in memory under a 16 MiB limit (and no swap to go to): the OOM killer
        // kills it, which ends the container.
        using var container = await DetachedContainer.Run(name, "oom", ["sh", "-c", "sleep 1; x=$(head -c 64m /dev/zero | tr '\\0' a); sleep 2"],
            config => config["linux"]!["resources"] = new JsonObject
            {
                ["memory"] = new JsonObject { ["limit"] = 16L << 20, ["swap"] = 16L << 20 },
            });
        var (runtime, id) = (container.Runtime, container.Id);
        var (exitCode, lines) = await Watch(runtime, id, ["--interval", "10s"], () => Task.CompletedTask);
        await Assert.That(exitCode).IsEqualTo(0);
        await Assert.That(string.Join('\n', lines.Select(l => l.ToJsonString()))).Contains($$"""{"type":"oom","id":"{{id}}"}""");
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Events_of_an_unknown_container_say_it_does_not_exist(string name)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        var result = await runtime.Run("events", "--stats", "nosuch-container");
        await Assert.That(result.ExitCode).IsNotEqualTo(0);
        await Assert.That(result.Stderr).Contains("container does not exist");
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Events_refuse_an_interval_that_is_no_duration(string name)
    {
        using var container = await DetachedContainer.Run(name, "interval", ["sleep", "30"]);
        var result = await container.Runtime.Run("events", "--interval", "5", container.Id);
        await Assert.That(result.ExitCode).IsNotEqualTo(0);
        await Assert.That(result.Stderr).Contains("invalid value").And.Contains("interval");
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Events_refuse_a_stopped_container(string name)
    {
        using var container = await DetachedContainer.Run(name, "stopped", ["true"]);
        var (runtime, id) = (container.Runtime, container.Id);
        await runtime.WaitForStatus(id, "stopped");
        var stopped = await runtime.Run("events", "--stats", id);
        await Assert.That(stopped.ExitCode).IsNotEqualTo(0);
        await Assert.That(stopped.Stderr).Contains("not running");
        await Assert.That(stopped.Stdout).IsEmpty();
    }
}
