using Tiny.Runtime.Spec;

namespace Tiny.Runtime.Plan;

/// <summary>
/// One thing the container child does between clone and execve. Plain data: the parent builds the
/// list, unit tests read it, <see cref="Launch.NativePlan"/> lays it out in native memory for the
/// child to walk with direct system calls. <see cref="Describe"/> is what a failure report names.
/// </summary>
public abstract record ChildStep
{
    public abstract string Describe();
}

/// <summary>Blocks until the parent has placed the child in its cgroup; exits quietly if the parent is gone.</summary>
public sealed record WaitForParent(int Fd) : ChildStep
{
    public override string Describe() => "wait for the parent";
}

public sealed record CloseFd(int Fd) : ChildStep
{
    public override string Describe() => $"close fd {Fd}";
}

public sealed record SetParentDeathSignal(int Signal) : ChildStep
{
    public override string Describe() => "set the parent-death signal";
}

public sealed record Unshare(ulong Flags) : ChildStep
{
    public override string Describe() => $"unshare namespaces 0x{Flags:x}";
}

public sealed record MountStep(string? Source, string Target, string? FsType, ulong Flags, string? Data = null) : ChildStep
{
    public override string Describe() => $"mount {Source ?? FsType ?? "(none)"} on {Target}";
}

/// <summary>
/// Mounts <see cref="Mount"/> at <see cref="Path"/> (its destination with the rootfs's symlinks followed)
/// resolved inside <see cref="Root"/> with openat2(2) RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, so no
/// symlink in the rootfs can lead it onto the host (CVE-2021-30465). Missing components are created when
/// <see cref="CreateMissing"/> (directories, and an empty file for the last one when a bind's source is
/// a file); the mount goes onto the resolved fd through /proc/self/fd/N.
/// </summary>
public sealed record MountInRoot(string Root, string Path, Mounts.MountRequest Mount, bool CreateMissing) : ChildStep
{
    public override string Describe() => $"mount {Mount.Source ?? Mount.Type} on {Mount.Destination}";
}

/// <summary>Receives a detached mount tree over <see cref="SocketFd"/> (SCM_RIGHTS) and attaches it at
/// <see cref="Target"/> with move_mount(2): the id-mapped rootfs the parent made, which the child cannot make
/// itself (only a holder of CAP_SYS_ADMIN where the file system was mounted may id-map it, mount_setattr(2)).</summary>
public sealed record MountReceivedTree(int SocketFd, string Target) : ChildStep
{
    public override string Describe() => $"mount the id-mapped rootfs on {Target}";
}

/// <summary>Hides a path: /dev/null over a file, an empty read-only tmpfs over a directory; a missing path is skipped.</summary>
public sealed record MaskPath(string Path) : ChildStep
{
    public override string Describe() => $"mask {Path}";
}

/// <summary>Makes a path read-only by binding it onto itself; a missing path is skipped.</summary>
public sealed record ReadonlyPath(string Path, ulong KeepFlags) : ChildStep
{
    public override string Describe() => $"make {Path} read-only";
}

public sealed record RemountReadonly(string Path) : ChildStep
{
    public override string Describe() => $"remount {Path} read-only";
}

public sealed record MakeDirectory(string Path, uint Mode) : ChildStep
{
    public override string Describe() => $"create directory {Path}";
}

/// <summary>A pseudoterminal from the container's devpts: the child becomes a session leader with the
/// peer as its controlling terminal and stdio, and sends the master to the parent over
/// <paramref name="SocketFd"/> (SCM_RIGHTS). <paramref name="Rows"/> x <paramref name="Columns"/> is the
/// starting window size (0 x 0: leave the kernel's).</summary>
public sealed record OpenTerminal(int SocketFd, ushort Rows, ushort Columns) : ChildStep
{
    public override string Describe() => "open the container's terminal";
}

/// <summary>mknod(2) of a device node (<see cref="Mode"/> holds S_IFCHR or S_IFBLK and the permissions), then
/// owned by <see cref="Uid"/>:<see cref="Gid"/> when either is not 0.</summary>
public sealed record MakeDevice(string Path, uint Mode, uint Major, uint Minor, uint Uid = 0, uint Gid = 0) : ChildStep
{
    public override string Describe() => $"create device {Path}";
}

public sealed record Symlink(string Target, string LinkPath) : ChildStep
{
    public override string Describe() => $"link {LinkPath} to {Target}";
}

/// <summary>pivot_root into <see cref="NewRoot"/> and detach the old root (pivot_root(2): new_root == put_old).</summary>
public sealed record PivotRoot(string NewRoot) : ChildStep
{
    public override string Describe() => $"pivot_root to {NewRoot}";
}

public sealed record SetHostname(string Hostname) : ChildStep
{
    public override string Describe() => $"set hostname {Hostname}";
}

public sealed record BringLoopbackUp : ChildStep
{
    public override string Describe() => "bring lo up";
}

/// <summary>Drops every capability not in <see cref="Keep"/> from the bounding set, 0..<see cref="LastCap"/>.</summary>
public sealed record DropBoundingSet(ulong Keep, int LastCap) : ChildStep
{
    public override string Describe() => "drop capabilities from the bounding set";
}

