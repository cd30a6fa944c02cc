using Tiny.Runtime;
using Tiny.Runtime.Mounts;
using Tiny.Runtime.Spec;
using static Tiny.Interop.Mount;

namespace Tiny.Tests.Unit.Run;

public class MountOptionsTests
{
    static readonly string Existing = Path.GetTempPath().TrimEnd('/');

    static string FromWork(string path) => Path.GetFullPath(path, "/work-dir");

    static IReadOnlyList<MountRequest> Parse(string[]? volumes = null, string[]? tmpfs = null, string[]? mounts = null) =>
        MountOptions.Parse(volumes ?? [], tmpfs ?? [], mounts ?? [], Path.GetFullPath);

    [Test]
    public async Task A_volume_is_a_recursive_bind_read_only_with_ro()
    {
        await Assert.That(Parse([$"{Existing}:/data"])).IsEquivalentTo(
            [new MountRequest("/data", Existing, "bind", MS_BIND | MS_REC, 0, null)], CollectionOrdering.Matching);
        await Assert.That(Parse([$"{Existing}:/data/./x/:ro"]).Single()).IsEqualTo(new MountRequest("/data/x", Existing, "bind", MS_BIND | MS_REC | MS_RDONLY, 0, null));
        await Assert.That(Parse([$"{Existing}:/data:rw"]).Single().Flags).IsEqualTo(MS_BIND | MS_REC);
    }

    [Test]
    public async Task A_relative_host_path_is_resolved_against_the_working_directory()
    {
        var relative = Path.GetRelativePath(Directory.GetCurrentDirectory(), Existing);
        await Assert.That(Parse([$"{relative}:/data"]).Single().Source).IsEqualTo(Existing);
        var missing = Assert.Throws<ContainerError>(() => MountOptions.Volume("sub/dir:/data", FromWork));
        await Assert.That(missing.Message).IsEqualTo("volume sub/dir: no such file or directory");
    }

    [Test]
    public async Task A_tmpfs_is_noexec_nosuid_nodev_with_its_size_in_bytes_unless_told_otherwise()
    {
        await Assert.That(MountOptions.Tmpfs("/run")).IsEqualTo(new MountRequest("/run", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, null));
        await Assert.That(MountOptions.Tmpfs("/run:size=64m,mode=1777,exec,ro")).IsEqualTo(
            new MountRequest("/run", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, 0, "size=67108864,mode=1777"));
    }

    [Test]
    public async Task Mount_takes_dockers_field_names()
    {
        var bind = new MountRequest("/data", Existing, "bind", MS_BIND | MS_REC | MS_RDONLY, 0, null);
        await Assert.That(MountOptions.Mount($"type=bind,source={Existing},target=/data,readonly", Path.GetFullPath)).IsEqualTo(bind);
        await Assert.That(MountOptions.Mount($"type=bind,src={Existing},dst=/data,ro=true", Path.GetFullPath)).IsEqualTo(bind);
        await Assert.That(MountOptions.Mount($"type=bind,src={Existing},destination=/data,readonly=false", Path.GetFullPath).Flags).IsEqualTo(MS_BIND | MS_REC);
        await Assert.That(MountOptions.Mount("type=tmpfs,dst=/scratch,tmpfs-size=1k,tmpfs-mode=700", Path.GetFullPath)).IsEqualTo(
            new MountRequest("/scratch", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, "size=1024,mode=700"));
    }

    [Test]
    public async Task Mounts_are_ordered_parents_first_and_a_destination_is_used_once()
    {
        var mounts = Parse([$"{Existing}:/a/b/c"], ["/a"], [$"type=bind,src={Existing},dst=/a/b"]);
        await Assert.That(mounts.Select(m => m.Destination)).IsEquivalentTo(["/a", "/a/b", "/a/b/c"], CollectionOrdering.Matching);
        var duplicate = Assert.Throws<ContainerError>(() => Parse([$"{Existing}:/a/"], ["/a"]));
        await Assert.That(duplicate.Message).IsEqualTo("duplicate mount point /a");
    }

