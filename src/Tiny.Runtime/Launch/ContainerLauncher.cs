using System.Runtime;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Tiny.Interop;
using Tiny.Runtime.Cgroups;
using Tiny.Runtime.Network;
using Tiny.Runtime.Plan;
using Tiny.Runtime.Security;
using Tiny.Runtime.Spec;
using ZLogger;

namespace Tiny.Runtime.Launch;

/// <summary>
/// Runs a container in the foreground: prepare its network, clone into new namespaces, place the
/// child in its cgroup and give it its network interface, release it, forward signals, wait, clean up, and return the command's exit code.
/// </summary>
public sealed class ContainerLauncher(ILogger log)
{
    /// <summary>Signals a foreground container receives when tiny does (as runc's signal proxy).</summary>
    static readonly int[] ForwardedSignals =
        [Process.SIGINT, Process.SIGTERM, Process.SIGHUP, Process.SIGQUIT, Process.SIGUSR1, Process.SIGUSR2, Process.SIGWINCH];

    int _childPid;
    int _pendingSignal;
    TerminalSession? _terminal;

    /// <summary>Set to have each phase of the launch timed (<c>tiny run --timing</c>).</summary>
    public LaunchTiming? Timing { get; init; }

    /// <param name="started">Called once the command has been exec'd (the OCI state is written then).</param>
    /// <param name="notify">Relays the container's sd_notify messages while it runs.</param>
    /// <param name="cloned">Called right after clone, before the child does anything (to record its pid and cgroup).</param>
    /// <param name="consoleSocket">With a terminal: a connected socket the child sends its master to (--console-socket);
    /// -1 to keep the master here and copy it to tiny's stdio.</param>
    /// <param name="hooks">The OCI hooks of the create and start operations, run as the container is set up.</param>
    /// <param name="namespacesAhead">The container's network, IPC and UTS namespaces, started by the caller
    /// (<see cref="NamespacesAhead.StartFor"/>) before its own work, so that they are made meanwhile; the caller disposes
    /// it. Without it, clone makes them.</param>
    public int Run(RunSpec spec, byte[]? seccomp, Action<LaunchedContainer>? started = null, NotifyRelay? notify = null,
        Action<LaunchedContainer>? cloned = null, int consoleSocket = -1, HookSession? hooks = null, NamespacesAhead? namespacesAhead = null)
    {
        RequireRootOrUserNamespace(spec);
        using var network = spec.Bridge is { } bridge
            ? ContainerNetwork.Prepare(new NetworkRequest(spec.Id, spec.Hostname, bridge.Subnet, bridge.Ip, bridge.Publish), log)
            : null;
        if (network is not null) Timing?.Mark("network prepare");
        using var terminal = _terminal = spec.Tty && consoleSocket < 0 ? new TerminalSession(spec.Interactive) : null;
        using var userNamespace = OpenUserNamespace(ref spec);
        var registrations = ForwardedSignals.Select(s => PosixSignalRegistration.Create((PosixSignal)s, Forward)).ToArray();
        try
        {
            var launched = Launch(spec, seccomp, execFifo: null, namespacesAhead, network, terminal, userNamespace, consoleSocket, hooks, cloned: child =>
            {
                Volatile.Write(ref _childPid, child.Pid);
                cloned?.Invoke(child);
                var pending = Interlocked.Exchange(ref _pendingSignal, 0);
                if (pending != 0) Process.Kill(child.Pid, pending);
            });
            try
            {
                log.ZLogInformation($"container {spec.Id} started as pid {launched.Pid}");
                started?.Invoke(launched);
                if (terminal is not null)
                {
                    terminal.Attach();
                    terminal.CopyUntilExit(launched.Pid, notify);
                }
                else notify?.RelayUntilExit(launched.Pid);
                var status = Process.WaitForExit(launched.Pid);
                Timing?.Mark("container run");
                var exitCode = Process.ExitCodeOf(status);
                log.ZLogInformation($"container {spec.Id} exited with {exitCode}");
                return exitCode;
            }
            finally
            {
                launched.Cgroup.Remove();
            }
        }
        finally
        {
            Volatile.Write(ref _childPid, 0);
            foreach (var registration in registrations) registration.Dispose();
            Timing?.Mark("cleanup");
        }
    }

