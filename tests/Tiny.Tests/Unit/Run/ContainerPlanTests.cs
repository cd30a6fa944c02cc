using Tiny.Interop;
using Tiny.Runtime.Launch;
using Tiny.Runtime.Mounts;
using Tiny.Runtime.Plan;
using Tiny.Runtime.Security;
using Tiny.Runtime.Spec;

namespace Tiny.Tests.Unit.Run;

public class ContainerPlanTests
{
    static readonly ContainerPlan.Channel Channel = new(SyncRead: 5, SyncWrite: 6, ErrorRead: 7, ErrorWrite: 8);

    static RunSpec Spec(string? rootfs = "/srv/rootfs", NetworkMode network = NetworkMode.None, bool readOnly = false) => new()
    {
        Id = "c1", Hostname = "box", Rootfs = rootfs, ReadonlyRootfs = readOnly, Command = ["sh", "-c", "true"],
        Env = ["PATH=/usr/bin:/bin", "HOME=/root"], Network = network, Uid = 1000, Gid = 100, AdditionalGids = [100, 7],
    };

    static ContainerPlan Build(RunSpec spec, byte[]? seccomp = null, IReadOnlyList<MountRequest>? networkMounts = null) =>
        ContainerPlan.Build(spec, Channel, seccomp, signalMask: 0, lastCap: 40, networkMounts ?? []);

    static int IndexOf<T>(ContainerPlan plan, Func<T, bool>? match = null) where T : ChildStep =>
        plan.Steps.Select((s, i) => (s, i)).First(p => p.s is T t && (match is null || match(t))).i;

    [Test]
    public async Task Namespaces_are_new_and_the_network_one_only_without_host_networking()
    {
        var flags = Namespace.CLONE_NEWNS | Namespace.CLONE_NEWUTS | Namespace.CLONE_NEWIPC | Namespace.CLONE_NEWPID;
        await Assert.That(Build(Spec()).CloneFlags).IsEqualTo(flags | Namespace.CLONE_NEWNET);
        await Assert.That(Build(Spec(network: NetworkMode.Host)).CloneFlags).IsEqualTo(flags);
        await Assert.That(Build(Spec(network: NetworkMode.Host)).Steps.OfType<BringLoopbackUp>()).IsEmpty();
    }

    [Test]
    public async Task Namespaces_made_ahead_are_received_and_entered_first_in_sending_order_instead_of_cloned()
    {
        const ulong ahead = Namespace.CLONE_NEWNET | Namespace.CLONE_NEWIPC | Namespace.CLONE_NEWUTS;
        var plan = ContainerPlan.Build(Spec(), Channel, null, signalMask: 0, lastCap: 40, [], madeAhead: new(11, ahead));
        await Assert.That(plan.CloneFlags).IsEqualTo(Namespace.CLONE_NEWNS | Namespace.CLONE_NEWPID);
        var enter = IndexOf<EnterReceivedNamespace>(plan);
        ChildStep[] received = [new EnterReceivedNamespace(11, Namespace.CLONE_NEWNET), new EnterReceivedNamespace(11, Namespace.CLONE_NEWIPC),
            new EnterReceivedNamespace(11, Namespace.CLONE_NEWUTS), new CloseFd(11)];
        await Assert.That(plan.Steps.Skip(enter).Take(4)).IsEquivalentTo(received, CollectionOrdering.Matching);
        await Assert.That(NamespacesAhead.SendingOrder.ToArray()).IsEquivalentTo(
            [Namespace.CLONE_NEWNET, Namespace.CLONE_NEWIPC, Namespace.CLONE_NEWUTS], CollectionOrdering.Matching);
        await Assert.That(plan.Steps.Take(enter).All(s => s is SetParentDeathSignal or CloseFd)).IsTrue();
        await Assert.That(IndexOf<MountStep>(plan)).IsGreaterThan(enter + 3);
        // The thread that made the network namespace brought lo up in it.
        await Assert.That(plan.Steps.OfType<BringLoopbackUp>()).IsEmpty();

        var host = ContainerPlan.Build(Spec(network: NetworkMode.Host), Channel, null, signalMask: 0, lastCap: 40, [],
            madeAhead: new(11, Namespace.CLONE_NEWIPC | Namespace.CLONE_NEWUTS));
        await Assert.That(host.CloneFlags).IsEqualTo(Namespace.CLONE_NEWNS | Namespace.CLONE_NEWPID);
        await Assert.That(host.Steps.OfType<EnterReceivedNamespace>().Select(s => s.Type))
            .IsEquivalentTo([Namespace.CLONE_NEWIPC, Namespace.CLONE_NEWUTS], CollectionOrdering.Matching);
        // Cloned, the network namespace gets lo up from the child.
        await Assert.That(Build(Spec()).Steps.OfType<BringLoopbackUp>()).IsNotEmpty();
    }

