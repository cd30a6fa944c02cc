using Stopwatch = System.Diagnostics.Stopwatch;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Tiny.Runtime.Seccomp;
using Microsoft.Extensions.Logging;
using Tiny.Interop;
using Tiny.Runtime.Cgroups;
using Tiny.Runtime.Launch;
using Tiny.Runtime.Security;
using Tiny.Runtime.Spec;
using ZLogger;

namespace Tiny.Runtime.Oci;

/// <summary>The runc-compatible lifecycle over bundles: create, start, state, kill, delete, run, list.</summary>
public sealed class OciRuntime(GlobalOptions options, ILogger log)
{
    /// <summary>How long start and delete wait for an init to open its FIFO or to die.</summary>
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    static readonly string[] SignalNames =
    [
        "", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM",
        "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF",
        "WINCH", "IO", "PWR", "SYS",
    ];

    readonly ContainerStore _store = new(options.Root);

    /// <summary>Set to have `run` time each phase of the launch (TINY_TIMING=1).</summary>
    public LaunchTiming? Timing { get; init; }

    readonly Freezer _freezer = new(KernelCgroupFileSystem.Instance);

    public ContainerStore Store => _store;

    /// <summary>Sets the container up to its exec FIFO and leaves the init waiting there, its stdio tiny's.</summary>
    public void Create(string id, string bundle, string? pidFile, int preserveFds, string? consoleSocket = null)
    {
        var container = Load(id, bundle, preserveFds);
        RequireConsoleSocket(container, consoleSocket);
        using var namespacesAhead = NamespacesAhead.StartFor(container.Spec);
        _store.CreateDirectory(id);
        using var hooks = HooksOf(id, bundle, container.Annotations, container.Spec.Hooks);
        var created = false;
        try
        {
            var fifo = _store.ExecFifoOf(id);
            FileSystem.MakeFifo(fifo, 0x192 /* 0622 */);
            // The child opens the FIFO through this fd's /proc/self/fd link: its own path is not visible after pivot_root.
            var fifoFd = FileDescriptor.Open(fifo, FileDescriptor.O_PATH);
            var socket = -1;
            LaunchedContainer launched;
            try
            {
                socket = ConnectConsole(consoleSocket);
                launched = new ContainerLauncher(log).Create(container.Spec, container.Seccomp?.Program, $"/proc/self/fd/{fifoFd}",
                    child => _store.SaveLocked(Record(id, bundle, container, child)), socket, hooks, namespacesAhead);
            }
            finally
            {
                FileDescriptor.Close(fifoFd);
                FileDescriptor.Close(socket);
            }
            if (pidFile is not null) WritePidFile(pidFile, launched.Pid);
            created = true;
        }
        finally
        {
            if (!created) RemoveState(id, hooks);
        }
    }

    /// <summary>
    /// Lets a created container's init exec: reading its FIFO releases the init's blocked open; tiny then reads until
    /// the init's exec closes it, or a failed step after start reports there. The poststart hooks run once the process
    /// runs. A startContainer or poststart hook that fails stops and destroys the container (runtime.md, "Lifecycle").
    /// </summary>
    public void Start(string id)
    {
        var (held, record) = _store.Open(id);
        using (held)
        {
            var status = _store.StatusOf(record);
            if (status != ContainerStatus.Created)
                throw new ContainerError(status == ContainerStatus.Running
                    ? $"container \"{id}\" is already running"
                    : $"container \"{id}\" is stopped and cannot be started");
            var fifo = _store.ExecFifoOf(id);
            // Non-blocking, so that an init that died cannot leave start waiting forever.
            var fd = FileDescriptor.Open(fifo, FileDescriptor.O_RDONLY | FileDescriptor.O_NONBLOCK);
            Span<int> report = stackalloc int[2];
            int reported;
            try
            {
                Span<byte> signal = stackalloc byte[1];
                var deadline = Stopwatch.StartNew();
                while (!TryRead(fd, signal))
                {
                    if (_store.StatusOf(record) == ContainerStatus.Stopped)
                        throw new ContainerError($"container \"{id}\": the init process exited before start");
                    if (deadline.Elapsed > Patience) throw new ContainerError($"container \"{id}\": the init process did not answer start");
                    Thread.Sleep(1);
                }
                reported = ReadUntilExec(fd, MemoryMarshal.AsBytes(report));
            }
            finally
            {
                FileDescriptor.Close(fd);
            }
            File.Delete(fifo);
            using var hooks = HooksOf(record);
            if (reported == 8)
            {
                if (!HookOutcome.IsHookOutcome(report[1]) || hooks is null)
                    throw new ContainerError($"container \"{id}\": its process did not start: {Errno.Describe(report[1])}");
                var index = HookOutcome.IndexOf(report[1]);
                var failure = HookSession.Failure(HookKind.StartContainer, index, hooks.Hooks[HookKind.StartContainer][index], report[1]);
                Destroy(record, hooks);
                throw failure;
            }
            log.ZLogDebug($"container {id} started");
            RunPoststart(record, hooks);
        }
    }