    /// <summary>
    /// Sets a container up to the point where it waits on its exec FIFO (<see cref="ContainerPlan.Build"/>'s
    /// execFifo) and returns it; the init then outlives tiny. <paramref name="cloned"/> gets the init and its cgroup
    /// right after clone, before the child does anything, so that a caller can record them first.
    /// </summary>
    public LaunchedContainer Create(RunSpec spec, byte[]? seccomp, string execFifo, Action<LaunchedContainer> cloned, int consoleSocket = -1,
        HookSession? hooks = null, NamespacesAhead? namespacesAhead = null)
    {
        RequireRootOrUserNamespace(spec);
        using var userNamespace = OpenUserNamespace(ref spec);
        return Launch(spec, seccomp, execFifo, namespacesAhead, network: null, terminal: null, userNamespace, consoleSocket, hooks, cloned);
    }

    /// <summary>
    /// Starts <paramref name="spec"/>'s process inside the running container whose init is <paramref name="initPid"/>
    /// (`tiny exec`): in its cgroup <paramref name="cgroupDirectories"/> and namespaces. <paramref name="started"/> gets
    /// its pid once it has exec'd; with <paramref name="detach"/> that pid is returned, otherwise tiny waits, forwards
    /// signals and returns its exit code.
    /// </summary>
    public int Exec(RunSpec spec, byte[]? seccomp, int initPid, IReadOnlyList<string> cgroupDirectories, bool detach,
        int consoleSocket, Action<int> started)
    {
        using var terminal = _terminal = spec.Tty && consoleSocket < 0 ? new TerminalSession(spec.Interactive) : null;
        var registrations = detach ? [] : ForwardedSignals.Select(s => PosixSignalRegistration.Create((PosixSignal)s, Forward)).ToArray();
        var (syncRead, syncWrite) = FileDescriptor.CreatePipe();
        var (errorRead, errorWrite) = FileDescriptor.CreatePipe();
        var (pidRead, pidWrite) = FileDescriptor.CreatePipe();
        int first = -1, pid = -1;
        try
        {
            var channel = new ContainerPlan.Channel(syncRead, syncWrite, errorRead, errorWrite,
                terminal?.ChildSocket ?? consoleSocket, terminal?.InitialSize ?? default);
            var signalMask = Process.BlockAllSignals();
            var plan = ContainerPlan.BuildExec(spec, channel, seccomp, signalMask, LastCapability(), initPid, pidWrite, detach);
            using var native = new NativePlan(plan.Steps, errorWrite);
            first = Clone(plan.CloneFlags, native, sharesMemoryUntilExec: false);
            Process.SetSignalMask(signalMask);
            foreach (var fd in new[] { syncRead, errorWrite, pidWrite }) FileDescriptor.Close(fd);
            syncRead = errorWrite = pidWrite = -1;
            terminal?.CloseChildSocket();
            if (first < 0) throw new SyscallException("clone", -first);
            try
            {
                foreach (var dir in cgroupDirectories)
                {
                    var errno = KernelCgroupFileSystem.Instance.TryWrite($"{dir}/cgroup.procs", first.ToString());
                    if (errno != 0) throw new ContainerError($"cgroup: join {dir}: {Errno.Describe(errno)}");
                }
            }
            catch
            {
                Process.Kill(first, Process.SIGKILL);
                throw;
            }
            FileDescriptor.WriteAll(syncWrite, [1]);

            Span<int> report = stackalloc int[2];
            pid = FileDescriptor.ReadFully(pidRead, MemoryMarshal.AsBytes(report[..1])) == 4 ? report[0] : -1;
            var reported = FileDescriptor.ReadFully(errorRead, MemoryMarshal.AsBytes(report));
            Process.WaitForExit(first);
            first = -1;
            if (reported == 8)
            {
                if (pid > 0) Process.WaitForExit(pid);
                pid = -1;
                throw SetupFailure(spec, plan.Steps[report[0]], report[1]);
            }
            if (pid < 0) throw new ContainerError("exec: the process did not start in the container");
            Volatile.Write(ref _childPid, pid);
            started(pid);
            if (detach) return pid;
            if (terminal is not null)
            {
                terminal.Attach();
                terminal.CopyUntilExit(pid);
            }
            var exitCode = Process.ExitCodeOf(Process.WaitForExit(pid));
            pid = -1;
            return exitCode;
        }
        finally
        {
            if (first > 0) Process.WaitForExit(first);
            if (pid > 0 && !detach)
            {
                Process.Kill(pid, Process.SIGKILL);
                Process.WaitForExit(pid);
            }
            Volatile.Write(ref _childPid, 0);
            foreach (var registration in registrations) registration.Dispose();
            foreach (var fd in new[] { syncRead, syncWrite, errorRead, errorWrite, pidRead, pidWrite }) FileDescriptor.Close(fd);
        }
    }

