using System.Runtime.InteropServices;
using Tiny.Interop;
using Tiny.Runtime.Launch;
using Tiny.Runtime.Mounts;
using Tiny.Runtime.Plan;
using Tiny.Runtime.Spec;

namespace Tiny.Tests.Unit.Run;

public class UserNamespacePlanTests
{
    static readonly ContainerPlan.Channel Channel = new(SyncRead: 5, SyncWrite: 6, ErrorRead: 7, ErrorWrite: 8, RootfsSocket: 11);

    static readonly UserNamespace Leased = UserNamespace.Leased(2147483648);

    static RunSpec Spec(UserNamespace? userns) => new()
    {
        Id = "c1", Hostname = "box", Rootfs = "/srv/rootfs", Command = ["sh"], Env = ["PATH=/bin"], UserNamespace = userns,
        IdMappedRootfs = userns is not null,
    };

    static ContainerPlan Build(UserNamespace? userns) => BuildSpec(Spec(userns));

    static ContainerPlan BuildSpec(RunSpec spec) => ContainerPlan.Build(spec, Channel, null, signalMask: 0, lastCap: 40, []);

    static int IndexOf(ContainerPlan plan, ChildStep step) => plan.Steps.ToList().IndexOf(step);

    [Test]
    public async Task A_user_namespace_is_cloned_with_the_others()
    {
        await Assert.That(Build(Leased).CloneFlags & Namespace.CLONE_NEWUSER).IsEqualTo(Namespace.CLONE_NEWUSER);
        await Assert.That(Build(Leased).CloneFlags & ~Namespace.CLONE_NEWUSER).IsEqualTo(Build(null).CloneFlags);
        await Assert.That(Build(null).CloneFlags & Namespace.CLONE_NEWUSER).IsEqualTo(0UL);
    }

    [Test]
    public async Task Once_released_the_child_becomes_the_containers_root_without_host_groups_and_rearms_the_death_signal()
    {
        var plan = Build(Leased);
        var released = IndexOf(plan, new CloseFd(5));
        await Assert.That(released).IsGreaterThan(IndexOf(plan, new WaitForParent(5)));
        ChildStep[] becomeRoot = [new SetGroups([]), new SetGid(0), new SetUid(0), new SetParentDeathSignal(Process.SIGKILL)];
        var start = IndexOf(plan, becomeRoot[0]);
        await Assert.That(start).IsGreaterThan(released);
        await Assert.That(plan.Steps.Skip(start).Take(4)).IsEquivalentTo(becomeRoot, CollectionOrdering.Matching);
        await Assert.That(start).IsLessThan(plan.Steps.ToList().FindIndex(s => s is MountStep));
        await Assert.That(Build(null).Steps.OfType<SetUid>().Count()).IsEqualTo(1);
    }

    [Test]
    public async Task The_parent_death_signal_is_set_again_after_the_last_change_of_ids()
    {
        foreach (var userns in new[] { Leased, null })
        {
            var steps = Build(userns).Steps.ToList();
            await Assert.That(steps[steps.FindLastIndex(s => s is SetUid) + 1]).IsEqualTo(new SetParentDeathSignal(Process.SIGKILL));
        }
    }

    [Test]
    public async Task The_id_mapped_rootfs_received_from_the_parent_takes_the_place_of_the_rbind()
    {
        var plan = Build(Leased);
        var received = IndexOf(plan, new MountReceivedTree(11, "/srv/rootfs"));
        await Assert.That(received).IsGreaterThan(IndexOf(plan, new MountStep(null, "/", null, Mount.MS_REC | Mount.MS_PRIVATE)));
        await Assert.That(received).IsLessThan(plan.Steps.ToList().FindIndex(s => s is MountStep { FsType: "proc" }));
        await Assert.That(plan.Steps.OfType<MountStep>().Where(m => m.Target == "/srv/rootfs")).IsEmpty();
        await Assert.That(Build(null).Steps.OfType<MountReceivedTree>()).IsEmpty();
        await Assert.That(Build(null).Steps).Contains(new MountStep("/srv/rootfs", "/srv/rootfs", null, Mount.MS_BIND | Mount.MS_REC));
    }