    /// <summary>The poststart hooks; when one fails the container is killed and destroyed and the failure thrown.</summary>
    void RunPoststart(ContainerRecord record, HookSession? hooks)
    {
        try
        {
            hooks?.Run(HookKind.Poststart, "running", record.Pid);
        }
        catch (ContainerError)
        {
            Destroy(record, hooks);
            throw;
        }
    }

    /// <summary>Reads the exec FIFO until end of file (every writer gone: the init exec'd or died); returns how much of a
    /// failure report (step, errno) came before it.</summary>
    static int ReadUntilExec(int fd, Span<byte> report)
    {
        var length = 0;
        Span<FileDescriptor.PollFd> poll = [new() { Fd = fd, Events = FileDescriptor.POLLIN }];
        Span<byte> rest = stackalloc byte[64];
        while (true)
        {
            FileDescriptor.Poll(poll, -1);
            var n = FileDescriptor.TryRead(fd, length < report.Length ? report[length..] : rest);
            if (n == 0) return length;
            if (n > 0 && length < report.Length) length += n;
            else if (n < 0 && -n != Errno.EAGAIN) throw new SyscallException("read", -n);
        }
    }

    static bool TryRead(int fd, Span<byte> buffer)
    {
        try
        {
            return FileDescriptor.ReadFully(fd, buffer) == buffer.Length;
        }
        catch (SyscallException e) when (e.Errno == Errno.EAGAIN)
        {
            return false;
        }
    }

    public OciState State(string id)
    {
        var (held, record) = _store.Open(id);
        using (held) return _store.StateOf(record);
    }

    public IReadOnlyList<OciState> List() => _store.LoadAll().ConvertAll(_store.StateOf);

    public void Kill(string id, string signalName, bool all)
    {
        var signal = ParseSignal(signalName);
        var (held, record) = _store.Open(id);
        using (held)
        {
            if (_store.StatusOf(record) == ContainerStatus.Stopped) throw new ContainerError($"container not running: {id}");
            foreach (var pid in all ? ProcessesOf(record).Append(record.Pid).Distinct() : [record.Pid])
                Process.Kill(pid, signal);
        }
    }

    /// <summary>runc update: new memory, cpu and pids limits for a created, running or paused container.</summary>
    public void Update(string id, ResourceLimits limits)
    {
        var (held, record) = _store.Open(id);
        using (held)
        {
            if (_store.StatusOf(record) == ContainerStatus.Stopped) throw new ContainerError($"container not running: {id}");
            ContainerCgroup.Existing(record.CgroupDirectories, log).Apply(limits);
        }
    }