    [Test]
    public async Task The_last_capability_the_bounding_set_is_dropped_to_is_the_kernels()
    {
        var kernels = int.Parse(File.ReadAllText("/proc/sys/kernel/cap_last_cap").Trim());
        await Assert.That(ContainerLauncher.LastCapability()).IsEqualTo(kernels);
    }

    [Test]
    public async Task Namespaces_are_made_ahead_only_without_a_user_namespace_of_the_containers()
    {
        var userNamespace = Spec() with { UserNamespace = UserNamespace.Leased(2147483648) };
        await Assert.That(NamespacesAhead.TypesFor(userNamespace)).IsEqualTo(0UL);
        if (!Process.IsHostRoot()) return;
        await Assert.That(NamespacesAhead.TypesFor(Spec()))
            .IsEqualTo(Namespace.CLONE_NEWNET | Namespace.CLONE_NEWIPC | Namespace.CLONE_NEWUTS);
        await Assert.That(NamespacesAhead.TypesFor(Spec(network: NetworkMode.Host))).IsEqualTo(Namespace.CLONE_NEWIPC | Namespace.CLONE_NEWUTS);
    }

    [Test]
    public async Task A_terminal_is_opened_as_the_containers_user_in_its_workdir_before_fds_close()
    {
        var plan = ContainerPlan.Build(Spec() with { Tty = true }, Channel with { TerminalSocket = 9, TerminalSize = new() { Rows = 24, Columns = 80 } },
            null, signalMask: 0, lastCap: 40, []);
        var terminal = IndexOf<OpenTerminal>(plan);
        await Assert.That(plan.Steps[terminal]).IsEqualTo(new OpenTerminal(9, 24, 80));
        await Assert.That(terminal).IsGreaterThan(IndexOf<SetUid>(plan)).And.IsGreaterThan(IndexOf<ChangeDirectory>(plan))
            .And.IsLessThan(IndexOf<CloseFdsOnExec>(plan));
        await Assert.That(Build(Spec()).Steps.OfType<OpenTerminal>()).IsEmpty();
    }

    [Test]
    public async Task A_terminal_without_a_size_of_tinys_own_starts_at_the_configs_console_size()
    {
        var spec = Spec() with { Tty = true, ConsoleSize = new() { Rows = 30, Columns = 100 } };
        await Assert.That(ContainerPlan.Build(spec, Channel with { TerminalSocket = 9 }, null, signalMask: 0, lastCap: 40, [])
            .Steps.OfType<OpenTerminal>().Single()).IsEqualTo(new OpenTerminal(9, 30, 100));
        await Assert.That(ContainerPlan.Build(spec, Channel with { TerminalSocket = 9, TerminalSize = new() { Rows = 24, Columns = 80 } }, null,
            signalMask: 0, lastCap: 40, []).Steps.OfType<OpenTerminal>().Single()).IsEqualTo(new OpenTerminal(9, 24, 80));
    }

    [Test]
    public async Task A_bridge_network_gets_a_namespace_whose_lo_the_parent_brings_up_and_its_etc_files_bound_before_pivot()
    {
        var hosts = new MountRequest("/etc/hosts", "/run/tiny/net/containers/c1/hosts", "bind", Mount.MS_BIND, 0, null);
        var volume = new MountRequest("/data", "/srv/data", "bind", Mount.MS_BIND | Mount.MS_REC, 0, null);
        var plan = Build(Spec(network: NetworkMode.Bridge) with { Mounts = [volume] }, networkMounts: [hosts]);
        await Assert.That(plan.CloneFlags & Namespace.CLONE_NEWNET).IsEqualTo(Namespace.CLONE_NEWNET);
        await Assert.That(plan.Steps.OfType<BringLoopbackUp>()).IsEmpty();
        // Resolved inside the rootfs like any mount (MountInRoot), before the spec's own mounts.
        await Assert.That(plan.Steps.OfType<MountInRoot>().Select(m => m.Mount)).IsEquivalentTo([hosts, volume], CollectionOrdering.Matching);
        await Assert.That(IndexOf<MountInRoot>(plan)).IsLessThan(IndexOf<PivotRoot>(plan));
    }

    static readonly string[] MembershipFiles = ["/sys/fs/cgroup/memory/tiny-c1/tasks", "/sys/fs/cgroup/pids/tiny-c1/tasks"];