    [Test]
    [Arguments("-v", "/tmp", "invalid --volume \"/tmp\": expected HOST:CONTAINER[:ro|rw]")]
    [Arguments("-v", "/tmp:/a:rx", "invalid --volume \"/tmp:/a:rx\": mode \"rx\" is not ro or rw")]
    [Arguments("-v", "/tmp:a", "invalid --volume \"/tmp:a\": the container path must be absolute and not /")]
    [Arguments("-v", "/tmp:/..", "invalid --volume \"/tmp:/..\": the container path must be absolute and not /")]
    [Arguments("-v", "/nonexistent-volume:/a", "volume /nonexistent-volume: no such file or directory")]
    [Arguments("--tmpfs", "/a:size=lots", "invalid --tmpfs size \"lots\": expected a size such as 512M or 1G")]
    [Arguments("--tmpfs", "/a:mode=999", "invalid --tmpfs \"/a:mode=999\": mode \"999\" is not an octal file mode")]
    [Arguments("--tmpfs", "/a:nosy", "invalid --tmpfs \"/a:nosy\": unknown option \"nosy\"")]
    [Arguments("--tmpfs", "/a:uid=5", "invalid --tmpfs \"/a:uid=5\": unknown option \"uid=5\"")]
    [Arguments("--mount", "type=volume,dst=/a", "invalid --mount \"type=volume,dst=/a\": type must be bind or tmpfs")]
    [Arguments("--mount", "type=bind,dst=/a", "invalid --mount \"type=bind,dst=/a\": source is missing")]
    [Arguments("--mount", "type=tmpfs,src=/tmp", "invalid --mount \"type=tmpfs,src=/tmp\": target is missing")]
    [Arguments("--mount", "type=tmpfs,src=x,dst=/a", "invalid --mount \"type=tmpfs,src=x,dst=/a\": a tmpfs has no source")]
    [Arguments("--mount", "type=bind,src=/tmp,dst=/a,tmpfs-size=1m", "invalid --mount \"type=bind,src=/tmp,dst=/a,tmpfs-size=1m\": tmpfs options need type=tmpfs")]
    [Arguments("--mount", "type=bind,src=/tmp,dst=/a,ro=maybe", "invalid --mount \"type=bind,src=/tmp,dst=/a,ro=maybe\": ro takes true or false")]
    [Arguments("--mount", "type=bind,src=/tmp,dst=/a,bogus", "invalid --mount \"type=bind,src=/tmp,dst=/a,bogus\": unknown field \"bogus\"")]
    [Arguments("--mount", "type=bind,src=/nonexistent-src,dst=/a", "mount source /nonexistent-src: no such file or directory")]
    public async Task A_bad_spec_is_one_error_naming_it(string option, string spec, string message)
    {
        var options = new RunOptions { Command = ["true"] };
        options = option switch
        {
            "-v" => options with { Volumes = [spec] },
            "--tmpfs" => options with { Tmpfs = [spec] },
            _ => options with { Mounts = [spec] },
        };
        var error = Assert.Throws<ContainerError>(() => options.ToSpec(_ => null));
        await Assert.That(error.Message).IsEqualTo(message);
        await Assert.That(error.ExitCode).IsEqualTo(125);
    }

    [Test]
    public async Task Binds_from_tmp_are_refused_when_the_rootfs_is_the_hosts_root_whose_tmp_holds_the_staging_tmpfs()
    {
        var source = Directory.CreateDirectory($"/tmp/tiny-staged-{Guid.NewGuid():N}").FullName;
        try
        {
            var options = new RunOptions { Command = ["true"], Volumes = [$"{source}:/data"] };
            var error = Assert.Throws<ContainerError>(() => options.ToSpec(_ => null));
            await Assert.That(error.Message).IsEqualTo($"bind source {source}: /tmp is hidden when the rootfs is the host's root; use --rootfs");
            var withRootfs = (options with { Rootfs = source }).ToSpec(_ => null);
            await Assert.That(withRootfs.Mounts.Single().Source).IsEqualTo(source);
        }
        finally
        {
            Directory.Delete(source);
        }
    }
}