    /// <summary>runc pause: freezes every process of a running container.</summary>
    public void Pause(string id)
    {
        var (held, record) = _store.Open(id);
        using (held)
        {
            var status = _store.StatusOf(record);
            if (status != ContainerStatus.Running) throw new ContainerError($"container not running: {id}");
            if (record.FreezerDirectory is null
                && _freezer.PrepareV1(record.CgroupDirectories, FileDescriptor.ReadAllText("/proc/self/cgroup")) is { } freezer)
            {
                record.FreezerDirectory = freezer;
                _store.Save(record);
            }
            _freezer.Freeze(record.CgroupDirectories, record.FreezerDirectory, ProcessesOf(record));
        }
    }

    /// <summary>runc resume: thaws a paused container.</summary>
    public void Resume(string id)
    {
        var (held, record) = _store.Open(id);
        using (held)
        {
            if (_store.StatusOf(record) != ContainerStatus.Paused) throw new ContainerError($"container not paused: {id}");
            _freezer.Thaw(record.CgroupDirectories, record.FreezerDirectory);
        }
    }

    /// <summary>Removes a stopped or created container (runc kills a created one); <paramref name="force"/> kills a running one first.</summary>
    public void Delete(string id, bool force)
    {
        // As runc: --force on a container with no record succeeds, removing what a create killed before it
        // recorded the init left (its state directory; the init, waiting on tiny's pipe, has exited).
        if (force && _store.RemoveUnrecorded(id)) return;
        var (held, record) = _store.Open(id);
        using (held)
        {
            var status = _store.StatusOf(record);
            if (status == ContainerStatus.Running && !force)
                throw new ContainerError($"cannot delete container \"{id}\" that is not stopped: running");
            using var hooks = HooksOf(record);
            Destroy(record, hooks);
        }
    }

    /// <summary>Kills what is left of the container, removes its cgroups and state, then runs its poststop hooks (warnings
    /// when they fail). The caller holds the container's lock.</summary>
    void Destroy(ContainerRecord record, HookSession? hooks)
    {
        if (_store.StatusOf(record) != ContainerStatus.Stopped || ProcessesOf(record).Any()) KillAndWait(record);
        ContainerCgroup.Remove([.. record.CgroupDirectories, .. record.FreezerDirectory is { } freezer ? [freezer] : Array.Empty<string>()],
            KernelCgroupFileSystem.Instance, log);
        _store.Remove(record.Id);
        hooks?.RunPoststop();
    }

    /// <summary>The hook session of a container being made, or null when its config has no hooks.</summary>
    HookSession? HooksOf(string id, string bundle, IReadOnlyDictionary<string, string> annotations, ContainerHooks? hooks)
    {
        if (hooks is null) return null;
        var fullBundle = Path.GetFullPath(bundle);
        return new HookSession(hooks, (status, pid) => JsonSerializer.SerializeToUtf8Bytes(new OciHookState
        {
            Id = id, Status = status, Pid = pid, Bundle = fullBundle,
            Annotations = annotations.Count > 0 ? new Dictionary<string, string>(annotations) : null,
        }, HookStateJsonContext.Default.OciHookState), fullBundle, log);
    }

    HookSession? HooksOf(ContainerRecord record) => HooksOf(record.Id, record.Bundle, record.Annotations, OciConversion.Hooks(record.Hooks));

