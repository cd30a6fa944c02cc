using System.Text.Json.Nodes;

namespace Tiny.Tests.Integration.Oci;

/// <summary>pause and resume, against tiny and runc on one bundle: a counter the container writes stops while it
/// is paused and goes on after resume; a paused container is deleted with --force, its freezer cgroup with it.
/// The container forks slowly (runc's v1 freeze gives up on a group that keeps forking).</summary>
public class OciPauseTests
{
    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task A_paused_container_stops_counting_until_resumed_and_force_delete_removes_it(string name)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        var counter = Tiny.UniqueName("count");
        var hostCounter = Path.Combine(BusyboxRootfs.Path, "tmp", counter);
        using var bundle = await OciBundle.Create(
            // Written through a rename, so the host never reads a half-written counter.
            ["sh", "-c", $"i=0; while :; do i=$((i+1)); echo $i > /tmp/{counter}.new; mv /tmp/{counter}.new /tmp/{counter}; sleep 0.1; done"],
            config => config["root"] = new JsonObject { ["path"] = BusyboxRootfs.Path, ["readonly"] = false });
        var id = runtime.NewId("pause");
        try
        {
            await Assert.That((await runtime.Detached("run", "-d", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
            await Assert.That((await runtime.Run("resume", id)).ExitCode).IsNotEqualTo(0);
            while (!File.Exists(hostCounter)) await Task.Delay(10);

            await Assert.That(await Pause(runtime, name, id)).IsEqualTo(0);
            await Assert.That((string?)(await runtime.State(id))["status"]).IsEqualTo("paused");
            var frozen = File.ReadAllText(hostCounter);
            await Task.Delay(500);
            await Assert.That(File.ReadAllText(hostCounter)).IsEqualTo(frozen);

            await Assert.That((await runtime.Run("resume", id)).ExitCode).IsEqualTo(0);
            await Assert.That((string?)(await runtime.State(id))["status"]).IsEqualTo("running");
            await Task.Delay(500);
            await Assert.That(int.Parse(File.ReadAllText(hostCounter))).IsGreaterThan(int.Parse(frozen));

            await Assert.That(await Pause(runtime, name, id)).IsEqualTo(0);
            await Assert.That((await runtime.Run("delete", "--force", id)).ExitCode).IsEqualTo(0);
            await Assert.That((await runtime.Run("state", id)).Stderr).Contains("does not exist");
            await Assert.That(Directory.EnumerateDirectories("/sys/fs/cgroup", $"*{id}*", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 5, IgnoreInaccessible = true })).IsEmpty();
        }
        finally
        {
            File.Delete(hostCounter);
            File.Delete(hostCounter + ".new");
        }
    }

    /// <summary>pause's exit code. runc 1.1's v1 freeze gives up when the group is still FREEZING after its retries,
    /// which a loaded host (the whole suite running) sometimes makes it: runc, the reference, gets two more tries.</summary>
    static async Task<int> Pause(RuntimeUnderTest runtime, string name, string id)
    {
        var exitCode = (await runtime.Run("pause", id)).ExitCode;
        for (var retry = 0; exitCode != 0 && name == "runc" && retry < 2; retry++)
            exitCode = (await runtime.Run("pause", id)).ExitCode;
        return exitCode;
    }
}
