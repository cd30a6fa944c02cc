using Tiny.Interop;
using Tiny.Runtime.Mounts;
using Tiny.Runtime.Security;
using Tiny.Runtime.Spec;

namespace Tiny.Runtime.Plan;

/// <summary>
/// What the launcher does: the namespaces to clone into and the child's steps, in order. With
/// <paramref name="ReleasedBeforeClone"/> the parent has nothing to do between clone and the child's exec: it releases
/// the child before cloning it, and may then wait while the child runs in its memory (CLONE_VFORK).
/// </summary>
public sealed record ContainerPlan(ulong CloneFlags, IReadOnlyList<ChildStep> Steps, bool ReleasedBeforeClone = false)
{
    /// <summary>The fds the parent and child talk over: the child waits on SyncRead and reports failures on
    /// ErrorWrite; with a terminal (-t) it sends the master over TerminalSocket, sized TerminalSize; in a user
    /// namespace it receives its id-mapped rootfs over RootfsSocket; it inherits the tmpcopyup mounts as CopiedTmpfs.</summary>
    public sealed record Channel(int SyncRead, int SyncWrite, int ErrorRead, int ErrorWrite, int TerminalSocket = -1,
        Terminal.WindowSize TerminalSize = default, int RootfsSocket = -1, HookChannel? Hooks = null,
        IReadOnlyDictionary<string, int>? CopiedTmpfs = null);

    /// <summary>The fds of the hooks the child runs itself (createContainer, then startContainer, in order): one pipe
    /// each, whose read end is the hook's stdin and whose write end the parent fills with the state and closes after
    /// clone (the child closes its copy first thing); <see cref="Output"/> (/dev/null) takes what they write.</summary>
    public sealed record HookChannel(IReadOnlyList<int> InputReads, IReadOnlyList<int> InputWrites, int Output);

    /// <summary>The new namespaces of <see cref="Types"/> (CLONE_NEW* flags), made by a thread of tiny's, which sends
    /// them over <see cref="Socket"/> in <see cref="Launch.NamespacesAhead.SendingOrder"/>.</summary>
    public sealed record NamespacesMadeAhead(int Socket, ulong Types);