public sealed record SetKeepCapabilities(bool Keep) : ChildStep
{
    public override string Describe() => "set keep-capabilities";
}

public sealed record SetGroups(IReadOnlyList<uint> Gids) : ChildStep
{
    public override string Describe() => $"set groups {string.Join(',', Gids)}";
    public bool Equals(SetGroups? other) => other is not null && Gids.SequenceEqual(other.Gids);
    public override int GetHashCode() => Gids.Count;
}

public sealed record SetGid(uint Gid) : ChildStep
{
    public override string Describe() => $"set gid {Gid}";
}

public sealed record SetUid(uint Uid) : ChildStep
{
    public override string Describe() => $"set uid {Uid}";
}

public sealed record SetCapabilities(ulong Effective, ulong Permitted, ulong Inheritable) : ChildStep
{
    public override string Describe() => "set capabilities";
}

public sealed record ClearAmbientCapabilities : ChildStep
{
    public override string Describe() => "clear ambient capabilities";
}

public sealed record SetNoNewPrivileges : ChildStep
{
    public override string Describe() => "set no_new_privs";
}

/// <summary>chdir to <see cref="Path"/> resolved inside the container's root, magic links refused.</summary>
public sealed record ChangeDirectory(string Path) : ChildStep
{
    public override string Describe() => $"chdir to {Path}";
}

public sealed record SetUmask(uint Mask) : ChildStep
{
    public override string Describe() => "set umask";
}

/// <summary>Every signal back to its default action, then the mask the caller had.</summary>
public sealed record ResetSignals(ulong Mask) : ChildStep
{
    public override string Describe() => "reset signal handlers";
}

/// <summary>Marks every fd from <see cref="FirstFd"/> up close-on-exec (close_range(2) CLOSE_RANGE_CLOEXEC).</summary>
public sealed record CloseFdsOnExec(int FirstFd) : ChildStep
{
    public override string Describe() => "mark fds close-on-exec";
}

/// <summary>
/// Makes this process (PID 1 of the container) a minimal init: it forks, and the new process carries
/// on with the remaining steps to exec the command; PID 1 closes its fds from <see cref="FirstFdToClose"/>
/// up, forwards every signal it gets to the command, reaps every child, and exits with the command's
/// status (128+N when signal N killed it). With <see cref="TakeTerminal"/> the command gets a process
/// group of its own, made the terminal's foreground group, so keys like ^C signal the command once,
/// not PID 1 as well (as tini does).
/// </summary>
public sealed record RunAsInit(int FirstFdToClose, bool TakeTerminal = false) : ChildStep
{
    public override string Describe() => "start the init process";
}

/// <param name="Flags">SECCOMP_FILTER_FLAG_* bits for seccomp(2).</param>
public sealed record LoadSeccompFilter(byte[] Program, uint Flags = 0) : ChildStep
{
    public override string Describe() => "load the seccomp filter";
    public bool Equals(LoadSeccompFilter? other) => other is not null && Flags == other.Flags && Program.AsSpan().SequenceEqual(other.Program);
    public override int GetHashCode() => Program.Length;
}

/// <summary>execve the first candidate path that exists, as execvp(3) walks PATH.</summary>
public sealed record Exec(IReadOnlyList<string> Candidates, IReadOnlyList<string> Argv, IReadOnlyList<string> Envp) : ChildStep
{
    public override string Describe() => $"exec {Argv[0]}";
    public bool Equals(Exec? other) => other is not null && Candidates.SequenceEqual(other.Candidates)
        && Argv.SequenceEqual(other.Argv) && Envp.SequenceEqual(other.Envp);
    public override int GetHashCode() => Argv.Count;
}

/// <summary>
/// <see cref="Exec"/> through <see cref="Security.ExecTrampoline"/>: clears close-on-exec on <see cref="ReportFd"/> (the
/// trampoline reports a failed exec there and sets it again) and execs the memory file <see cref="TrampolineFd"/> with
/// the one argument <see cref="Nonce"/> and the command's environment.
/// </summary>
public sealed record ExecThroughTrampoline(Exec Exec, int TrampolineFd, int ReportFd, string Nonce) : ChildStep
{
    public override string Describe() => Exec.Describe();
}

/// <summary>Joins the namespace at <see cref="Path"/> (an nsfs file such as /proc/PID/ns/net) with setns(2).</summary>
public sealed record JoinNamespace(string Path, ulong Type) : ChildStep
{
    public override string Describe() => $"join namespace {Path}";
}

/// <summary>Receives the next namespace tiny makes for the container on a thread (<see cref="Launch.NamespacesAhead"/>)
/// over <see cref="SocketFd"/>, waiting for it if need be, and enters it with setns(2).</summary>
public sealed record EnterReceivedNamespace(int SocketFd, ulong Type) : ChildStep
{
    public override string Describe() => $"enter the {Oci.OciConversion.ProcNamespaceFiles[Type]} namespace made for the container";
}

public sealed record SetDomainname(string Domainname) : ChildStep
{
    public override string Describe() => $"set domainname {Domainname}";
}