    [Test]
    public async Task The_child_makes_its_mounts_while_the_parent_works_and_is_released_into_its_cgroup_just_before_pivot_root()
    {
        var spec = Spec() with { Namespaces = [new(Namespace.CLONE_NEWNS), new(Namespace.CLONE_NEWCGROUP), new(Namespace.CLONE_NEWNET, "/proc/7/ns/net")] };
        var plan = ContainerPlan.Build(spec, Channel, null, signalMask: 0, lastCap: 40, [], cgroupMembershipFiles: MembershipFiles);
        var wait = IndexOf<WaitForParent>(plan, w => w.Fd == 5);
        await Assert.That(plan.Steps.Take(3)).IsEquivalentTo([(ChildStep)new SetParentDeathSignal(Process.SIGKILL), new CloseFd(6), new CloseFd(7)],
            CollectionOrdering.Matching);
        await Assert.That(IndexOf<JoinNamespace>(plan)).IsLessThan(IndexOf<MountStep>(plan));
        await Assert.That(IndexOf<MountStep>(plan)).IsLessThan(wait);
        // Released, it moves into its cgroup while the host's cgroup files are still in view, then makes that its root.
        await Assert.That(plan.Steps.Skip(wait + 1).Take(5)).IsEquivalentTo(
            [(ChildStep)new CloseFd(5), new JoinCgroup(MembershipFiles[0]), new JoinCgroup(MembershipFiles[1]),
                new Unshare(Namespace.CLONE_NEWCGROUP), new PivotRoot("/srv/rootfs")],
            CollectionOrdering.Matching);
    }

    [Test]
    public async Task Where_something_before_pivot_root_needs_the_parent_nothing_happens_before_it_releases_the_child()
    {
        foreach (var spec in new[]
        {
            Spec() with { CgroupMountFlags = Mount.MS_RDONLY },
            Spec() with { Namespaces = [new(Namespace.CLONE_NEWNS, "/proc/7/ns/mnt"), new(Namespace.CLONE_NEWCGROUP)] },
            Spec(network: NetworkMode.Bridge) with
            {
                Bridge = new BridgeOptions(null, null, []), Sysctl = [new("net.ipv4.conf.eth0.forwarding", "1")],
                Namespaces = [new(Namespace.CLONE_NEWNS), new(Namespace.CLONE_NEWNET), new(Namespace.CLONE_NEWCGROUP)],
            },
        })
        {
            var plan = ContainerPlan.Build(spec, Channel, null, signalMask: 0, lastCap: 40, [], cgroupMembershipFiles: MembershipFiles);
            var wait = IndexOf<WaitForParent>(plan, w => w.Fd == 5);
            await Assert.That(plan.Steps.Take(wait).All(s => s is SetParentDeathSignal or CloseFd)).IsTrue();
            await Assert.That(plan.Steps.Skip(wait + 1).Take(3)).IsEquivalentTo(
                [(ChildStep)new CloseFd(5), new JoinCgroup(MembershipFiles[0]), new JoinCgroup(MembershipFiles[1])], CollectionOrdering.Matching);
            await Assert.That(IndexOf<Unshare>(plan)).IsGreaterThan(wait + 3);
            await Assert.That(plan.Steps.Select((step, i) => (step, i)).First(p => p.step is MountStep or JoinNamespace).i).IsGreaterThan(wait + 3);
        }
        await Assert.That(Build(Spec()).Steps.OfType<JoinCgroup>()).IsEmpty();
    }

    [Test]
    public async Task Only_a_child_that_needs_nothing_of_the_parent_until_it_execs_is_released_before_clone()
    {
        await Assert.That(Build(Spec()).ReleasedBeforeClone).IsTrue();
        await Assert.That(Build(Spec(network: NetworkMode.Host) with { Tty = true }).ReleasedBeforeClone).IsTrue();
        var prestart = new ContainerHooks(new Dictionary<HookKind, IReadOnlyList<Hook>> { [HookKind.Prestart] = [new Hook("/h", [], null, null)] });
        foreach (var spec in new[]
        {
            Spec() with { Init = true },
            Spec() with { OomScoreAdj = 100 },
            Spec() with { Hooks = prestart },
            Spec() with { CgroupMountFlags = Mount.MS_RDONLY },
            Spec() with { UserNamespace = UserNamespace.Leased(2147483648) },
            Spec() with { Namespaces = [new(Namespace.CLONE_NEWNS), new(Namespace.CLONE_NEWPID, "/proc/7/ns/pid")] },
            Spec(network: NetworkMode.Bridge) with { Bridge = new BridgeOptions(null, null, []) },
        })
            await Assert.That(Build(spec).ReleasedBeforeClone).IsFalse();
        var created = ContainerPlan.Build(Spec(), Channel, null, signalMask: 0, lastCap: 40, [], execFifo: "/exec.fifo");
        await Assert.That(created.ReleasedBeforeClone).IsFalse();
        var withContainerHooks = ContainerPlan.Build(Spec(), Channel with { Hooks = new([3], [4], 9) }, null, signalMask: 0, lastCap: 40, []);
        await Assert.That(withContainerHooks.ReleasedBeforeClone).IsFalse();
    }

