namespace Tiny.Tests.Integration.Oci;

/// <summary>Many containers at once over one state root: each command locks only its own container.</summary>
public class OciParallelTests
{
    const int Containers = 50;

    [Test]
    public async Task Fifty_containers_created_started_and_deleted_in_parallel_leave_nothing()
    {
        RuntimeUnderTest.Require("tiny");
        using var runtime = RuntimeUnderTest.Of("tiny");
        var marker = Tiny.UniqueName("par");
        // The marker in the command line finds every container process that could be left.
        using var bundle = await OciBundle.Create(["sh", "-c", $"sleep 1000; : {marker}"]);
        var ids = Enumerable.Range(0, Containers).Select(i => runtime.NewId($"{marker}-{i}")).ToArray();

        var results = await Task.WhenAll(ids.Select(async id =>
        {
            var create = (await runtime.Detached("create", "--bundle", bundle.Path, id)).ExitCode;
            var start = (await runtime.Run("start", id)).ExitCode;
            var status = (string?)(await runtime.State(id))["status"];
            var delete = await runtime.Run("delete", "--force", id);
            return $"{id}: create {create} start {start} {status} delete {delete.ExitCode}{delete.Stderr}";
        }));

        await Assert.That(results).IsEquivalentTo(ids.Select(id => $"{id}: create 0 start 0 running delete 0"));
        await Assert.That(Directory.EnumerateDirectories(runtime.Root)).IsEmpty();
        // Every id starts with the marker.
        await Assert.That(OciKillSafetyTests.Leftovers(marker, Path.Combine(runtime.Root, marker))).IsEmpty();
    }
}
