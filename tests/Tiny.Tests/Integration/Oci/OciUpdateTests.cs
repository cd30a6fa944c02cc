namespace Tiny.Tests.Integration.Oci;

/// <summary>update, against tiny and runc on one bundle: the new limits land in the container's cgroup v1 files,
/// found from the init's /proc/PID/cgroup.</summary>
public class OciUpdateTests
{
    static string LimitFile(int pid, string controller, string file)
    {
        var line = File.ReadLines($"/proc/{pid}/cgroup").Single(l => l.Split(':')[1].Split(',').Contains(controller));
        return File.ReadAllText($"/sys/fs/cgroup/{controller}{line.Split(':', 3)[2]}/{file}").Trim();
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Update_writes_memory_cpu_and_pids_limits_from_flags_and_a_resources_file(string name)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        using var bundle = await OciBundle.Create(["sleep", "100"]);
        var id = runtime.NewId("update");
        await Assert.That((await runtime.Detached("run", "-d", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
        var pid = (int)(await runtime.State(id))["pid"]!;

        var flags = await runtime.Run("update", "--memory", "64m", "--cpu-period", "100000", "--cpu-quota", "50000", "--pids-limit", "20", id);
        await Assert.That(flags.ExitCode).IsEqualTo(0);
        await Assert.That(LimitFile(pid, "memory", "memory.limit_in_bytes")).IsEqualTo($"{64 * 1024 * 1024}");
        await Assert.That(LimitFile(pid, "cpu", "cpu.cfs_quota_us")).IsEqualTo("50000");
        await Assert.That(LimitFile(pid, "pids", "pids.max")).IsEqualTo("20");

        var resources = Path.Combine(runtime.Root, "resources.json");
        File.WriteAllText(resources, """{"memory": {"limit": 33554432}, "pids": {"limit": 30}}""");
        await Assert.That((await runtime.Run("update", "--resources", resources, id)).ExitCode).IsEqualTo(0);
        await Assert.That(LimitFile(pid, "memory", "memory.limit_in_bytes")).IsEqualTo("33554432");
        await Assert.That(LimitFile(pid, "pids", "pids.max")).IsEqualTo("30");
        await Assert.That(LimitFile(pid, "cpu", "cpu.cfs_quota_us")).IsEqualTo("50000");
    }

    [Test]
    public async Task Update_of_an_unknown_container_names_it()
    {
        RuntimeUnderTest.Require("tiny");
        using var runtime = RuntimeUnderTest.Of("tiny");
        var result = await runtime.Run("update", "--pids-limit", "5", "nosuch-container");
        await Assert.That(result.ExitCode).IsNotEqualTo(0);
        await Assert.That(result.Stderr).Contains("container does not exist");
    }
}
