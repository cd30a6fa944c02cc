using Tiny.Interop;
using Tiny.Runtime.Mounts;
using Tiny.Runtime.Security;
using Tiny.Runtime.Spec;

namespace Tiny.Runtime.Plan;

/// <summary>What the launcher does: the namespaces to clone into and the child's steps, in order.</summary>
public sealed record ContainerPlan(ulong CloneFlags, IReadOnlyList<ChildStep> Steps)
{
    /// <summary>The fds the parent and child talk over: the child waits on SyncRead and reports failures on
    /// ErrorWrite; with a terminal (-t) it sends the master over TerminalSocket, sized TerminalSize.</summary>
    public sealed record Channel(int SyncRead, int SyncWrite, int ErrorRead, int ErrorWrite, int TerminalSocket = -1,
        Terminal.WindowSize TerminalSize = default);

    /// <param name="spec">The validated container.</param>
    /// <param name="channel">The pipe ends (the parent's ends are closed in the child).</param>
    /// <param name="seccomp">The seccomp program to load last, or null for unconfined.</param>
    /// <param name="signalMask">The signal mask to restore before exec.</param>
    /// <param name="lastCap">The kernel's highest capability number (/proc/sys/kernel/cap_last_cap).</param>
    /// <param name="networkMounts">The network's files to bind over the container's (/etc/hosts...), before the spec's mounts.</param>
    public static ContainerPlan Build(RunSpec spec, Channel channel, byte[]? seccomp, ulong signalMask, int lastCap,
        IReadOnlyList<MountRequest> networkMounts)
    {
        var flags = Namespace.CLONE_NEWNS | Namespace.CLONE_NEWUTS | Namespace.CLONE_NEWIPC | Namespace.CLONE_NEWPID;
        if (spec.Network != NetworkMode.Host) flags |= Namespace.CLONE_NEWNET;

        var caps = spec.Capabilities.Mask;
        List<ChildStep> steps =
        [
            new SetParentDeathSignal(Process.SIGKILL),
            new CloseFd(channel.SyncWrite),
            new CloseFd(channel.ErrorRead),
            new WaitForParent(channel.SyncRead),
            new CloseFd(channel.SyncRead),
            // Joined after the parent moved us into the container's cgroup, so that cgroup is our root
            // (cgroup_namespaces(7)).
            new Unshare(Namespace.CLONE_NEWCGROUP),
            new SetUmask(0),
        ];
        steps.AddRange(RootfsSetup.Steps(spec.Rootfs, spec.ReadonlyRootfs, [.. networkMounts, .. spec.Mounts]));
        steps.Add(new SetHostname(spec.Hostname));
        // With a bridge, the parent brings lo up along with eth0 (ContainerNetwork.Attach).
        if (spec.Network == NetworkMode.None) steps.Add(new BringLoopbackUp());
        steps.Add(new DropBoundingSet(caps, lastCap));
        steps.Add(new SetKeepCapabilities(true));
        steps.Add(new SetGroups(spec.AdditionalGids));
        steps.Add(new SetGid(spec.Gid));
        steps.Add(new SetUid(spec.Uid));
        steps.Add(new SetKeepCapabilities(false));
        steps.Add(new SetCapabilities(caps, caps, caps));
        steps.Add(new ClearAmbientCapabilities());
        steps.Add(new SetNoNewPrivileges());
        steps.Add(new ChangeDirectory(spec.Workdir));
        // As the container's user, so that its terminal belongs to it.
        if (spec.Tty) steps.Add(new OpenTerminal(channel.TerminalSocket, channel.TerminalSize.Rows, channel.TerminalSize.Columns));
        steps.Add(new SetUmask(0x12 /* 022 */));
        steps.Add(new ResetSignals(signalMask));
        steps.Add(new CloseFdsOnExec(3));
        if (spec.Init) steps.Add(new RunAsInit(FirstFdToClose: 3, TakeTerminal: spec.Tty));
        if (seccomp is not null) steps.Add(new LoadSeccompFilter(seccomp));
        steps.Add(new Exec(ExecCandidates(spec.Command[0], spec.Env), spec.Command, spec.Env));
        return new ContainerPlan(flags, steps);
    }

    /// <summary>The paths execvp(3) would try: the command itself if it has a slash, else each PATH entry.</summary>
    public static IReadOnlyList<string> ExecCandidates(string command, IReadOnlyList<string> env)
    {
        if (command.Contains('/')) return [command];
        var path = env.LastOrDefault(e => e.StartsWith("PATH=", StringComparison.Ordinal))?[5..] ?? RunDefaults.Path;
        return path.Split(':').Select(dir => (dir.Length == 0 ? "." : dir).TrimEnd('/') + "/" + command).ToArray();
    }
}