    [Test]
    public async Task Without_an_id_mapped_rootfs_the_child_binds_the_rootfs_as_it_is()
    {
        var plan = BuildSpec(Spec(Leased) with { IdMappedRootfs = false });
        await Assert.That(plan.Steps.OfType<MountReceivedTree>()).IsEmpty();
        await Assert.That(plan.Steps).Contains(new MountStep("/srv/rootfs", "/srv/rootfs", null, Mount.MS_BIND | Mount.MS_REC));
        await Assert.That(plan.CloneFlags & Namespace.CLONE_NEWUSER).IsEqualTo(Namespace.CLONE_NEWUSER);
    }

    [Test]
    public async Task With_the_hosts_network_sysfs_cannot_be_mounted_and_the_hosts_sys_is_bound_read_only()
    {
        const ulong locked = Mount.MS_RDONLY | Mount.MS_NOSUID | Mount.MS_NODEV | Mount.MS_NOEXEC;
        var hostNetwork = Spec(Leased) with { Network = NetworkMode.Host };
        var sys = BuildSpec(hostNetwork).Steps.OfType<MountStep>().Where(m => m.Target == "/srv/rootfs/sys").ToArray();
        await Assert.That(sys).IsEquivalentTo([new MountStep("/sys", "/srv/rootfs/sys", null, Mount.MS_BIND | Mount.MS_REC),
            new MountStep(null, "/srv/rootfs/sys", null, Mount.MS_BIND | Mount.MS_REMOUNT | locked)], CollectionOrdering.Matching);
        await Assert.That(Build(Leased).Steps.OfType<MountStep>().Single(m => m.Target == "/srv/rootfs/sys").FsType).IsEqualTo("sysfs");
        await Assert.That(BuildSpec(Spec(null) with { Network = NetworkMode.Host }).Steps.OfType<MountStep>().Single(m => m.Target == "/srv/rootfs/sys").FsType)
            .IsEqualTo("sysfs");
    }

    [Test]
    public async Task Devices_are_the_hosts_bound_onto_new_files_instead_of_made_with_mknod()
    {
        string[] names = ["null", "zero", "full", "random", "urandom", "tty"];
        var plan = Build(Leased);
        await Assert.That(plan.Steps.OfType<MakeDevice>()).IsEmpty();
        var binds = plan.Steps.OfType<MountInRoot>().ToArray();
        await Assert.That(binds.Select(b => b.Path)).IsEquivalentTo(names.Select(n => "/dev/" + n), CollectionOrdering.Matching);
        foreach (var bind in binds)
        {
            await Assert.That(bind.Root).IsEqualTo("/srv/rootfs");
            await Assert.That(bind.CreateMissing).IsTrue();
            await Assert.That(bind.Mount).IsEqualTo(new MountRequest(bind.Path, bind.Path, "bind", Mount.MS_BIND, 0, null));
        }
        var devTmpfs = plan.Steps.ToList().FindIndex(s => s is MountStep { Target: "/srv/rootfs/dev", FsType: "tmpfs" });
        await Assert.That(IndexOf(plan, binds[0])).IsGreaterThan(devTmpfs);
        await Assert.That(Build(null).Steps.OfType<MakeDevice>().Count()).IsEqualTo(names.Length);
    }

    [Test]
    public async Task Devpts_names_the_tty_group_only_when_the_gid_map_maps_gid_5()
    {
        static string DevptsData(UserNamespace? userns) => Build(userns).Steps.OfType<MountStep>().Single(m => m.FsType == "devpts").Data!;
        await Assert.That(DevptsData(null)).EndsWith(",gid=5");
        await Assert.That(DevptsData(Leased)).EndsWith(",gid=5");
        await Assert.That(DevptsData(new UserNamespace([new(0, 100000, 65536)], [new(0, 100000, 5)]))).IsEqualTo("newinstance,ptmxmode=0666,mode=0620");
    }

    [Test]
    public async Task The_received_tree_is_laid_out_with_its_socket_and_target()
    {
        using var native = new NativePlan([new MountReceivedTree(11, "/srv/rootfs")], errorFd: 4);
        var step = ReadStep(native);
        await Assert.That(step.Op).IsEqualTo(NativePlan.Op.MountReceivedTree);
        await Assert.That(step.A).IsEqualTo(11L);
        await Assert.That(Marshal.PtrToStringUTF8((nint)step.B)).IsEqualTo("/srv/rootfs");
    }

    static unsafe NativePlan.Step ReadStep(NativePlan native) => native.Plan->Steps[0];
}