    /// <param name="spec">The validated container.</param>
    /// <param name="channel">The pipe ends (the parent's ends are closed in the child).</param>
    /// <param name="seccomp">The seccomp program to load last, or null for unconfined.</param>
    /// <param name="signalMask">The signal mask to restore before exec.</param>
    /// <param name="lastCap">The kernel's highest capability number (as /proc/sys/kernel/cap_last_cap shows).</param>
    /// <param name="execFifo">For a container that is created now and started later: the FIFO (as a path the child
    /// can open after pivot_root) it waits on before exec. The child then outlives tiny, so it gets no parent-death signal.</param>
    /// <param name="networkMounts">The network's files to bind over the container's (/etc/hosts...), before the spec's mounts.</param>
    /// <param name="cgroupMembershipFiles">The container cgroup's files the child moves itself in through, once the
    /// parent has made it.</param>
    /// <param name="trampoline">The exec trampoline the child reaches its command through, not dumpable until then
    /// (<see cref="ExecTrampoline"/>); null to exec the command itself.</param>
    /// <param name="madeAhead">The container's new namespaces made meanwhile (<see cref="Launch.NamespacesAhead"/>) and
    /// the socket they arrive on: the child enters them first thing instead of cloning them (and finds lo up); null to
    /// clone them all.</param>
    public static ContainerPlan Build(RunSpec spec, Channel channel, byte[]? seccomp, ulong signalMask, int lastCap,
        IReadOnlyList<MountRequest> networkMounts, string? execFifo = null, IEnumerable<string>? cgroupMembershipFiles = null,
        ExecTrampoline? trampoline = null, NamespacesMadeAhead? madeAhead = null)
    {
        var namespaces = NamespacesOf(spec);
        var flags = NewNamespaces(namespaces);
        var ownNetwork = (flags & Namespace.CLONE_NEWNET) != 0;
        var ahead = madeAhead?.Types ?? 0;
        flags &= ~ahead;
        // Namespaces cloned along with a user namespace belong to it (user_namespaces(7)): the child's
        // capabilities there let it mount, set the hostname and so on, and it has none outside.
        if (spec.UserNamespace is not null) flags |= Namespace.CLONE_NEWUSER;

        List<ChildStep> steps = [];
        if (trampoline is not null) steps.Add(new SetDumpable(false));
        if (execFifo is null) steps.Add(new SetParentDeathSignal(Process.SIGKILL));
        steps.Add(new CloseFd(channel.SyncWrite));
        steps.Add(new CloseFd(channel.ErrorRead));
        foreach (var fd in channel.Hooks?.InputWrites ?? []) steps.Add(new CloseFd(fd));
        if (madeAhead is not null)
        {
            // A plain loop: Select over Where's iterator is a generic virtual call, which the runtime resolves from
            // its metadata on first use (a third of a megabyte of the binary read in).
            foreach (var type in Launch.NamespacesAhead.SendingOrder)
                if ((ahead & type) != 0) steps.Add(new EnterReceivedNamespace(madeAhead.Socket, type));
            steps.Add(new CloseFd(madeAhead.Socket));
        }
        var pauseForHooks = spec.Hooks?.PausesBeforePivot == true;
        // Released by the parent once it has made the cgroup (and written the id maps, attached the network), the child
        // moves itself into the cgroup: before any namespace is joined (the paths are the host's) and, with a user
        // namespace, while the child's IDs are still the host's root (cgroup v1 moves only for root's effective UID:
        // __cgroup1_procs_write()).
        List<ChildStep> release = [new WaitForParent(channel.SyncRead)];
        if (!pauseForHooks) release.Add(new CloseFd(channel.SyncRead));
        release.AddRange((cgroupMembershipFiles ?? []).Select(file => new JoinCgroup(file)));
        // Unshared after the child moved into the container's cgroup, so that cgroup is its root (cgroup_namespaces(7)).
        List<ChildStep> cgroupNamespace = namespaces.Any(n => n.Type == Namespace.CLONE_NEWCGROUP && n.Path is null)
            ? [new Unshare(Namespace.CLONE_NEWCGROUP)]
            : [];
        // Where nothing before pivot_root needs the parent, the child makes its mounts meanwhile (the host has two
        // cores or more) and is released just before pivot_root, while the host's cgroup files are still in view: not
        // with a user namespace (the parent writes its maps first), a cgroup mounted in the rootfs (the parent makes the
        // directories it shows), a joined mount, user, pid or cgroup namespace, hooks that pause the child, or sysctls
        // with a bridge (they may name the eth0 the parent attaches).
        var releasedAtPivot = spec.UserNamespace is null && spec.CgroupMountFlags is null && !pauseForHooks
            && (spec.Bridge is null || spec.Sysctl.Count == 0)
            && namespaces.All(n => n.Path is null || n.Type is Namespace.CLONE_NEWNET or Namespace.CLONE_NEWIPC or Namespace.CLONE_NEWUTS);
        if (!releasedAtPivot)
        {
            steps.AddRange(release);
            // Released once the parent has written the maps: become the container's root, so that what the child
            // creates belongs to a mapped ID (else EOVERFLOW) and no group of the host's stays. A change of
            // effective IDs clears the parent-death signal (commit_creds() in kernel/cred.c): set it again.
            if (spec.UserNamespace is not null)
            {
                if (!spec.SetgroupsDenied) steps.Add(new SetGroups([]));
                steps.AddRange([new SetGid(0), new SetUid(0)]);
                if (execFifo is null) steps.Add(new SetParentDeathSignal(Process.SIGKILL));
            }
        }
        // The mount namespace is joined last: the other paths are resolved in the one we start in.
        foreach (var ns in namespaces.Where(n => n.Path is not null).OrderBy(n => n.Type == Namespace.CLONE_NEWNS))
            steps.Add(new JoinNamespace(ns.Path!, ns.Type));
        if (!releasedAtPivot) steps.AddRange(cgroupNamespace);
        steps.Add(new SetUmask(0));
        var sysctl = spec.Sysctl.Select(kv => new WriteFile("/proc/sys/" + kv.Key.Replace('.', '/'), kv.Value));
        var rootfsSteps = RootfsSetup.Steps(spec.Rootfs, spec.ReadonlyRootfs, [.. networkMounts, .. spec.Mounts], spec.RootPropagation,
            spec.MaskedPaths, spec.ReadonlyPaths, sysctl, spec.UserNamespace, spec.IdMappedRootfs ? channel.RootfsSocket : -1,
            spec.Devices, spec.StandardMounts, ownNetwork, bindDevices: spec.BindDevices,
            copiedTmpfs: channel.CopiedTmpfs).ToList();
        // The hooks of the create operation run once the mounts are made and before pivot_root (runtime.md, "Lifecycle"):
        // the runtime's own while the child waits, then the container's, which the child runs with the host's root still in view.
        List<ChildStep> createHooks = releasedAtPivot ? [.. release, .. cgroupNamespace] : [];
        if (pauseForHooks) createHooks.AddRange([new PauseForHooks(channel.ErrorWrite, channel.SyncRead), new CloseFd(channel.SyncRead)]);
        createHooks.AddRange(RunHooks(spec, channel, HookKind.CreateContainer));
        rootfsSteps.InsertRange(rootfsSteps.FindIndex(s => s is PivotRoot), createHooks);
        steps.AddRange(rootfsSteps);
        if (spec.Hostname.Length > 0) steps.Add(new SetHostname(spec.Hostname));
        if (spec.Domainname is not null) steps.Add(new SetDomainname(spec.Domainname));
        // With a bridge, the parent brings lo up along with eth0 (ContainerNetwork.Attach); in a network namespace made
        // ahead, the thread that made it did.
        if (spec.Network == NetworkMode.None && ownNetwork && (ahead & Namespace.CLONE_NEWNET) == 0) steps.Add(new BringLoopbackUp());
        ProcessSteps(steps, spec, channel, seccomp, signalMask, lastCap, execFifo, parentDeathSignal: execFifo is null, trampoline);
        // The parent's part after clone is the bridge's veth, the container's hooks' state, oom_score_adj; a created
        // container waits for start, and an init (--init) never execs.
        var releasedBeforeClone = releasedAtPivot && execFifo is null && spec.Bridge is null && channel.Hooks is null
            && spec.OomScoreAdj is null && !spec.Init;
        return new ContainerPlan(flags, steps, releasedBeforeClone);
    }

