namespace Tiny.Tests.Integration.Run;

/// <summary>
/// CVE-2019-5736 for tiny run: with --init the container's PID 1 is tiny's own code, so its /proc/1/exe is tiny's
/// binary for the container's whole life, and any process in the container may open it (and pass the fd to one
/// that outlives the container, which then writes). tiny run runs from a read-only bind of its binary, laid over
/// the binary's own path in a mount namespace of its own, so the monitor is still found by its exe.
/// </summary>
public class RunBinaryTests
{
    [Before(Test)]
    public void Require() => Tiny.RequireRootAndBinary();

    [Test]
    public async Task The_binary_a_container_can_open_through_proc_is_on_a_read_only_mount_and_the_monitor_keeps_its_path()
    {
        var name = Tiny.UniqueName("exe");
        var work = Directory.CreateTempSubdirectory("tiny-run-exe-").FullName;
        var pidFile = Path.Combine(work, "pid");
        var shared = Directory.CreateDirectory(Path.Combine(work, "out")).FullName;
        try
        {
            var run = await Tiny.Run("run", "-d", "--init", "--name", name, "--pid-file", pidFile, "--net", "none",
                "-v", $"{shared}:/out", "--rootfs", BusyboxRootfs.Path, "--", "/bin/sh", "-c",
                "exec 3</proc/1/exe && grep mnt_id /proc/self/fdinfo/3 >/out/mnt.tmp && mv /out/mnt.tmp /out/mnt; exec sleep 60");
            await Assert.That(run.ExitCode).IsEqualTo(0);
            var seen = Path.Combine(shared, "mnt");
            for (var i = 0; i < 500 && !File.Exists(seen); i++) await Task.Delay(20);
            var mountId = File.ReadAllText(seen).Split(':')[1].Trim();

            var monitor = int.Parse(File.ReadAllText(pidFile).Trim());
            await Assert.That(new FileInfo($"/proc/{monitor}/exe").LinkTarget).IsEqualTo(Tiny.Binary);
            // mountinfo(5): id, parent, dev, root, mount point, options, ...
            var mount = File.ReadLines($"/proc/{monitor}/mountinfo").Select(line => line.Split(' '))
                .Single(fields => fields[0] == mountId);
            await Assert.That(mount[4]).IsEqualTo(Tiny.Binary);
            await Assert.That(mount[5].Split(',')).Contains("ro");
            await Assert.That(File.ReadAllText("/proc/self/mountinfo")).DoesNotContain(Tiny.Binary);
        }
        finally
        {
            await Tiny.Run("rm", "-f", name);
            Directory.Delete(work, recursive: true);
        }
    }
}