    [Test]
    public async Task The_rootfs_is_bound_then_proc_sys_dev_mounted_inside_it_before_pivot_root()
    {
        var plan = Build(Spec());
        await Assert.That(plan.Steps.OfType<MountStep>().First()).IsEqualTo(new MountStep(null, "/", null, Mount.MS_REC | Mount.MS_PRIVATE));
        var bind = IndexOf<MountStep>(plan, m => m.Target == "/srv/rootfs");
        await Assert.That(((MountStep)plan.Steps[bind]).Flags).IsEqualTo(Mount.MS_BIND | Mount.MS_REC);
        var pivot = IndexOf<PivotRoot>(plan);
        await Assert.That(plan.Steps[pivot]).IsEqualTo(new PivotRoot("/srv/rootfs"));
        foreach (var target in new[] { "/srv/rootfs/proc", "/srv/rootfs/sys", "/srv/rootfs/dev", "/srv/rootfs/dev/pts", "/srv/rootfs/dev/shm", "/srv/rootfs/dev/mqueue" })
        {
            var at = IndexOf<MountStep>(plan, m => m.Target == target);
            await Assert.That(at).IsGreaterThan(bind).And.IsLessThan(pivot);
        }
        var sys = plan.Steps.OfType<MountStep>().Single(m => m.FsType == "sysfs");
        await Assert.That(sys.Flags & Mount.MS_RDONLY).IsEqualTo(Mount.MS_RDONLY);
        var devpts = plan.Steps.OfType<MountStep>().Single(m => m.FsType == "devpts");
        await Assert.That(devpts.Data).Contains("newinstance");
        await Assert.That(plan.Steps).Contains(new Symlink("pts/ptmx", "/srv/rootfs/dev/ptmx"));
        await Assert.That(plan.Steps.OfType<MakeDevice>().Select(d => d.Path[("/srv/rootfs/dev/".Length)..]))
            .IsEquivalentTo(["null", "zero", "full", "random", "urandom", "tty"], CollectionOrdering.Matching);
        await Assert.That(plan.Steps.OfType<RemountReadonly>()).IsEmpty();
    }