    /// <summary>
    /// The plan of a process started in a running container (`tiny exec`): not dumpable until it execs, so the
    /// container cannot open its /proc/PID/exe (CVE-2019-5736); it joins each of the init's namespaces, the mount
    /// namespace last, then forks so that the command is inside the pid namespace, a child of tiny's
    /// (CLONE_PARENT); the forked pid goes to the parent over <paramref name="pidPipe"/>. A <paramref name="detached"/>
    /// process outlives tiny (conmon or containerd's shim reaps it), so it gets no parent-death signal.
    /// </summary>
    public static ContainerPlan BuildExec(RunSpec spec, Channel channel, byte[]? seccomp, ulong signalMask, int lastCap,
        int initPid, int pidPipe, bool detached)
    {
        List<ChildStep> steps = [new SetDumpable(false), new CloseFd(channel.SyncWrite), new CloseFd(channel.ErrorRead),
            new WaitForParent(channel.SyncRead), new CloseFd(channel.SyncRead)];
        // The user namespace first: the others are owned by it, and joining them takes CAP_SYS_ADMIN there
        // (setns(2)), which its owner's process gets by joining it. The mount namespace last, as for create.
        foreach (var ns in (spec.Namespaces ?? []).OrderBy(n => n.Type == Namespace.CLONE_NEWUSER ? 0 : n.Type == Namespace.CLONE_NEWNS ? 2 : 1))
            steps.Add(new JoinNamespace($"/proc/{initPid}/ns/{Oci.OciConversion.ProcNamespaceFiles[ns.Type]}", ns.Type));
        steps.Add(new ForkIntoPidNamespace(pidPipe));
        steps.Add(new SetUmask(0));
        ProcessSteps(steps, spec with { Init = false }, channel, seccomp, signalMask, lastCap, execFifo: null, parentDeathSignal: !detached,
            trampoline: null);
        return new ContainerPlan(0, steps);
    }