    /// <summary>
    /// runc run: create and start. In the foreground tiny waits, forwards signals, returns the exit code and then
    /// deletes the container; with <paramref name="detach"/> it returns once the container runs.
    /// </summary>
    public int Run(string id, string bundle, string? pidFile, int preserveFds, bool detach, bool keep, string? consoleSocket = null)
    {
        if (detach)
        {
            Create(id, bundle, pidFile, preserveFds, consoleSocket);
            Start(id);
            return 0;
        }
        var container = Load(id, bundle, preserveFds);
        Timing?.Mark("config");
        using var namespacesAhead = NamespacesAhead.StartFor(container.Spec);
        _store.CreateDirectory(id);
        using var hooks = HooksOf(id, bundle, container.Annotations, container.Spec.Hooks);
        ContainerRecord? record = null;
        ContainerError? poststartFailure = null;
        var socket = -1;
        try
        {
            socket = ConnectConsole(container.Spec.Tty ? consoleSocket : null);
            var exitCode = new ContainerLauncher(log) { Timing = Timing }.Run(container.Spec, container.Seccomp?.Program, started: child =>
            {
                var saved = Record(id, bundle, container, child);
                _store.SaveLocked(saved);
                if (pidFile is not null) WritePidFile(pidFile, child.Pid);
                record = saved;
                try
                {
                    hooks?.Run(HookKind.Poststart, "running", child.Pid);
                }
                catch (ContainerError e)
                {
                    poststartFailure = e;
                    Process.Kill(child.Pid, Process.SIGKILL);
                }
            }, consoleSocket: socket, hooks: hooks, namespacesAhead: namespacesAhead);
            // The launcher has waited for the init and removed its cgroup: unless a process outlived the init in it
            // (no PID namespace), only the state is left.
            if (keep && poststartFailure is null) return exitCode;
            if (record!.CgroupDirectories.Any(Directory.Exists)) Delete(id, force: true);
            else RemoveState(id, hooks);
            return poststartFailure is null ? exitCode : throw poststartFailure;
        }
        finally
        {
            FileDescriptor.Close(socket);
            if (record is null) RemoveState(id, hooks);
        }
    }

    /// <summary>What `exec` runs: a process.json (--process), or the container's own process with these changes.</summary>
    public sealed record ExecRequest(string? ProcessFile, IReadOnlyList<string> Args, bool Tty, string? Cwd, IReadOnlyList<string> Env,
        string? User, IReadOnlyList<string> Capabilities);

    /// <summary>runc exec: a new process in a running container's namespaces and cgroup, with the container's seccomp
    /// filter; returns its exit code, or 0 once it runs with <paramref name="detach"/>.</summary>
    public int Exec(string id, ExecRequest request, bool detach, string? pidFile, string? consoleSocket, int preserveFds)
    {
        if (preserveFds < 0) throw new ContainerError($"invalid --preserve-fds {preserveFds}: must be 0 or more");
        var (held, record) = _store.Open(id);
        OciContainer container;
        using (held)
        {
            if (_store.StatusOf(record) != ContainerStatus.Running) throw new ContainerError($"container not running: {id}");
            if (record.Command is not null) throw new ContainerError($"exec: container {id} was started by tiny run, not from an OCI bundle");
            var config = OciConversion.Load(record.Bundle);
            config.Process = ExecProcess(request, config.Process ?? new OciProcess());
            container = OciConversion.ToContainer(config, record.Bundle, id, LsmEnabled);
        }
        var spec = ForThisHost(container.Spec) with { PreserveFds = preserveFds };
        if (detach) RequireConsoleSocket(container, consoleSocket);
        var socket = ConnectConsole(spec.Tty ? consoleSocket : null);
        try
        {
            var exitCode = new ContainerLauncher(log).Exec(spec, container.Seccomp?.Program, record.Pid, record.CgroupDirectories, detach,
                socket, pid =>
                {
                    if (pidFile is not null) WritePidFile(pidFile, pid);
                });
            return detach ? 0 : exitCode;
        }
        finally
        {
            FileDescriptor.Close(socket);
        }
    }

