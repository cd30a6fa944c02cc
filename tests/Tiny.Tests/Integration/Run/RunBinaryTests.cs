namespace Tiny.Tests.Integration.Run;

/// <summary>
/// CVE-2019-5736 for tiny run. With --init the container's PID 1 is tiny's own code, so its /proc/1/exe is tiny's
/// binary for the container's whole life, and any process in the container may open it (and pass the fd to one
/// that outlives the container, which then writes): tiny run --init runs from a read-only bind of its binary, laid
/// over the binary's own path in a mount namespace of its own, so the monitor is still found by its exe. Without
/// --init the command is reached through the exec trampoline, and tiny stays on the host's mount.
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

    [Test]
    public async Task A_command_whose_interpreter_is_proc_self_exe_never_runs_tinys_binary_and_the_monitor_stays_on_the_hosts_mounts()
    {
        var work = Directory.CreateTempSubdirectory("tiny-run-exe-").FullName;
        try
        {
            // What a container puts where its command is: the kernel runs the interpreter /proc/self/exe, whatever
            // binary the process that execs it is. tiny's would print its usage (it is given "--version /out/evil");
            // the trampoline refuses, silently, with status 1.
            File.WriteAllText(Path.Combine(work, "evil"), "#!/proc/self/exe --version\n");
            File.SetUnixFileMode(Path.Combine(work, "evil"), UnixFileMode.UserRead | UnixFileMode.UserExecute);
            var run = await Tiny.Run("run", "--net", "none", "-v", $"{work}:/out", "--rootfs", BusyboxRootfs.Path, "--", "/out/evil");
            await Assert.That(run.Stdout).IsEmpty();
            await Assert.That(run.Stderr).IsEmpty();
            await Assert.That(run.ExitCode).IsEqualTo(1);

            // The monitor of a command without --init was not re-executed: it shares the host's mount namespace.
            var name = Tiny.UniqueName("exe");
            var pidFile = Path.Combine(work, "pid");
            try
            {
                var detached = await Tiny.Run("run", "-d", "--name", name, "--pid-file", pidFile, "--net", "none", "--rootfs", BusyboxRootfs.Path,
                    "--", "/bin/sleep", "60");
                await Assert.That(detached.ExitCode).IsEqualTo(0);
                var monitor = int.Parse(File.ReadAllText(pidFile).Trim());
                await Assert.That(new FileInfo($"/proc/{monitor}/ns/mnt").LinkTarget).IsEqualTo(new FileInfo("/proc/self/ns/mnt").LinkTarget);
            }
            finally
            {
                await Tiny.Run("rm", "-f", name);
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