    /// <summary>The parent's side of the spec's user namespace, if it has one; the spec then carries the maps it gets.</summary>
    static UserNamespaceSession? OpenUserNamespace(ref RunSpec spec)
    {
        if (spec.UserNamespace is not { } requested) return null;
        var session = new UserNamespaceSession(requested, spec.Id, spec.IdMappedRootfs ? spec.Rootfs : null);
        spec = spec with { UserNamespace = session.Maps };
        return session;
    }

    /// <summary>Without root, a container needs a user namespace of its own to hold the capabilities its set-up takes.</summary>
    internal static void RequireRootOrUserNamespace(RunSpec spec)
    {
        if (Process.GetEffectiveUserId() != 0 && spec.UserNamespace is null)
            throw new ContainerError("a container needs root, or a user namespace when rootless (--rootless auto or true)");
    }

    /// <summary>
    /// Clones the child into its namespaces, places it in its cgroup, attaches its network, releases it and waits
    /// for its report: end of file on the error pipe when it has exec'd, (step, 0) when it is ready and waits on
    /// <paramref name="execFifo"/>, (step, errno) when a step failed. On failure nothing is left behind. With prestart or
    /// createRuntime hooks the child first reports (0, 0) when its mounts are made and waits for them to run here.
    /// </summary>
    LaunchedContainer Launch(RunSpec spec, byte[]? seccomp, string? execFifo, NamespacesAhead? namespacesAhead,
        ContainerNetwork? network, TerminalSession? terminal, UserNamespaceSession? userNamespace, int consoleSocket, HookSession? hooks, Action<LaunchedContainer> cloned)
    {
        var cgroup = ContainerCgroup.ForContainer(spec.Id, log, cgroupsPath: spec.CgroupsPath, limits: spec.Limits,
            delegatedOnly: !Process.IsHostRoot());
        var cgroupView = spec.CgroupMountFlags is { } viewFlags ? cgroup.ViewMounts(viewFlags, Oci.OciMounts.CgroupMountPoint) : [];
        using var copiedTmpfs = Mounts.TmpfsCopies.Make(spec);
        using var trampoline = Process.IsHostRoot() && ExecTrampoline.Covers(spec) ? ExecTrampoline.Open() : null;
        var (syncRead, syncWrite) = FileDescriptor.CreatePipe();
        var (errorRead, errorWrite) = FileDescriptor.CreatePipe();
        var cgroupCreated = false;
        var launched = false;
        try
        {
            var hookChannel = hooks?.OpenChannel();
            var channel = new ContainerPlan.Channel(syncRead, syncWrite, errorRead, errorWrite,
                terminal?.ChildSocket ?? consoleSocket, terminal?.InitialSize ?? default, userNamespace?.ChildSocket ?? -1, hookChannel, copiedTmpfs.Trees);
            var signalMask = Process.BlockAllSignals();
            Timing?.Mark("launcher setup");
            var plan = ContainerPlan.Build(spec, channel, seccomp, signalMask, LastCapability(), [.. network?.FileMounts ?? [], .. cgroupView], execFifo,
                cgroup.MembershipFiles, trampoline,
                namespacesAhead is null ? null : new ContainerPlan.NamespacesMadeAhead(namespacesAhead.ChildSocket, namespacesAhead.Types));
            if (plan.Steps[^1] is ExecThroughTrampoline { Exec: var exec })
                trampoline!.Seal(channel.ErrorWrite, plan.Steps.Count - 1, exec.Candidates, exec.Argv, exec.Envp);
            using var native = new NativePlan(plan.Steps, errorWrite, recordStepEnds: Timing is not null);
            Timing?.Mark("plan + native layout");
            // A container run in the foreground has no record until it runs, so its cgroup may be made before clone:
            // the child is then released as soon as it is cloned and need not wait for the parent. A created one is
            // recorded, pid and cgroup, before its cgroup is made. The namespaces made ahead may still be in the making:
            // the child waits for them in its first steps, as clone runs meanwhile.
            if (execFifo is null) CreateCgroup();
            var releasedBeforeClone = plan.ReleasedBeforeClone;
            if (releasedBeforeClone) FileDescriptor.WriteAll(syncWrite, [1]);
            log.ZLogInformation($"cloning into namespaces 0x{plan.CloneFlags:x}");
            var pid = Clone(plan.CloneFlags, native, sharesMemoryUntilExec: releasedBeforeClone);
            if (!releasedBeforeClone) Timing?.Mark("clone");
            Process.SetSignalMask(signalMask);
            FileDescriptor.Close(syncRead);
            FileDescriptor.Close(errorWrite);
            syncRead = errorWrite = -1;
            terminal?.CloseChildSocket();
            userNamespace?.CloseChildSocket();
            if (pid < 0) throw new SyscallException("clone", -pid);

            var container = new LaunchedContainer(pid, cgroup);
            try
            {
                cloned(container);
                if (hookChannel is not null) hooks!.FillChannel(hookChannel, (plan.CloneFlags & Namespace.CLONE_NEWPID) != 0 ? 1 : pid);
                userNamespace?.MapAndSendRootfs(pid);
                if (userNamespace is not null) Timing?.Mark("user namespace maps + id-mapped rootfs");
                if (!cgroupCreated) CreateCgroup();
                if (spec.OomScoreAdj is { } oomScoreAdj) SetOomScoreAdj(pid, oomScoreAdj);
                if (network is not null)
                {
                    namespacesAhead?.Wait();
                    network.Attach(pid, namespacesAhead?.NetworkFd ?? -1);
                    Timing?.Mark("network attach");
                }
            }
            catch
            {
                Process.Kill(pid, Process.SIGKILL);
                Process.WaitForExit(pid);
                // A child that makes its mounts before it is released may have failed first, and its process and
                // namespaces be gone: what it reported is the cause.
                var early = new int[2];
                if (FileDescriptor.ReadFully(errorRead, MemoryMarshal.AsBytes(early.AsSpan())) == 8 && early[1] != 0)
                    throw SetupFailure(spec, plan.Steps[early[0]], early[1]);
                throw;
            }

            var pausesForHooks = hooks?.Hooks.PausesBeforePivot == true;
            if (!releasedBeforeClone)
            {
                // EPIPE: a child that makes its mounts before it is released (ContainerPlan) failed meanwhile; its report follows.
                var released = FileDescriptor.TryWriteAll(syncWrite, [1]);
                if (released != 0 && released != Errno.EPIPE) throw new SyscallException("write", released);
            }
            if (!pausesForHooks) CloseRelease(ref syncWrite);

            Span<int> report = stackalloc int[2];
            var reported = FileDescriptor.ReadFully(errorRead, MemoryMarshal.AsBytes(report));
            if (pausesForHooks && reported == 8 && report[1] == 0)
            {
                try
                {
                    hooks!.Run(HookKind.Prestart, "creating", pid);
                    hooks.Run(HookKind.CreateRuntime, "creating", pid);
                }
                catch
                {
                    Process.Kill(pid, Process.SIGKILL);
                    Process.WaitForExit(pid);
                    throw;
                }
                Timing?.Mark("prestart + createRuntime hooks");
                FileDescriptor.WriteAll(syncWrite, [1]);
                CloseRelease(ref syncWrite);
                reported = FileDescriptor.ReadFully(errorRead, MemoryMarshal.AsBytes(report));
            }
            var failed = reported == 8 && report[1] != 0;
            Timing?.AddChildSteps(plan.Steps, native.StepEnds, releasedBeforeClone);
            Timing?.Mark(failed ? "failure report" : "exec");
            if (failed)
            {
                Process.WaitForExit(pid);
                // The thread's own failure (unshare), when it is why the child had no namespace to enter.
                if (plan.Steps[report[0]] is EnterReceivedNamespace) namespacesAhead?.Wait();
                throw SetupFailure(spec, plan.Steps[report[0]], report[1]);
            }
            if (execFifo is not null && reported != 8)
            {
                Process.WaitForExit(pid);
                throw new ContainerError($"container {spec.Id}: the init process exited during set-up");
            }
            launched = true;
            return container;
        }
        finally
        {
            if (cgroupCreated && !launched) cgroup.Remove();
            foreach (var fd in new[] { syncRead, syncWrite, errorRead, errorWrite }) FileDescriptor.Close(fd);
        }

        void CreateCgroup()
        {
            if (cgroup.Directories.Count > 0) log.ZLogInformation($"creating cgroup {string.Join(", ", cgroup.Directories)}");
            cgroupCreated = true;
            cgroup.Create(spec.Limits);
            Timing?.Mark("cgroup create");
        }
    }