    [Test]
    public async Task Masked_and_read_only_paths_are_applied_after_pivot_root()
    {
        var plan = Build(Spec(readOnly: true));
        var pivot = IndexOf<PivotRoot>(plan);
        foreach (var path in new[] { "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/scsi", "/proc/acpi", "/sys/firmware" })
            await Assert.That(IndexOf<MaskPath>(plan, m => m.Path == path)).IsGreaterThan(pivot);
        foreach (var path in new[] { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger" })
            await Assert.That(IndexOf<ReadonlyPath>(plan, m => m.Path == path)).IsGreaterThan(pivot);
        await Assert.That(IndexOf<RemountReadonly>(plan, r => r.Path == "/")).IsGreaterThan(pivot);
    }

    [Test]
    public async Task The_hosts_root_is_bound_non_recursively_in_a_private_tmpfs_and_made_read_only()
    {
        var plan = Build(Spec(rootfs: null));
        var staging = IndexOf<MountStep>(plan, m => m.Target == "/tmp" && m.FsType == "tmpfs");
        var bind = IndexOf<MountStep>(plan, m => m.Source == "/" && m.Target == "/tmp/tiny-root");
        await Assert.That(((MountStep)plan.Steps[bind]).Flags).IsEqualTo(Mount.MS_BIND);
        await Assert.That(bind).IsGreaterThan(staging);
        await Assert.That(plan.Steps).Contains(new PivotRoot("/tmp/tiny-root"));
        await Assert.That(plan.Steps).Contains(new RemountReadonly("/"));
    }

    [Test]
    public async Task Privileges_are_dropped_in_order_and_seccomp_is_the_last_step_before_exec()
    {
        var caps = CapabilitySet.DockerDefault.Mask;
        var plan = Build(Spec(), seccomp: new byte[16]);
        var order = new[]
        {
            IndexOf<DropBoundingSet>(plan, d => d.Keep == caps && d.LastCap == 40),
            IndexOf<SetKeepCapabilities>(plan, k => k.Keep),
            IndexOf<SetGroups>(plan, g => g.Gids.SequenceEqual([100u, 7u])),
            IndexOf<SetGid>(plan, g => g.Gid == 100),
            IndexOf<SetUid>(plan, u => u.Uid == 1000),
            IndexOf<SetKeepCapabilities>(plan, k => !k.Keep),
            IndexOf<SetCapabilities>(plan, c => c.Effective == caps && c.Permitted == caps && c.Inheritable == caps),
            IndexOf<ClearAmbientCapabilities>(plan),
            IndexOf<SetNoNewPrivileges>(plan),
            IndexOf<CloseFdsOnExec>(plan, c => c.FirstFd == 3),
            IndexOf<LoadSeccompFilter>(plan),
            IndexOf<Exec>(plan),
        };
        await Assert.That(order).IsInOrder();
        await Assert.That(order[^1]).IsEqualTo(plan.Steps.Count - 1);
        await Assert.That(order[^2]).IsEqualTo(plan.Steps.Count - 2);
        await Assert.That(Build(Spec()).Steps.OfType<LoadSeccompFilter>()).IsEmpty();
    }

    [Test]
    public async Task Exec_walks_the_containers_path_like_execvp()
    {
        var exec = Build(Spec()).Steps.OfType<Exec>().Single();
        await Assert.That(exec.Candidates).IsEquivalentTo(["/usr/bin/sh", "/bin/sh"], CollectionOrdering.Matching);
        await Assert.That(exec.Argv).IsEquivalentTo(["sh", "-c", "true"], CollectionOrdering.Matching);
        await Assert.That(ContainerPlan.ExecCandidates("./run.sh", [])).IsEquivalentTo(["./run.sh"], CollectionOrdering.Matching);
        await Assert.That(ContainerPlan.ExecCandidates("x", ["PATH=/a/:"])).IsEquivalentTo(["/a/x", "./x"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task With_init_pid_1_forks_after_all_setup_and_the_command_alone_loads_seccomp_and_execs()
    {
        var plan = Build(Spec() with { Init = true }, seccomp: new byte[16]);
        var init = IndexOf<RunAsInit>(plan);
        await Assert.That(plan.Steps[init]).IsEqualTo(new RunAsInit(FirstFdToClose: 3));
        await Assert.That(init).IsEqualTo(IndexOf<CloseFdsOnExec>(plan) + 1);
        await Assert.That(plan.Steps.Skip(init + 1).Select(s => s.GetType().Name))
            .IsEquivalentTo([nameof(LoadSeccompFilter), nameof(Exec)], CollectionOrdering.Matching);
        await Assert.That(Build(Spec()).Steps.OfType<RunAsInit>()).IsEmpty();
        await Assert.That(Build(Spec() with { Init = true, Tty = true }).Steps.OfType<RunAsInit>().Single().TakeTerminal).IsTrue();
    }

    [Test]
    public async Task A_tmpcopyup_tmpfs_is_attached_in_its_place_among_the_mounts_by_the_fd_the_child_inherits()
    {
        var volume = new MountRequest("/data", "/srv/data", "bind", Mount.MS_BIND | Mount.MS_REC, 0, null);
        var copied = new MountRequest("/run", "tmpfs", "tmpfs", Mount.MS_NOSUID, Mount.MS_REC | Mount.MS_PRIVATE, null) { CopyUp = true };
        var spec = Spec() with { Mounts = [volume, copied] };
        var plan = ContainerPlan.Build(spec, Channel with { CopiedTmpfs = new Dictionary<string, int> { ["/run"] = 12 } }, null, signalMask: 0, lastCap: 40, []);
        var mounts = plan.Steps.Where(s => s is MountInRoot or MountTreeInRoot).ToArray();
        await Assert.That(mounts).IsEquivalentTo(
            new ChildStep[] { new MountInRoot("/srv/rootfs", "/data", volume, CreateMissing: true), new MountTreeInRoot("/srv/rootfs", "/run", 12, copied, CreateMissing: true) },
            CollectionOrdering.Matching);
        await Assert.That(IndexOf<MountTreeInRoot>(plan)).IsLessThan(IndexOf<PivotRoot>(plan));
        await Assert.That(() => Build(spec)).Throws<InvalidOperationException>();
    }
}