    /// <summary>From the process's limits to its exec: rlimits, seccomp, capabilities, user, terminal, fds.</summary>
    static void ProcessSteps(List<ChildStep> steps, RunSpec spec, Channel channel, byte[]? seccomp, ulong signalMask, int lastCap,
        string? execFifo, bool parentDeathSignal, ExecTrampoline? trampoline)
    {
        var caps = spec.CapabilitySets ?? new ProcessCapabilities(spec.Capabilities, spec.Capabilities, spec.Capabilities,
            spec.Capabilities, new CapabilitySet(0));
        foreach (var limit in spec.Rlimits) steps.Add(new SetRlimit(limit.Resource, limit.Soft, limit.Hard));
        // Without no_new_privs only a process with CAP_SYS_ADMIN may load a filter (seccomp(2)), so it is
        // loaded before the capabilities go, and must allow the remaining set-up (as runc does).
        if (seccomp is not null && !spec.NoNewPrivileges) steps.Add(new LoadSeccompFilter(seccomp, spec.SeccompFlags));
        steps.Add(new DropBoundingSet(caps.Bounding.Mask, lastCap));
        steps.Add(new SetKeepCapabilities(true));
        // Still as root, as runc does: a working directory only root may enter is still the command's.
        steps.Add(new ChangeDirectory(spec.Workdir));
        if (!spec.SetgroupsDenied) steps.Add(new SetGroups(spec.AdditionalGids));
        steps.Add(new SetGid(spec.Gid));
        steps.Add(new SetUid(spec.Uid));
        if (parentDeathSignal) steps.Add(new SetParentDeathSignal(Process.SIGKILL));
        steps.Add(new SetKeepCapabilities(false));
        steps.Add(new SetCapabilities(caps.Effective.Mask, caps.Permitted.Mask, caps.Inheritable.Mask));
        steps.Add(new ClearAmbientCapabilities());
        if (caps.Ambient.Mask != 0) steps.Add(new RaiseAmbientCapabilities(caps.Ambient.Mask));
        if (spec.NoNewPrivileges) steps.Add(new SetNoNewPrivileges());
        // As the container's user, so that its terminal belongs to it.
        // The caller's terminal's size first, as runc resizes to it at start; else the config's.
        var size = channel.TerminalSize.Rows != 0 ? channel.TerminalSize : spec.ConsoleSize ?? default;
        if (spec.Tty) steps.Add(new OpenTerminal(channel.TerminalSocket, size.Rows, size.Columns));
        steps.Add(new SetUmask(spec.Umask));
        steps.Add(new ResetSignals(signalMask));
        steps.Add(new CloseFdsOnExec(3 + spec.PreserveFds));
        if (execFifo is not null)
        {
            steps.Add(new ReportReady(channel.ErrorWrite));
            steps.Add(new CloseFd(channel.ErrorWrite));
            steps.Add(new WaitForStart(execFifo, channel.ErrorWrite));
        }
        steps.AddRange(RunHooks(spec, channel, HookKind.StartContainer));
        if (spec.Init) steps.Add(new RunAsInit(FirstFdToClose: 3 + spec.PreserveFds, TakeTerminal: spec.Tty));
        // After the user and capabilities, before the last seccomp filter, as runc.
        if (spec.Personality is { } persona) steps.Add(new SetPersonality(persona));
        if (seccomp is not null && spec.NoNewPrivileges) steps.Add(new LoadSeccompFilter(seccomp, spec.SeccompFlags));
        var exec = new Exec(ExecCandidates(spec.Command[0], spec.Env), spec.Command, spec.Env);
        steps.Add(trampoline is null ? exec : new ExecThroughTrampoline(exec, trampoline.Fd, channel.ErrorWrite, trampoline.Nonce));
    }

    /// <summary>The steps that run the container's own hooks of one kind, each with its pipe of <see cref="Channel.Hooks"/>;
    /// a hook without env gets the process's, as runc's init passes its own.</summary>
    static IEnumerable<ChildStep> RunHooks(RunSpec spec, Channel channel, HookKind kind)
    {
        if (spec.Hooks is not { } hooks || channel.Hooks is not { } fds) yield break;
        var first = kind == HookKind.StartContainer ? hooks[HookKind.CreateContainer].Count : 0;
        var list = hooks[kind];
        for (var i = 0; i < list.Count; i++)
            yield return new RunHook(kind, i, list[i], list[i].Env ?? spec.Env, fds.InputReads[first + i], fds.Output);
    }

    /// <summary>The namespaces <paramref name="spec"/>'s container gets new ones of, as CLONE_NEW* flags, but for the
    /// cgroup namespace (unshared once the child is in its cgroup).</summary>
    public static ulong NewNamespaces(RunSpec spec) => NewNamespaces(NamespacesOf(spec));

    static ulong NewNamespaces(IReadOnlyList<NamespaceRequest> namespaces)
    {
        ulong flags = 0;
        foreach (var ns in namespaces)
            if (ns.Path is null && ns.Type != Namespace.CLONE_NEWCGROUP) flags |= ns.Type;
        return flags;
    }

    static IReadOnlyList<NamespaceRequest> NamespacesOf(RunSpec spec) => spec.Namespaces ?? DefaultNamespaces(spec.Network);

    /// <summary>tiny run's namespaces: all new; the network one unless the host's is used.</summary>
    static IReadOnlyList<NamespaceRequest> DefaultNamespaces(NetworkMode network)
    {
        List<NamespaceRequest> namespaces = [new(Namespace.CLONE_NEWNS), new(Namespace.CLONE_NEWUTS), new(Namespace.CLONE_NEWIPC),
            new(Namespace.CLONE_NEWPID), new(Namespace.CLONE_NEWCGROUP)];
        if (network != NetworkMode.Host) namespaces.Add(new(Namespace.CLONE_NEWNET));
        return namespaces;
    }

    /// <summary>The paths execvp(3) would try: the command itself if it has a slash, else each PATH entry.</summary>
    public static IReadOnlyList<string> ExecCandidates(string command, IReadOnlyList<string> env)
    {
        if (command.Contains('/')) return [command];
        var path = env.LastOrDefault(e => e.StartsWith("PATH=", StringComparison.Ordinal))?[5..] ?? RunDefaults.Path;
        return path.Split(':').Select(dir => (dir.Length == 0 ? "." : dir).TrimEnd('/') + "/" + command).ToArray();
    }
}
