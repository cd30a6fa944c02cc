using Tiny.Runtime;
using Tiny.Runtime.Mounts;
using Tiny.Runtime.Plan;
using Tiny.Runtime.Spec;
using static Tiny.Interop.Mount;

namespace Tiny.Tests.Unit.Run;

public class MountRequestTests
{
    static readonly ContainerPlan.Channel Channel = new(SyncRead: 5, SyncWrite: 6, ErrorRead: 7, ErrorWrite: 8);

    static readonly MountRequest Volume = new("/data//./x/", "/srv/data", "bind", MS_BIND | MS_REC | MS_RDONLY, 0, null);
    static readonly MountRequest Scratch = new("/tmp", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, MS_PRIVATE, "size=1m");

    static IReadOnlyList<ChildStep> Steps(string? rootfs, params MountRequest[] mounts) => ContainerPlan.Build(new RunSpec
    {
        Id = "c1", Hostname = "box", Rootfs = rootfs, Command = ["true"], Env = [], Mounts = mounts,
    }, Channel, seccomp: null, signalMask: 0, lastCap: 40, networkMounts: []).Steps;

    [Test]
    public async Task Mounts_are_made_in_order_inside_the_rootfs_after_dev_and_before_pivot_root()
    {
        var steps = Steps("/srv/rootfs", Volume, Scratch);
        var mounts = steps.OfType<MountInRoot>().ToArray();
        await Assert.That(mounts).IsEquivalentTo(
        [
            new MountInRoot("/srv/rootfs", "/data/x", Volume with { Destination = "/data/x" }, CreateMissing: true),
            new MountInRoot("/srv/rootfs", "/tmp", Scratch, CreateMissing: true),
        ], CollectionOrdering.Matching);
        var first = steps.ToList().IndexOf(mounts[0]);
        var lastDev = steps.Select((s, i) => (s, i)).Last(p => p.s is MountStep m && m.Target.StartsWith("/srv/rootfs/dev")).i;
        await Assert.That(first).IsGreaterThan(lastDev);
        await Assert.That(steps.ToList().IndexOf(mounts[1])).IsEqualTo(first + 1);
        // Then, released by the parent, the child joins its cgroup (ContainerPlan) and pivots.
        await Assert.That(steps.Skip(first + 2).First(s => s is not (WaitForParent or CloseFd or JoinCgroup or Unshare)))
            .IsEqualTo(new PivotRoot("/srv/rootfs"));
    }

    [Test]
    public async Task In_the_hosts_root_mount_points_are_never_created()
    {
        var mount = Steps(null, Scratch).OfType<MountInRoot>().Single();
        await Assert.That(mount).IsEqualTo(new MountInRoot(RootfsSetup.HostRootMountPoint, "/tmp", Scratch, CreateMissing: false));
    }

    [Test]
    public async Task Binds_carry_ms_bind_and_their_other_flags_need_a_remount()
    {
        await Assert.That(Volume.IsBind).IsTrue();
        await Assert.That(Volume.RemountFlags).IsEqualTo(MS_RDONLY);
        var plainBind = new MountRequest("/a", "/b", "bind", MS_REC, 0, null);
        await Assert.That(plainBind.MountFlags).IsEqualTo(MS_BIND | MS_REC);
        await Assert.That(plainBind.RemountFlags).IsEqualTo(0UL);
        await Assert.That(Scratch.IsBind).IsFalse();
        await Assert.That(Scratch.MountFlags).IsEqualTo(MS_NOSUID | MS_NODEV);
        await Assert.That(Scratch.RemountFlags).IsEqualTo(0UL);
    }

    [Test]
    public async Task Destinations_are_cleaned_lexically_and_must_be_absolute_and_not_the_root()
    {
        await Assert.That(ContainerPath.Clean("/a//./b/../c/")).IsEqualTo("/a/c");
        await Assert.That(ContainerPath.Clean("/../../etc")).IsEqualTo("/etc");
        await Assert.That(ContainerPath.Clean("etc")).IsNull();
        await Assert.That(ContainerPath.RelativePrefixes("/a/b/c")).IsEquivalentTo(["a", "a/b", "a/b/c"], CollectionOrdering.Matching);
        await Assert.That(ContainerPath.Clean("/")).IsEqualTo("/");
        var relative = Assert.Throws<ContainerError>(() => Steps("/srv/rootfs", Scratch with { Destination = "tmp" }));
        await Assert.That(relative.Message).IsEqualTo("mount destination \"tmp\": must be an absolute path");
        var root = Assert.Throws<ContainerError>(() => Steps("/srv/rootfs", Scratch with { Destination = "/x/.." }));
        await Assert.That(root.Message).IsEqualTo("mount destination \"/x/..\": cannot mount over the container's root");
    }

    [Test]
    public async Task Symlinks_in_the_destination_are_followed_inside_the_rootfs_never_out_of_it()
    {
        var rootfs = Directory.CreateTempSubdirectory("tiny-links-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(rootfs, "real"));
            File.CreateSymbolicLink(Path.Combine(rootfs, "abs"), "/etc/host-only");
            File.CreateSymbolicLink(Path.Combine(rootfs, "up"), "../../../../etc");
            File.CreateSymbolicLink(Path.Combine(rootfs, "real", "sibling"), "../abs/x");
            File.CreateSymbolicLink(Path.Combine(rootfs, "loop"), "loop");
            await Assert.That(ContainerPath.FollowSymlinks(rootfs, "/abs/data")).IsEqualTo("/etc/host-only/data");
            await Assert.That(ContainerPath.FollowSymlinks(rootfs + "/", "/up/data")).IsEqualTo("/etc/data");
            await Assert.That(ContainerPath.FollowSymlinks(rootfs, "/real/sibling")).IsEqualTo("/etc/host-only/x");
            await Assert.That(ContainerPath.FollowSymlinks(rootfs, "/real/missing/a")).IsEqualTo("/real/missing/a");
            var loop = Assert.Throws<ContainerError>(() => ContainerPath.FollowSymlinks(rootfs, "/loop/a"));
            await Assert.That(loop.Message).IsEqualTo("mount destination /loop/a: too many levels of symbolic links");
            var step = Steps(rootfs, Scratch with { Destination = "/abs" }).OfType<MountInRoot>().Single();
            await Assert.That(step.Path).IsEqualTo("/etc/host-only");
            await Assert.That(step.Mount.Destination).IsEqualTo("/abs");
        }
        finally
        {
            Directory.Delete(rootfs, recursive: true);
        }
    }
}
