namespace Tiny.Tests.Integration.Run;

/// <summary>What tiny's start-up does (and does not do): the version text, and no threads beyond the runtime's own.</summary>
public class StartupTests
{
    [Before(Test)]
    public void Require() => Tiny.RequireRootAndBinary();

    [Test]
    public async Task Version_prints_tinys_release_then_the_runtime_spec_version()
    {
        var result = await Tiny.Run("--version");
        await Assert.That(result.ExitCode).IsEqualTo(0);
        await Assert.That(result.Stdout).Matches(@"^tiny version \d+\.\d+\.\d+\nspec: 1\.2\.\d+\n$");
        await Assert.That(result.Stderr).IsEqualTo("");
    }

    [Test]
    public async Task A_running_container_has_tiny_wait_on_its_main_thread_without_a_thread_pool()
    {
        using var tiny = Tiny.Start(Tiny.Binary, ["run", "--rootfs", BusyboxRootfs.Path, "--", "/bin/sh", "-c", "echo ready; sleep 5"]);
        await Assert.That(await tiny.StandardOutput.ReadLineAsync()).IsEqualTo("ready");
        var threads = Directory.GetDirectories($"/proc/{tiny.Id}/task")
            .Select(task => File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n'))
            .Order().ToArray();
        Interop.Process.Kill(tiny.Id, Interop.Process.SIGTERM);
        await tiny.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        // The runtime's finalizer thread and the thread that delivers PosixSignalRegistration's signals.
        await Assert.That(threads).IsEquivalentTo([".NET Finalizer", ".NET SigHandler", "tiny"], CollectionOrdering.Matching);
    }
}