/// <summary>prlimit(2) on the child itself; <see cref="Resource"/> is an RLIMIT_* number.</summary>
public sealed record SetRlimit(int Resource, ulong Soft, ulong Hard) : ChildStep
{
    public override string Describe() => $"set rlimit {Resource} to {Soft}:{Hard}";
}

/// <summary>Raises each capability of <see cref="Mask"/> in the ambient set (it must be permitted and inheritable).</summary>
public sealed record RaiseAmbientCapabilities(ulong Mask) : ChildStep
{
    public override string Describe() => "raise ambient capabilities";
}

/// <summary>Writes <see cref="Value"/> to an existing file, as a sysctl under /proc/sys is set.</summary>
public sealed record WriteFile(string Path, string Value) : ChildStep
{
    public override string Describe() => $"write {Path}";
}

/// <summary>Moves the child into its cgroup: "0" (the writer itself) written to <see cref="MembershipFile"/>.</summary>
public sealed record JoinCgroup(string MembershipFile) : ChildStep
{
    public override string Describe() => $"join cgroup {System.IO.Path.GetDirectoryName(MembershipFile)}";
}

/// <summary>Tells the parent that set-up is complete: a (step index, 0) report on <see cref="Fd"/>.</summary>
public sealed record ReportReady(int Fd) : ChildStep
{
    public override string Describe() => "report set-up complete";
}

/// <summary>
/// Blocks until `tiny start` opens the exec FIFO for reading: opening <see cref="FifoPath"/> write-only
/// waits for a reader (fifo(7)), then one byte is written for the reader to consume. The FIFO then stays open as
/// <see cref="ReportFd"/> (close-on-exec), so that a step that fails after start reports to `tiny start`, which reads
/// until end of file: the exec.
/// </summary>
public sealed record WaitForStart(string FifoPath, int ReportFd) : ChildStep
{
    public override string Describe() => "wait for start";
}

/// <summary>prctl(2) PR_SET_DUMPABLE: a process that is not dumpable has /proc/PID files only root of its user namespace's
/// owner may open, its exe link included (proc(5)); execve makes it dumpable again.</summary>
public sealed record SetDumpable(bool Dumpable) : ChildStep
{
    public override string Describe() => "set dumpable";
}

/// <summary>
/// Forks (CLONE_PARENT: the new process is a child of tiny's, not of this one) so that the new process is in the pid
/// namespace this one joined (setns(2) on a pid namespace applies to children only). This process writes the new
/// one's pid to <see cref="PidFd"/> and exits; the new one closes it and goes on with the next steps.
/// </summary>
public sealed record ForkIntoPidNamespace(int PidFd) : ChildStep
{
    public override string Describe() => "fork into the container's pid namespace";
}

/// <summary>personality(2): the execution domain (PER_LINUX32 makes uname(2) report i686 on x86_64) and flags.</summary>
public sealed record SetPersonality(ulong Persona) : ChildStep
{
    public override string Describe() => $"set personality 0x{Persona:x}";
}

/// <summary>Tells the parent that the mounts are made ((0, 0) on <see cref="ReportFd"/>) and blocks until it has run the
/// prestart and createRuntime hooks (a byte on <see cref="SyncFd"/>); exits quietly if the parent is gone.</summary>
public sealed record PauseForHooks(int ReportFd, int SyncFd) : ChildStep
{
    public override string Describe() => "wait for the runtime's hooks";
}

/// <summary>
/// Runs a hook as a child of this process and waits for it: <see cref="InputFd"/> (a pipe the parent filled with the
/// state JSON and closed) as its stdin, <see cref="OutputFd"/> as its stdout and stderr, every signal at its default and
/// unblocked; killed after <see cref="TimeoutSeconds"/> (0: no limit). A failure is a <see cref="HookOutcome"/>.
/// </summary>
public sealed record RunHook(HookKind Kind, int Index, Hook Hook, IReadOnlyList<string> Envp, int InputFd, int OutputFd) : ChildStep
{
    public int TimeoutSeconds => Hook.TimeoutSeconds ?? 0;
    public override string Describe() => ContainerHooks.Describe(Kind, Index, Hook);
    public bool Equals(RunHook? other) => other is not null && Kind == other.Kind && Index == other.Index && Hook == other.Hook
        && Envp.SequenceEqual(other.Envp) && InputFd == other.InputFd && OutputFd == other.OutputFd;
    public override int GetHashCode() => Index;
}

/// <summary>
/// Attaches the detached mount <see cref="TreeFd"/> (a tmpcopyup tmpfs the parent made and filled, inherited through clone)
/// with move_mount(2) at <see cref="Path"/> resolved inside <see cref="Root"/> as <see cref="MountInRoot"/> resolves it
/// (CVE-2021-30465), missing directories created when <see cref="CreateMissing"/>; then <see cref="Mount"/>'s propagation.
/// </summary>
public sealed record MountTreeInRoot(string Root, string Path, int TreeFd, Mounts.MountRequest Mount, bool CreateMissing) : ChildStep
{
    public override string Describe() => $"mount {Mount.Source ?? Mount.Type} on {Mount.Destination}";
}