    static void CloseRelease(ref int syncWrite)
    {
        FileDescriptor.Close(syncWrite);
        syncWrite = -1;
    }

    static void SetOomScoreAdj(int pid, int value)
    {
        var errno = KernelCgroupFileSystem.Instance.TryWrite($"/proc/{pid}/oom_score_adj", value.ToString());
        if (errno != 0) throw new ContainerError($"set oom_score_adj to {value}: {Errno.Describe(errno)}");
    }

    void Forward(PosixSignalContext context)
    {
        context.Cancel = true;
        // With a terminal, a resize reaches the container through it, not as a signal.
        if ((int)context.Signal == Process.SIGWINCH && Volatile.Read(ref _terminal) is { } terminal)
        {
            terminal.Resize();
            return;
        }
        var pid = Volatile.Read(ref _childPid);
        if (pid > 0) Process.Kill(pid, (int)context.Signal);
        else Interlocked.CompareExchange(ref _pendingSignal, (int)context.Signal, 0);
    }

    /// <summary>
    /// clone(2) into <paramref name="flags"/>' namespaces; the child walks <paramref name="plan"/> and never returns. By
    /// default with fork semantics (no new stack: the child continues here on a copy). With
    /// <paramref name="sharesMemoryUntilExec"/> as posix_spawn's child (CLONE_VM | CLONE_VFORK): it runs in tiny's memory
    /// on a stack of its own while this thread waits, until it execs or exits. That spares copying tiny's page tables,
    /// the copy-on-write faults on both sides and the teardown of the copy at exec; it is only for a child that never
    /// waits for the parent (<see cref="ContainerPlan.ReleasedBeforeClone"/>). A no-GC region makes sure no collection is
    /// under way or can start while the process is copied, or, sharing it, while the child runs.
    /// </summary>
    [SkipLocalsInit]
    static unsafe int Clone(ulong flags, NativePlan plan, bool sharesMemoryUntilExec)
    {
        // The budget is also what gen0 has left once the region ends (EndNoGCRegion does not give back the usual one), so
        // it covers the rest of a foreground run: with 16 KB, what a run allocates after clone (11 KB until the container
        // exits) set off a collection in some runs, whose code and new region added 400 to 800 KB to the peak RSS. The GC
        // commits what it promises, and committing more than the 64 KB it has at hand takes an mprotect(2) per heap that
        // interrupts the CPUs the other threads run on.
        var noGc = GC.TryStartNoGCRegion(64 * 1024);
        long pid;
        int errno;
        // The child's code polls for a collection after each system call (the JIT's poll after a SuppressGCTransition
        // call); in tiny's memory it would see one that another thread started and stop on this thread's behalf. The
        // other threads allocate next to nothing meanwhile, so the region holds; without it the child gets a copy.
        if (sharesMemoryUntilExec && noGc)
        {
            byte* stack = stackalloc byte[ChildStackSize];
            var dumpable = RawSyscall.Invoke(SyscallNumber.Prctl, Prctl.PR_GET_DUMPABLE);
            pid = RawSyscall.CloneOnStack((nint)(delegate*<nint, int>)&ChildProcess.RunOnOwnStack,
                (nint)(stack + ChildStackSize) & ~(nint)15, (int)(flags | CLONE_VM | CLONE_VFORK | Process.SIGCHLD), (nint)plan.Plan);
            errno = pid < 0 ? RawSyscall.LastErrno : 0;
            // Whether a process is dumpable belongs to its memory (prctl(2), PR_SET_DUMPABLE), so a child that made
            // itself not dumpable made tiny so too: set it back.
            RawSyscall.Invoke(SyscallNumber.Prctl, Prctl.PR_SET_DUMPABLE, dumpable);
        }
        else
        {
            pid = RawSyscall.Invoke(SyscallNumber.Clone, (long)(flags | Process.SIGCHLD), 0, 0, 0, 0);
            if (pid == 0) ChildProcess.Run(plan.Plan);
            errno = pid < 0 ? RawSyscall.LastErrno : 0;
        }
        if (noGc && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
        return pid < 0 ? -errno : (int)pid;
    }

    const ulong CLONE_VM = 0x100, CLONE_VFORK = 0x4000;
    const int ChildStackSize = 64 * 1024;

    static ContainerError SetupFailure(RunSpec spec, ChildStep step, int errno)
    {
        if ((step as Exec ?? (step as ExecThroughTrampoline)?.Exec) is { } exec)
        {
            var code = errno is Errno.ENOENT or Errno.ENOTDIR ? ContainerError.NotFound : ContainerError.NotExecutable;
            var what = exec.Candidates.Count == 1 ? exec.Argv[0] : $"\"{exec.Argv[0]}\" (searched $PATH)";
            return new ContainerError($"exec {what} in rootfs {spec.RootfsDisplay}: {Errno.Describe(errno)}", code);
        }
        if (step is RunHook hook && HookOutcome.IsHookOutcome(errno))
            return HookSession.Failure(hook.Kind, hook.Index, hook.Hook, errno);
        // The child is already the container's root, which the host treats as any other user.
        if (step is MountReceivedTree && errno == Errno.EACCES)
            return new ContainerError($"{step.Describe()}: {Errno.Describe(errno)} (the container's root must be able to reach it: every directory above the rootfs needs search permission for others)");
        return new ContainerError($"{step.Describe()}: {Errno.Describe(errno)}");
    }

    /// <summary>The kernel's highest capability number, as /proc/sys/kernel/cap_last_cap shows it, found by probing the
    /// bounding set from the highest tiny knows: PR_CAPBSET_READ fails with EINVAL for a capability the kernel does
    /// not know (prctl(2)). Two calls where reading the file takes four.</summary>
    internal static int LastCapability()
    {
        var last = Security.CapabilitySet.Last;
        while (Known(last + 1)) last++;
        while (last > 0 && !Known(last)) last--;
        return last;

        static bool Known(int capability) => RawSyscall.Invoke(SyscallNumber.Prctl, Prctl.PR_CAPBSET_READ, capability) >= 0;
    }
}

/// <summary>A container's init, cloned and in its cgroup.</summary>
public sealed record LaunchedContainer(int Pid, ContainerCgroup Cgroup);