    static OciProcess ExecProcess(ExecRequest request, OciProcess own)
    {
        if (request.ProcessFile is { } file)
        {
            if (request.Args.Count > 0) throw new ContainerError("exec: give either --process or a command, not both");
            try
            {
                return JsonSerializer.Deserialize(File.ReadAllText(file), OciJsonContext.Default.OciProcess)
                    ?? throw new ContainerError($"--process {file}: empty document");
            }
            catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
            {
                throw new ContainerError($"--process {file}: {SeccompProfile.OneLine(e.Message)}");
            }
        }
        if (request.Args.Count == 0) throw new ContainerError("exec: a command is required (or --process FILE)");
        own.Args = [.. request.Args];
        own.Terminal = request.Tty;
        if (request.Cwd is not null) own.Cwd = request.Cwd;
        own.Env = [.. own.Env ?? [], .. request.Env];
        if (request.User is { } user)
        {
            var parts = user.Split(':');
            own.User = new OciUser
            {
                Uid = uint.TryParse(parts[0], out var uid) ? uid : throw new ContainerError($"invalid --user \"{user}\": expected UID[:GID]"),
                Gid = parts.Length < 2 ? 0 : uint.TryParse(parts[1], out var gid) ? gid : throw new ContainerError($"invalid --user \"{user}\": expected UID[:GID]"),
                Umask = own.User?.Umask,
            };
        }
        if (request.Capabilities.Count > 0)
        {
            var caps = own.Capabilities ?? new OciCapabilities();
            string[] Add(string[]? set) => [.. (set ?? []).Union(request.Capabilities)];
            own.Capabilities = new OciCapabilities
            {
                Bounding = Add(caps.Bounding), Effective = Add(caps.Effective), Permitted = Add(caps.Permitted),
                Inheritable = caps.Inheritable, Ambient = caps.Ambient,
            };
        }
        return own;
    }

    /// <summary>As runc: a terminal for a container that outlives tiny needs a socket to send its master to.</summary>
    static void RequireConsoleSocket(OciContainer container, string? consoleSocket)
    {
        if (container.Spec.Tty && consoleSocket is null)
            throw new ContainerError("cannot allocate tty if tiny will detach without setting console socket");
        if (!container.Spec.Tty && consoleSocket is not null)
            throw new ContainerError("cannot use console socket if tiny will not detach or allocate tty");
    }

    /// <summary>Connects to --console-socket before clone, so the child can send the master over it; -1 for none.</summary>
    static int ConnectConsole(string? path)
    {
        if (path is null) return -1;
        try
        {
            return UnixSocket.Connect(path);
        }
        catch (SyscallException e)
        {
            throw new ContainerError($"--console-socket {path}: {Errno.Describe(e.Errno)}");
        }
    }

    OciContainer Load(string id, string bundle, int preserveFds)
    {
        ContainerStore.ValidateId(id);
        if (options.SystemdCgroup)
            throw new ContainerError(Directory.Exists("/run/systemd/system")
                ? "--systemd-cgroup: tiny has no systemd cgroup driver"
                : "--systemd-cgroup: systemd is not running on this host (no /run/systemd/system)");
        if (preserveFds < 0) throw new ContainerError($"invalid --preserve-fds {preserveFds}: must be 0 or more");
        var fullBundle = Path.GetFullPath(bundle);
        var config = OciConversion.Load(fullBundle);
        var container = OciConversion.ToContainer(config, fullBundle, id, LsmEnabled, compileSeccomp: false);
        foreach (var skipped in container.Skipped) log.ZLogDebug($"{skipped}");
        container = container with { Spec = ForThisHost(container.Spec) with { PreserveFds = preserveFds } };
        // Before the filter is compiled, which a re-executed tiny would do again.
        ReadOnlyBinary.EnsureFor(container.Spec, tinyRun: false);
        return config.Linux?.Seccomp is { } seccomp ? OciConversion.WithSeccomp(container, seccomp) : container;
    }

    /// <summary>What depends on how tiny runs here: without the host's root, device nodes are bound, and a user
    /// namespace whose gid map an unprivileged process wrote has setgroups denied.</summary>
    static RunSpec ForThisHost(RunSpec spec)
    {
        spec = spec with { BindDevices = !Process.IsHostRoot() };
        if (spec.UserNamespace is not { } maps || !Users.RootlessIds.DeniesSetgroups(maps, Process.GetEffectiveUserId() == 0)) return spec;
        if (spec.AdditionalGids.Count > 0)
            throw new ContainerError($"{OciConversion.ConfigFile}: process.user.additionalGids cannot be set without root when linux.gidMappings maps one gid (setgroups is denied)");
        return spec with { SetgroupsDenied = true };
    }

