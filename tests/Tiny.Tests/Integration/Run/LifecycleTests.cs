using System.Diagnostics;

namespace Tiny.Tests.Integration.Run;

/// <summary>Exit codes, signals, limits and cleanup of `tiny run`, seen from the host.</summary>
public class LifecycleTests
{
    [Before(Test)]
    public void Require() => Tiny.RequireRootAndBinary();

    [Test]
    [Arguments("exit 0", 0)]
    [Arguments("exit 3", 3)]
    [Arguments("sh -c 'kill -KILL $$'; exit $?", 137)]
    public async Task The_commands_exit_status_comes_back(string script, int expected)
    {
        var result = await Tiny.Sh(script);
        await Assert.That(result.ExitCode).IsEqualTo(expected);
    }

    [Test]
    public async Task Sigterm_to_tiny_reaches_the_container()
    {
        using var tiny = Tiny.Start(Tiny.Binary, ["run", "--rootfs", BusyboxRootfs.Path, "--", "/bin/sh", "-c",
            "trap 'echo got-term; exit 143' TERM; echo ready; while :; do sleep 0.05; done"]);
        var ready = await tiny.StandardOutput.ReadLineAsync();
        await Assert.That(ready).IsEqualTo("ready");
        Interop.Process.Kill(tiny.Id, Interop.Process.SIGTERM);
        await tiny.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        await Assert.That(await tiny.StandardOutput.ReadToEndAsync()).Contains("got-term");
        await Assert.That(tiny.ExitCode).IsEqualTo(143);
    }

    [Test]
    public async Task A_process_allocating_past_the_memory_limit_is_oom_killed()
    {
        var result = await Tiny.RunInBusybox(["--memory", "32M"], "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1");
        await Assert.That(result.ExitCode).IsEqualTo(137);
        var within = await Tiny.RunInBusybox(["--memory", "32M"], "dd", "if=/dev/zero", "of=/dev/null", "bs=4M", "count=1");
        await Assert.That(within.ExitCode).IsEqualTo(0);
    }

    [Test]
    public async Task A_fork_loop_stops_at_the_pids_limit()
    {
        const string forkLoop = "for i in $(seq 1 30); do sleep 1 & done; wait; echo finished";
        var limited = await Tiny.Sh(forkLoop, "--pids", "10");
        await Assert.That(limited.Stderr).Contains("can't fork");
        var roomy = await Tiny.Sh(forkLoop, "--pids", "100");
        await Assert.That(roomy.Stderr).DoesNotContain("can't fork");
        await Assert.That(roomy.Stdout).IsEqualTo("finished\n");
    }

    [Test]
    public async Task Limits_are_written_to_the_containers_cgroup_and_the_cgroup_goes_away()
    {
        var name = Tiny.UniqueName("limits");
        using var tiny = Tiny.Start(Tiny.Binary, ["run", "--rootfs", BusyboxRootfs.Path, "--name", name,
            "--memory", "48M", "--cpus", "1.5", "--cpu-weight", "500", "--pids", "42", "--", "/bin/sh", "-c",
            "trap 'exit 130' INT; echo ready; while :; do sleep 0.05; done"]);
        await Assert.That(await tiny.StandardOutput.ReadLineAsync()).IsEqualTo("ready");

        var dirs = Tiny.CgroupDirectoriesOf(name);
        string Read(string controller, string file) =>
            File.ReadAllText(Path.Combine(dirs.Single(d => d.StartsWith($"/sys/fs/cgroup/{controller}/", StringComparison.Ordinal)), file)).Trim();
        if (File.Exists("/sys/fs/cgroup/cgroup.controllers"))
        {
            await Assert.That(File.ReadAllText(Path.Combine(dirs.Single(), "memory.max")).Trim()).IsEqualTo($"{48 << 20}");
        }
        else
        {
            await Assert.That(Read("memory", "memory.limit_in_bytes")).IsEqualTo($"{48 << 20}");
            await Assert.That(Read("cpu", "cpu.cfs_quota_us")).IsEqualTo("150000");
            await Assert.That(Read("cpu", "cpu.cfs_period_us")).IsEqualTo("100000");
            await Assert.That(Read("cpu", "cpu.shares")).IsEqualTo("13085");
            await Assert.That(Read("pids", "pids.max")).IsEqualTo("42");
            var pid = File.ReadAllText(Path.Combine(dirs.First(), "cgroup.procs")).Trim();
            await Assert.That(pid).IsNotEmpty();
        }

        Interop.Process.Kill(tiny.Id, Interop.Process.SIGINT);
        await tiny.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        await Assert.That(tiny.ExitCode).IsEqualTo(130);
        await Assert.That(Tiny.CgroupDirectoriesOf(name)).IsEmpty();
    }

    [Test]
    [NotInParallel("host-mounts")]
    public async Task A_run_leaves_the_host_mount_table_unchanged()
    {
        var before = Tiny.HostMounts();
        var result = await Tiny.Sh("mount -t tmpfs none /tmp && grep -c . /proc/self/mountinfo", "--cap-add", "SYS_ADMIN");
        await Assert.That(result.ExitCode).IsEqualTo(0);
        await Assert.That(Tiny.HostMounts()).IsEqualTo(before);
    }

    [Test]
    public async Task Verbose_logs_each_step_with_a_timestamp_on_stderr()
    {
        var result = await Tiny.Sh("true", "--verbose", "--memory", "64M");
        await Assert.That(result.ExitCode).IsEqualTo(0);
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await Assert.That(lines).Contains(l => l.Contains("INFO setting memory.") && l.Contains("to 67108864"));
        await Assert.That(lines.All(l => DateTime.TryParse(l.Split(' ')[0], out _))).IsTrue();
        var quiet = await Tiny.Sh("true", "--memory", "64M");
        await Assert.That(quiet.Stderr).IsEmpty();
    }
}
