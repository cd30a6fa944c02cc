using System.Globalization;

namespace Tiny.Tests.Integration.Run;

/// <summary>`tiny run --timing` and TINY_TIMING=1: the phases a real launch went through, from the parent's view.</summary>
public class TimingTests
{
    [Before(Test)]
    public void Require() => Tiny.RequireRootAndBinary();

    static Dictionary<string, double> Phases(string stderr) => stderr.Split('\n')
        .Where(line => line.StartsWith("  ", StringComparison.Ordinal))
        .Select(line => line.Trim())
        .ToDictionary(line => line[..line.LastIndexOf(' ')].Trim(), line => double.Parse(line[line.LastIndexOf(' ')..], CultureInfo.InvariantCulture));

    [Test]
    public async Task Timing_lists_every_launch_phase_and_they_add_up_to_the_total()
    {
        var result = await Tiny.RunInBusybox(["--timing", "--net", "none"], "/bin/echo", "hi");
        await Assert.That(result.ExitCode).IsEqualTo(0);
        await Assert.That(result.Stdout).IsEqualTo("hi\n");
        await Assert.That(result.Stderr).StartsWith("tiny timing (microseconds, parent's clock):\n");
        var phases = Phases(result.Stderr);
        await Assert.That(phases.Keys).IsEquivalentTo(
        [
            "parse/spec", "seccomp program", "launcher setup", "plan + native layout", "cgroup create",
            "clone + child wake-up", "child other setup", "child cgroup join", "child pivot_root", "child mounts", "child caps + ids",
            "child seccomp load", "exec", "container run", "cleanup", "total",
        ], CollectionOrdering.Matching);
        var sum = phases.Where(p => p.Key != "total").Sum(p => p.Value);
        await Assert.That(Math.Abs(sum - phases["total"])).IsLessThan(0.1 * phases.Count);
        await Assert.That(phases.Values.All(microseconds => microseconds > 0)).IsTrue();
    }

    [Test]
    public async Task The_environment_variable_turns_timing_on_and_a_failed_setup_is_timed_too()
    {
        var result = await Tiny.Exec("/usr/bin/env", ["TINY_TIMING=1", Tiny.Binary, "run", "--net", "none", "--rootfs", BusyboxRootfs.Path, "--", "/bin/nope"]);
        await Assert.That(result.ExitCode).IsEqualTo(127);
        var phases = Phases(result.Stderr);
        await Assert.That(phases.Keys).Contains("failure report");
        await Assert.That(phases.Keys).DoesNotContain("container run");
        await Assert.That(result.Stderr).EndsWith($"tiny: exec /bin/nope in rootfs {BusyboxRootfs.Path}: no such file or directory\n");
    }

    [Test]
    public async Task The_environment_variable_times_runc_style_run_of_a_bundle()
    {
        using var runtime = Oci.RuntimeUnderTest.Of("tiny");
        using var bundle = await Oci.OciBundle.Create(["/bin/echo", "hi"]);
        var result = await Tiny.Exec("/usr/bin/env", ["TINY_TIMING=1", Tiny.Binary, "--root", runtime.Root, "run", "--bundle", bundle.Path,
            runtime.NewId("timed")]);
        await Assert.That(result.ExitCode).IsEqualTo(0);
        await Assert.That(result.Stdout).IsEqualTo("hi\n");
        var phases = Phases(result.Stderr);
        await Assert.That(phases.Keys.First()).IsEqualTo("config");
        await Assert.That(phases.Keys).Contains("cgroup create").And.Contains("clone + child wake-up").And.Contains("container run");
        var sum = phases.Where(p => p.Key != "total").Sum(p => p.Value);
        await Assert.That(Math.Abs(sum - phases["total"])).IsLessThan(0.1 * phases.Count);
    }

    [Test]
    public async Task Without_timing_stderr_stays_empty()
    {
        var result = await Tiny.RunInBusybox([], "/bin/true");
        await Assert.That(result.Stderr).IsEqualTo("");
    }
}
