namespace Tiny.Tests.Integration.Run;

/// <summary>-v/--volume, --tmpfs and --mount: what the container sees and what the host keeps.</summary>
public class MountTests
{
    [Before(Test)]
    public void Require() => Tiny.RequireRootAndBinary();

    static string HostDirectory(string prefix) => Directory.CreateTempSubdirectory(prefix).FullName;

    [Test]
    [NotInParallel("host-mounts")]
    public async Task A_file_written_to_a_volume_is_on_the_host_and_the_host_mounts_stay_as_they_were()
    {
        var host = HostDirectory("tiny-volume-");
        try
        {
            File.WriteAllText(Path.Combine(host, "in"), "from host\n");
            var mounts = Tiny.HostMounts();
            var relative = Path.GetRelativePath(Directory.GetCurrentDirectory(), host);
            var result = await Tiny.Sh("cat /data/in && echo from container > /data/out", "-v", $"{relative}:/data");
            await Assert.That(result.Stdout).IsEqualTo("from host\n");
            await Assert.That(result.ExitCode).IsEqualTo(0);
            await Assert.That(File.ReadAllText(Path.Combine(host, "out"))).IsEqualTo("from container\n");
            await Assert.That(Tiny.HostMounts()).IsEqualTo(mounts);
        }
        finally
        {
            Directory.Delete(host, recursive: true);
        }
    }

    [Test]
    [Arguments("-v", "{0}:/ro-data:ro")]
    [Arguments("--mount", "type=bind,src={0},dst=/ro-data,readonly")]
    public async Task A_read_only_volume_refuses_writes(string option, string spec)
    {
        var host = HostDirectory("tiny-volume-ro-");
        try
        {
            var result = await Tiny.Sh("ls /ro-data; echo x > /ro-data/out; grep ' /ro-data ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1",
                option, string.Format(spec, host));
            await Assert.That(result.Stderr).Contains("Read-only file system");
            await Assert.That(result.Stdout).IsEqualTo("ro\n");
            await Assert.That(File.Exists(Path.Combine(host, "out"))).IsFalse();
        }
        finally
        {
            Directory.Delete(host, recursive: true);
        }
    }

    [Test]
    public async Task A_tmpfs_has_the_size_and_mode_asked_for()
    {
        var result = await Tiny.Sh("grep -E ' /(scratch|small) ' /proc/mounts; df -k /scratch /small | tail -n +2 | awk '{print $2, $6}'; stat -c %a /scratch",
            "--tmpfs", "/scratch:size=2m,mode=750", "--mount", "type=tmpfs,dst=/small,tmpfs-size=64k");
        await Assert.That(result.ExitCode).IsEqualTo(0);
        await Assert.That(result.Stdout).IsEqualTo(
            "tmpfs /scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=2048k,mode=750 0 0\n" +
            "tmpfs /small tmpfs rw,nosuid,nodev,noexec,relatime,size=64k 0 0\n" +
            "2048 /scratch\n64 /small\n750\n");
    }

    [Test]
    public async Task A_symlink_in_the_rootfs_pointing_out_of_it_leads_the_mount_into_the_rootfs()
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var outside = HostDirectory($"tiny-escape-{id}-");
        var source = HostDirectory("tiny-source-");
        var rootfs = BusyboxRootfs.Path;
        var absolute = Path.Combine(rootfs, $"abs-{id}");
        var relative = Path.Combine(rootfs, $"rel-{id}");
        var inside = Path.Combine(rootfs, outside.TrimStart('/'));
        try
        {
            File.WriteAllText(Path.Combine(source, "marker"), "marker\n");
            File.CreateSymbolicLink(absolute, outside);
            File.CreateSymbolicLink(relative, "../../../../../../../.." + outside);
            var result = await Tiny.Sh($"cat /abs-{id}/dir/marker /rel-{id}/file",
                "-v", $"{source}:/abs-{id}/dir", "--volume", $"{source}/marker:/rel-{id}/file:ro");
            await Assert.That(result.Stdout).IsEqualTo("marker\nmarker\n");
            await Assert.That(Directory.EnumerateFileSystemEntries(outside)).IsEmpty();
            await Assert.That(Directory.Exists(Path.Combine(inside, "dir"))).IsTrue();
            await Assert.That(new FileInfo(Path.Combine(inside, "file")).Length).IsEqualTo(0);
        }
        finally
        {
            File.Delete(absolute);
            File.Delete(relative);
            if (Directory.Exists(inside)) Directory.Delete(inside, recursive: true);
            Directory.Delete(outside, recursive: true);
            Directory.Delete(source, recursive: true);
        }
    }

    [Test]
    [NotInParallel("host-mounts")]
    [Arguments("-v", "/nonexistent-volume:/data", "volume /nonexistent-volume: no such file or directory")]
    [Arguments("-v", "/tmp:/data:rx", "invalid --volume \"/tmp:/data:rx\": mode \"rx\" is not ro or rw")]
    [Arguments("--tmpfs", "/scratch:size=lots", "invalid --tmpfs size \"lots\": expected a size such as 512M or 1G")]
    [Arguments("--mount", "type=volume,dst=/data", "invalid --mount \"type=volume,dst=/data\": type must be bind or tmpfs")]
    [Arguments("-v", "/etc/passwd:/bin", "mount /etc/passwd on /bin: not a directory")]
    public async Task A_bad_mount_is_one_line_exit_125_and_leaves_no_mount(string option, string spec, string message)
    {
        var mounts = Tiny.HostMounts();
        var result = await Tiny.Sh("true", "--tmpfs", "/before", option, spec);
        await Assert.That(result.Stderr).IsEqualTo($"tiny: {message}\n");
        await Assert.That(result.ExitCode).IsEqualTo(125);
        await Assert.That(Tiny.HostMounts()).IsEqualTo(mounts);
    }
}