    static ContainerRecord Record(string id, string bundle, OciContainer container, LaunchedContainer child) => new()
    {
        Id = id,
        Pid = child.Pid,
        PidStartTime = ContainerStore.ProcessStartTime(child.Pid) ?? 0,
        Bundle = Path.GetFullPath(bundle),
        Rootfs = container.Spec.Rootfs ?? "/",
        Created = DateTimeOffset.UtcNow,
        Annotations = new Dictionary<string, string>(container.Annotations),
        CgroupDirectories = child.Cgroup.Directories.ToArray(),
        Hooks = container.Hooks,
    };

    /// <summary>Removes the state of a container whose init and cgroups are gone (if there is any), then runs its poststop hooks.</summary>
    void RemoveState(string id, HookSession? hooks)
    {
        if (Directory.Exists(_store.DirectoryOf(id))) _store.Remove(id);
        hooks?.RunPoststop();
    }

    void KillAndWait(ContainerRecord record)
    {
        // Frozen tasks act on SIGKILL only once thawed (cgroup-v1 freezer).
        if (_freezer.IsFrozen(record.CgroupDirectories, record.FreezerDirectory)) _freezer.Thaw(record.CgroupDirectories, record.FreezerDirectory);
        foreach (var pid in ProcessesOf(record).Append(record.Pid).Distinct()) Process.Kill(pid, Process.SIGKILL);
        var deadline = Stopwatch.StartNew();
        while (_store.StatusOf(record) != ContainerStatus.Stopped || ProcessesOf(record).Any())
        {
            if (deadline.Elapsed > Patience) throw new ContainerError($"container \"{record.Id}\": processes still alive after SIGKILL");
            Thread.Sleep(1);
        }
    }

    /// <summary>The pids of the processes in a container.</summary>
    public IReadOnlyList<int> Processes(string id)
    {
        var (held, record) = _store.Open(id);
        using (held) return ProcessesOf(record).ToArray();
    }

    /// <summary>The pids in the container's cgroup (cgroup.procs of its first directory).</summary>
    static IEnumerable<int> ProcessesOf(ContainerRecord record)
    {
        if (record.CgroupDirectories.Length == 0) return [];
        var procs = KernelCgroupFileSystem.Instance.ReadOrNull(Path.Combine(record.CgroupDirectories[0], "cgroup.procs")) ?? "";
        return procs.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>As runc writes --pid-file: the pid with no newline, through a rename.</summary>
    internal static void WritePidFile(string path, int pid)
    {
        var full = Path.GetFullPath(path);
        var temporary = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.tmp");
        File.WriteAllText(temporary, pid.ToString(CultureInfo.InvariantCulture));
        File.Move(temporary, full, overwrite: true);
    }

    /// <summary>A signal as runc's kill takes it: a number, or a name with or without SIG (TERM, SIGTERM, sigterm).</summary>
    public static int ParseSignal(string text)
    {
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            return number is > 0 and <= Process.SignalMax ? number : throw new ContainerError($"invalid signal {text}");
        var name = text.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal)) name = name[3..];
        var index = Array.IndexOf(SignalNames, name);
        return index > 0 ? index : throw new ContainerError($"invalid signal \"{text}\"");
    }

    /// <summary>Whether an LSM is on, as runc asks: AppArmor's module parameter, SELinux's file system.</summary>
    static bool LsmEnabled(string lsm) => lsm switch
    {
        "apparmor" => File.Exists("/sys/module/apparmor/parameters/enabled")
            && File.ReadAllText("/sys/module/apparmor/parameters/enabled").StartsWith('Y'),
        _ => FileSystem.FileSystemType("/sys/fs/selinux") == SelinuxMagic,
    };

    const long SelinuxMagic = 0xf97cff8c;
}
