using System.Text.Json;
using Tiny.Interop;
using Tiny.Runtime.Cgroups;
using Tiny.Runtime.Mounts;
using Tiny.Runtime.Seccomp;
using Tiny.Runtime.Security;
using Tiny.Runtime.Spec;

namespace Tiny.Runtime.Oci;

/// <summary>A bundle's config turned into what the launcher runs, plus what the state keeps.</summary>
/// <param name="Skipped">Fields left out as runc leaves them out on this host (an LSM label with the LSM off), for a debug line.</param>
/// <param name="Hooks">The config's hooks as given, for the state.</param>
public sealed record OciContainer(RunSpec Spec, SeccompFilter? Seccomp, IReadOnlyDictionary<string, string> Annotations,
    IReadOnlyList<string> Skipped, OciHooks? Hooks = null);

/// <summary>
/// Checks a config.json and converts it to a <see cref="RunSpec"/>. A field tiny does not implement
/// is an error that names it (exit 125), never ignored; so is a value the spec does not allow.
/// </summary>
public static class OciConversion
{
    public const string ConfigFile = "config.json";

    static readonly string[] RlimitNames =
    [
        "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS", "RLIMIT_NPROC",
        "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
    ];

    /// <summary>Namespace types as config.json names them, and the clone flag of each that tiny can create or join.</summary>
    public static readonly (string Name, ulong Flag)[] NamespaceTypes =
    [
        ("pid", Namespace.CLONE_NEWPID), ("network", Namespace.CLONE_NEWNET), ("mount", Namespace.CLONE_NEWNS),
        ("ipc", Namespace.CLONE_NEWIPC), ("uts", Namespace.CLONE_NEWUTS), ("cgroup", Namespace.CLONE_NEWCGROUP),
        ("user", Namespace.CLONE_NEWUSER),
    ];

    /// <summary>Sysctls that belong to the IPC namespace (ipc_namespaces(7)), as runc's validator lists them.</summary>
    static readonly string[] IpcSysctls =
        ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];

    /// <param name="json">config.json's bytes (UTF-8).</param>
    public static OciConfig Parse(ReadOnlySpan<byte> json, string source = ConfigFile)
    {
        try
        {
            return OciConfigReader.Parse(json) ?? throw new ContainerError($"{source}: empty document");
        }
        catch (JsonException e)
        {
            throw new ContainerError($"{source}: {SeccompProfile.OneLine(e.Message)}");
        }
    }

    /// <summary>Reads BUNDLE/config.json.</summary>
    public static OciConfig Load(string bundle)
    {
        var path = Path.Combine(bundle, ConfigFile);
        if (!Directory.Exists(bundle)) throw new ContainerError($"bundle {bundle}: no such directory");
        if (!File.Exists(path)) throw new ContainerError($"bundle {bundle}: no {ConfigFile}");
        return Parse(FileDescriptor.ReadAllBytes(path), path);
    }

    /// <param name="config">The parsed config.</param>
    /// <param name="bundle">The bundle directory (absolute): root.path is relative to it.</param>
    /// <param name="id">The container id.</param>
    /// <param name="lsmEnabled">Whether AppArmor / SELinux are on: their labels are skipped where they are off, as runc does.</param>
    /// <param name="compileSeccomp">False to leave linux.seccomp for <see cref="WithSeccomp"/>.</param>
    public static OciContainer ToContainer(OciConfig config, string bundle, string id, Func<string, bool> lsmEnabled, bool compileSeccomp = true)
    {
        if (config.OciVersion is not { } version || !version.StartsWith("1.", StringComparison.Ordinal))
            throw Error("ociVersion", $"\"{config.OciVersion}\" is not a 1.x runtime spec version");
        var hooks = Hooks(config.Hooks);
        Unsupported(config.Solaris, "solaris");
        Unsupported(config.Windows, "windows");
        Unsupported(config.Vm, "vm");
        Unsupported(config.Zos, "zos");
        var process = config.Process ?? throw Error("process", "is required");
        var linux = config.Linux ?? new OciLinux();
        List<string> skipped = [];

        var namespaces = Namespaces(linux.Namespaces ?? []);
        bool IsNew(ulong flag) => namespaces.Any(n => n.Type == flag && n.Path is null);
        bool Has(ulong flag) => namespaces.Any(n => n.Type == flag);
        if (config.Hostname is { Length: > 0 } && !Has(Namespace.CLONE_NEWUTS))
            throw Error("hostname", "needs a uts namespace of the container's own");
        if (config.Domainname is { Length: > 0 } && !Has(Namespace.CLONE_NEWUTS))
            throw Error("domainname", "needs a uts namespace of the container's own");

        Unsupported(linux.TimeOffsets, "linux.timeOffsets");
        Unsupported(linux.NetDevices, "linux.netDevices");
        Unsupported(linux.IntelRdt, "linux.intelRdt");
        Unsupported(linux.MemoryPolicy, "linux.memoryPolicy");
        Label(linux.MountLabel, "linux.mountLabel", "selinux", lsmEnabled, skipped);
        Label(process.ApparmorProfile, "process.apparmorProfile", "apparmor", lsmEnabled, skipped);
        Label(process.SelinuxLabel, "process.selinuxLabel", "selinux", lsmEnabled, skipped);

        var capabilities = Capabilities(process.Capabilities);
        // The kernel raises an ambient capability only when it is permitted and inheritable (capabilities(7));
        // runc ignores the failure for the others, so the ambient set is what both allow.
        var ambient = new CapabilitySet(capabilities.Ambient.Mask & capabilities.Permitted.Mask & capabilities.Inheritable.Mask);
        if (ambient != capabilities.Ambient)
            skipped.Add($"process.capabilities.ambient: {new CapabilitySet(capabilities.Ambient.Mask & ~ambient.Mask)} not raised: not both permitted and inheritable");
        capabilities = capabilities with { Ambient = ambient };
        var user = User(process);
        var mounts = OciMounts.Convert(config.Mounts ?? [], bundle);
        var userNamespace = UserNamespaceOf(linux, IsNew(Namespace.CLONE_NEWUSER), user);
        var spec = new RunSpec
        {
            Id = id,
            Hostname = config.Hostname ?? "",
            Domainname = config.Domainname is { Length: > 0 } domain ? domain : null,
            Rootfs = Rootfs(config.Root, bundle),
            ReadonlyRootfs = config.Root!.Readonly,
            Mounts = mounts.Requests,
            StandardMounts = mounts.Standard,
            CgroupMountFlags = mounts.CgroupFlags,
            Devices = Devices(linux.Devices ?? []),
            Command = Args(process),
            Env = Env(process.Env ?? []),
            Workdir = process.Cwd is { Length: > 0 } cwd && cwd.StartsWith('/') ? cwd : throw Error("process.cwd", $"\"{process.Cwd}\" must be an absolute path"),
            Uid = user.Uid,
            Gid = user.Gid,
            AdditionalGids = user.AdditionalGids ?? [],
            Umask = user.Umask ?? 0x12,
            Capabilities = capabilities.Bounding,
            CapabilitySets = capabilities,
            Rlimits = Rlimits(process.Rlimits ?? []),
            NoNewPrivileges = process.NoNewPrivileges,
            OomScoreAdj = process.OomScoreAdj,
            Namespaces = namespaces,
            Network = IsNew(Namespace.CLONE_NEWNET) ? NetworkMode.None : NetworkMode.Host,
            MaskedPaths = AbsolutePaths(linux.MaskedPaths, "linux.maskedPaths"),
            ReadonlyPaths = AbsolutePaths(linux.ReadonlyPaths, "linux.readonlyPaths"),
            RootPropagation = RootPropagation(linux.RootfsPropagation),
            // A namespace joined by path is the container's own too (podman's network namespace under /run/netns),
            // unless it is tiny's own, the host's.
            Sysctl = Sysctl(linux.Sysctl, flag => IsNew(flag) || namespaces.Any(n => n.Type == flag && n.Path is { } path && !IsCallers(path, flag))),
            CgroupsPath = CgroupsPath(linux.CgroupsPath),
            Limits = Limits(linux.Resources),
            Tty = process.Terminal,
            Interactive = process.Terminal,
            ConsoleSize = ConsoleSize(process),
            UserNamespace = userNamespace,
            Personality = Personality(linux.Personality, skipped),
            Hooks = hooks,
        };
        var container = new OciContainer(spec, null, config.Annotations ?? [], skipped, config.Hooks);
        return compileSeccomp && linux.Seccomp is { } seccomp ? WithSeccomp(container, seccomp) : container;
    }

    /// <summary>The container with the filter its linux.seccomp asks for.</summary>
    public static OciContainer WithSeccomp(OciContainer container, LinuxSeccomp seccomp)
    {
        var filter = SeccompPolicy.ForOci(seccomp);
        return container with { Seccomp = filter, Spec = container.Spec with { SeccompFlags = (uint)filter.Flags } };
    }

    static ContainerError Error(string field, string problem) => new($"{ConfigFile}: {field} {problem}");

    /// <summary>The hooks, checked as the spec requires: an absolute path, a timeout above zero; null when there are none.</summary>
    public static ContainerHooks? Hooks(OciHooks? hooks)
    {
        if (hooks is null) return null;
        var byKind = new Dictionary<HookKind, IReadOnlyList<Hook>>();
        foreach (var (kind, list) in new[]
        {
            (HookKind.Prestart, hooks.Prestart), (HookKind.CreateRuntime, hooks.CreateRuntime), (HookKind.CreateContainer, hooks.CreateContainer),
            (HookKind.StartContainer, hooks.StartContainer), (HookKind.Poststart, hooks.Poststart), (HookKind.Poststop, hooks.Poststop),
        })
        {
            if (list is not { Length: > 0 }) continue;
            byKind[kind] = list.Select((hook, i) =>
            {
                var field = $"hooks.{ContainerHooks.NameOf(kind)}[{i}]";
                if (hook.Path is not { Length: > 0 } path) throw Error(field + ".path", "is required");
                if (!path.StartsWith('/')) throw Error(field + ".path", $"\"{path}\" must be an absolute path");
                if (hook.Timeout is <= 0) throw Error(field + ".timeout", $"{hook.Timeout} must be greater than zero");
                return new Hook(path, hook.Args ?? [], hook.Env, hook.Timeout);
            }).ToArray();
        }
        return byKind.Count == 0 ? null : new ContainerHooks(byKind);
    }

    static void Unsupported(JsonElement? value, string field)
    {
        if (value is not { } element || element.ValueKind == JsonValueKind.Null) return;
        if (element.ValueKind == JsonValueKind.Array && element.GetArrayLength() == 0) return;
        if (element.ValueKind == JsonValueKind.Object && !element.EnumerateObject().Any(p => p.Value.ValueKind is not JsonValueKind.Null
            && !(p.Value.ValueKind == JsonValueKind.Array && p.Value.GetArrayLength() == 0))) return;
        throw Error(field, "is not supported by tiny");
    }

    static void Label(string? value, string field, string lsm, Func<string, bool> lsmEnabled, List<string> skipped)
    {
        if (string.IsNullOrEmpty(value)) return;
        if (lsmEnabled(lsm)) throw Error(field, $"is not supported by tiny ({lsm} is enabled on this host)");
        skipped.Add($"{field} skipped: {lsm} is not enabled on this host");
    }

    static IReadOnlyList<NamespaceRequest> Namespaces(OciNamespace[] namespaces)
    {
        List<NamespaceRequest> result = [];
        foreach (var ns in namespaces)
        {
            var field = $"linux.namespaces \"{ns.Type}\"";
            if (ns.Type is "time") throw Error(field, "is not supported by tiny");
            var known = NamespaceTypes.FirstOrDefault(t => t.Name == ns.Type);
            if (known.Name is null) throw Error(field, "is not a namespace type");
            if (result.Any(r => r.Type == known.Flag)) throw Error(field, "is listed twice");
            var path = string.IsNullOrEmpty(ns.Path) ? null : ns.Path;
            if (path is not null && known.Flag is Namespace.CLONE_NEWPID or Namespace.CLONE_NEWUSER)
                throw Error($"{field} path", $"(joining a {ns.Type} namespace) is not supported by tiny");
            if (path is not null && !File.Exists(path)) throw Error($"{field} path", $"{path}: no such file");
            result.Add(new NamespaceRequest(known.Flag, path));
        }
        if (!result.Any(r => r.Type == Namespace.CLONE_NEWNS))
            throw Error("linux.namespaces", "must include a mount namespace (tiny does not set up a rootfs in the host's)");
        return result;
    }

    /// <summary>Whether the nsfs file at <paramref name="path"/> is the namespace tiny itself is in: an open nsfs file's
    /// /proc/self/fd link reads "net:[INODE]" as /proc/self/ns/net does (namespaces(7)).</summary>
    static bool IsCallers(string path, ulong type)
    {
        static string? Identity(string file)
        {
            try
            {
                using var handle = File.OpenHandle(file);
                return new FileInfo($"/proc/self/fd/{handle.DangerousGetHandle()}").LinkTarget;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
        var own = Identity($"/proc/self/ns/{ProcNamespaceFiles[type]}");
        return own is null || own == Identity(path);
    }

    /// <summary>The files under /proc/PID/ns/ of each namespace type (namespaces(7)).</summary>
    public static readonly Dictionary<ulong, string> ProcNamespaceFiles = new()
    {
        [Namespace.CLONE_NEWNS] = "mnt", [Namespace.CLONE_NEWUTS] = "uts", [Namespace.CLONE_NEWIPC] = "ipc",
        [Namespace.CLONE_NEWPID] = "pid", [Namespace.CLONE_NEWNET] = "net", [Namespace.CLONE_NEWCGROUP] = "cgroup",
        [Namespace.CLONE_NEWUSER] = "user",
    };

    /// <summary>A new user namespace and its maps go together (runc's validator); the process's IDs must be mapped.
    /// The rootfs is used as it is, as runc does: a bundle for a user namespace comes with its files owned by the mapped IDs.</summary>
    static UserNamespace? UserNamespaceOf(OciLinux linux, bool newUserNamespace, OciUser user)
    {
        if (!newUserNamespace)
        {
            if (linux.UidMappings is { Length: > 0 } || linux.GidMappings is { Length: > 0 })
                throw Error("linux.uidMappings", "needs a new user namespace in linux.namespaces");
            return null;
        }
        var uids = (linux.UidMappings ?? []).Select(m => new IdMapping(m.ContainerId, m.HostId, m.Size)).ToArray();
        var gids = (linux.GidMappings ?? []).Select(m => new IdMapping(m.ContainerId, m.HostId, m.Size)).ToArray();
        if (uids.Length == 0) throw Error("linux.uidMappings", "is required with a user namespace");
        if (gids.Length == 0) throw Error("linux.gidMappings", "is required with a user namespace");
        try
        {
            var maps = new UserNamespace(UserNamespace.CheckedMap(uids, "linux.uidMappings"), UserNamespace.CheckedMap(gids, "linux.gidMappings"));
            if (!UserNamespace.Maps(maps.UidMap, user.Uid)) throw Error("process.user.uid", $"{user.Uid} is not mapped by linux.uidMappings");
            if (!UserNamespace.Maps(maps.GidMap, user.Gid)) throw Error("process.user.gid", $"{user.Gid} is not mapped by linux.gidMappings");
            return maps;
        }
        catch (ContainerError e) when (!e.Message.StartsWith(ConfigFile, StringComparison.Ordinal))
        {
            throw new ContainerError($"{ConfigFile}: {e.Message}");
        }
    }

    static string Rootfs(OciRoot? root, string bundle)
    {
        if (root?.Path is not { Length: > 0 } path) throw Error("root.path", "is required");
        var full = Path.GetFullPath(path, bundle);
        var info = new DirectoryInfo(full);
        if (!info.Exists) throw Error("root.path", $"{full}: no such directory");
        var resolved = (info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full).TrimEnd('/');
        return resolved.Length == 0 ? throw Error("root.path", "must not be the host's root") : resolved;
    }

    static IReadOnlyList<string> Args(OciProcess process)
    {
        if (process.CommandLine is { Length: > 0 }) throw Error("process.commandLine", "is for Windows; use process.args");
        Unsupported(process.Scheduler, "process.scheduler");
        Unsupported(process.IoPriority, "process.ioPriority");
        Unsupported(process.ExecCpuAffinity, "process.execCPUAffinity");
        return process.Args is { Length: > 0 } args && args[0].Length > 0 ? args : throw Error("process.args", "must name a command");
    }

    static IReadOnlyList<string> Env(string[] env)
    {
        foreach (var entry in env)
            if (entry.IndexOf('=') <= 0) throw Error("process.env", $"\"{entry}\" is not KEY=VALUE");
        return env;
    }

    static OciUser User(OciProcess process)
    {
        var user = process.User ?? throw Error("process.user", "is required");
        if (user.Username is { Length: > 0 }) throw Error("process.user.username", "is for Windows; use uid and gid");
        return user;
    }

    static ProcessCapabilities Capabilities(OciCapabilities? caps)
    {
        CapabilitySet Set(string[]? names, string field)
        {
            var set = new CapabilitySet(0);
            foreach (var name in names ?? [])
            {
                if (!name.StartsWith("CAP_", StringComparison.Ordinal) || !CapabilitySet.TryParse(name, out var cap))
                    throw Error($"process.capabilities.{field}", $"\"{name}\" is not a capability tiny knows");
                set = set.With(cap);
            }
            return set;
        }
        return new(Set(caps?.Bounding, "bounding"), Set(caps?.Effective, "effective"), Set(caps?.Permitted, "permitted"),
            Set(caps?.Inheritable, "inheritable"), Set(caps?.Ambient, "ambient"));
    }

    /// <summary>The terminal's first size; none without a terminal (the runtime spec ignores it then) or when a side is 0, as runc.</summary>
    static Terminal.WindowSize? ConsoleSize(OciProcess process)
    {
        if (!process.Terminal || process.ConsoleSize is not { Height: > 0, Width: > 0 } size) return null;
        if (size.Height > ushort.MaxValue || size.Width > ushort.MaxValue)
            throw Error("process.consoleSize", $"{size.Height}x{size.Width} is larger than a terminal's 65535x65535");
        return new Terminal.WindowSize { Rows = (ushort)size.Height, Columns = (ushort)size.Width };
    }

    static IReadOnlyList<Rlimit> Rlimits(OciRlimit[] rlimits)
    {
        List<Rlimit> result = [];
        foreach (var limit in rlimits)
        {
            var resource = Array.IndexOf(RlimitNames, limit.Type);
            var field = $"process.rlimits \"{limit.Type}\"";
            if (resource < 0) throw Error(field, "is not an rlimit type");
            if (result.Any(r => r.Resource == resource)) throw Error(field, "is listed twice");
            if (limit.Soft > limit.Hard) throw Error(field, $"soft limit {limit.Soft} is above the hard limit {limit.Hard}");
            result.Add(new Rlimit(resource, limit.Soft, limit.Hard));
        }
        return result;
    }

    static IReadOnlyList<string> AbsolutePaths(string[]? paths, string field)
    {
        foreach (var path in paths ?? [])
            if (!path.StartsWith('/')) throw Error(field, $"\"{path}\" must be an absolute path");
        return paths ?? [];
    }

    /// <summary>runc's default is rslave when the config names none.</summary>
    static ulong RootPropagation(string? propagation) => propagation switch
    {
        null or "" or "rslave" => Mount.MS_REC | Mount.MS_SLAVE,
        "slave" => Mount.MS_SLAVE,
        "private" => Mount.MS_PRIVATE,
        "rprivate" => Mount.MS_REC | Mount.MS_PRIVATE,
        "shared" or "rshared" or "unbindable" or "runbindable" => throw Error("linux.rootfsPropagation", $"\"{propagation}\" is not supported by tiny"),
        _ => throw Error("linux.rootfsPropagation", $"\"{propagation}\" is not a propagation type"),
    };

    /// <summary>A sysctl is allowed when the namespace it belongs to is the container's own, new or joined (runc's validator).</summary>
    static IReadOnlyList<KeyValuePair<string, string>> Sysctl(Dictionary<string, string>? sysctl, Func<ulong, bool> isOwn)
    {
        foreach (var (key, _) in sysctl ?? [])
        {
            var field = $"linux.sysctl \"{key}\"";
            if (key.Contains('/') || key.Split('.').Any(part => part.Length == 0)) throw Error(field, "is not a sysctl name");
            var ns = IpcSysctls.Contains(key) || key.StartsWith("fs.mqueue.", StringComparison.Ordinal) ? Namespace.CLONE_NEWIPC
                : key.StartsWith("net.", StringComparison.Ordinal) ? Namespace.CLONE_NEWNET
                : key is "kernel.domainname" or "kernel.hostname" ? Namespace.CLONE_NEWUTS
                : 0UL;
            if (ns == 0) throw Error(field, "is not in a namespace of the container's own: it would change the host");
            if (!isOwn(ns)) throw Error(field, $"needs a {NamespaceTypes.First(t => t.Flag == ns).Name} namespace of the container's own");
        }
        return sysctl?.ToList() ?? [];
    }

    static string? CgroupsPath(string? path)
    {
        if (string.IsNullOrEmpty(path)) return null;
        if (path.Contains(':')) throw Error("linux.cgroupsPath", $"\"{path}\" is a systemd slice:prefix:name path; tiny has no systemd cgroup driver");
        if (path.Split('/').Any(part => part is "." or "..")) throw Error("linux.cgroupsPath", $"\"{path}\" must not contain . or ..");
        return path;
    }

    /// <summary>personality(2)'s execution domain: PER_LINUX or PER_LINUX32 (sys/personality.h). runc ignores the flags
    /// with a warning; so does tiny.</summary>
    static ulong? Personality(OciPersonality? personality, List<string> skipped)
    {
        if (personality is null) return null;
        if (personality.Flags is { Length: > 0 } flags) skipped.Add($"linux.personality.flags {string.Join(", ", flags)} ignored, as runc ignores them");
        return personality.Domain switch
        {
            "LINUX" => 0x0000,
            "LINUX32" => 0x0008,
            _ => throw Error("linux.personality.domain", $"\"{personality.Domain}\" is not LINUX or LINUX32"),
        };
    }

    /// <summary>linux.resources as limits; a field tiny does not support is an error that names it.</summary>
    /// <param name="hugePageSizes">The page sizes a huge page limit may name [default: this host's].</param>
    public static ResourceLimits Limits(OciResources? resources, IReadOnlyList<string>? hugePageSizes = null)
    {
        if (resources is null) return ResourceLimits.None;
        Unsupported(resources.Network, "linux.resources.network");
        Unsupported(resources.Rdma, "linux.resources.rdma");
        Unsupported(resources.Unified, "linux.resources.unified");
        var memory = resources.Memory ?? new OciMemory();
        if (memory.Reservation is not null) throw Error("linux.resources.memory.reservation", "is not supported by tiny");
        if (memory.Swap is < -1 or 0 || (memory.Swap > 0 && memory.Limit is > 0 && memory.Swap < memory.Limit))
            throw Error("linux.resources.memory.swap", $"{memory.Swap} must be -1 or at least the memory limit (it counts memory plus swap)");
        if (memory.Kernel is not null) throw Error("linux.resources.memory.kernel", "is not supported by tiny");
        if (memory.KernelTcp is not null) throw Error("linux.resources.memory.kernelTCP", "is not supported by tiny");
        if (memory.Swappiness is not null) throw Error("linux.resources.memory.swappiness", "is not supported by tiny");
        if (memory.DisableOomKiller == true) throw Error("linux.resources.memory.disableOOMKiller", "is not supported by tiny");
        if (memory.UseHierarchy == true) throw Error("linux.resources.memory.useHierarchy", "is not supported by tiny");
        if (memory.CheckBeforeUpdate == true) throw Error("linux.resources.memory.checkBeforeUpdate", "is not supported by tiny");
        var cpu = resources.Cpu ?? new OciCpu();
        if (cpu.Burst is not null) throw Error("linux.resources.cpu.burst", "is not supported by tiny");
        if (cpu.RealtimeRuntime is not null) throw Error("linux.resources.cpu.realtimeRuntime", "is not supported by tiny");
        if (cpu.RealtimePeriod is not null) throw Error("linux.resources.cpu.realtimePeriod", "is not supported by tiny");
        if (cpu.Cpus is { Length: > 0 }) throw Error("linux.resources.cpu.cpus", "is not supported by tiny");
        if (cpu.Mems is { Length: > 0 }) throw Error("linux.resources.cpu.mems", "is not supported by tiny");
        if (cpu.Idle is not null) throw Error("linux.resources.cpu.idle", "is not supported by tiny");
        if (cpu.Shares is > 262144 or (> 0 and < 2)) throw Error("linux.resources.cpu.shares", $"{cpu.Shares} is outside 2 to 262144");
        return new ResourceLimits(
            MemoryBytes: memory.Limit is > 0 ? memory.Limit : null,
            CpuQuotaMicros: cpu.Quota is > 0 ? cpu.Quota : null,
            CpuPeriod: cpu.Period is > 0 ? (long)cpu.Period : null,
            CpuShares: cpu.Shares is > 0 ? (long)cpu.Shares : null,
            PidsMax: resources.Pids?.Limit is > 0 ? resources.Pids.Limit : null)
        {
            MemorySwapBytes = memory.Swap,
            DeviceRules = resources.Devices is { Length: > 0 } rules ? [.. rules.Select(DeviceRule), .. Cgroups.DeviceRule.RuncDefaults] : null,
            BlockIo = BlockIo(resources.BlockIo),
            HugepageLimits = resources.HugepageLimits is { Length: > 0 } hugepages ? Hugepages(hugepages, hugePageSizes ?? HugepageLimit.HostSizes()) : null,
        };
    }

    /// <summary>Weights from 10 to 1000 as the spec gives them (0 is unset, as runc reads it); devices as MAJ:MIN.</summary>
    static BlockIoLimits? BlockIo(OciBlockIo? io)
    {
        if (io is null) return null;
        const string field = "linux.resources.blockIO";
        static int? Weight(int? weight, string name) => weight is null or 0 ? null
            : weight is >= 10 and <= 1000 ? weight : throw Error(name, $"{weight} is outside 10 to 1000");
        static void CheckDevice(long major, long minor, string name)
        {
            if (major < 0 || minor < 0) throw Error(name, $"{major}:{minor} is not a device number");
        }
        IReadOnlyList<DeviceRate> Rates(OciThrottleDevice[]? devices, string name) => [.. (devices ?? []).Select((d, i) =>
        {
            CheckDevice(d.Major, d.Minor, $"{field}.{name}[{i}]");
            return new DeviceRate(d.Major, d.Minor, d.Rate);
        })];
        var limits = new BlockIoLimits(Weight(io.Weight, $"{field}.weight"), Weight(io.LeafWeight, $"{field}.leafWeight"))
        {
            WeightDevices = [.. (io.WeightDevice ?? []).Select((d, i) =>
            {
                var name = $"{field}.weightDevice[{i}]";
                CheckDevice(d.Major, d.Minor, name);
                return new DeviceWeight(d.Major, d.Minor, Weight(d.Weight, $"{name}.weight"), Weight(d.LeafWeight, $"{name}.leafWeight"));
            })],
            ReadBps = Rates(io.ThrottleReadBpsDevice, "throttleReadBpsDevice"),
            WriteBps = Rates(io.ThrottleWriteBpsDevice, "throttleWriteBpsDevice"),
            ReadIops = Rates(io.ThrottleReadIopsDevice, "throttleReadIOPSDevice"),
            WriteIops = Rates(io.ThrottleWriteIopsDevice, "throttleWriteIOPSDevice"),
        };
        return limits.IsEmpty ? null : limits;
    }

    /// <param name="sizes">This host's huge page sizes, listed once for all the limits.</param>
    static HugepageLimit[] Hugepages(OciHugepageLimit[] limits, IReadOnlyList<string> sizes) => [.. limits.Select((limit, index) =>
    {
        var field = $"linux.resources.hugepageLimits[{index}].pageSize";
        if (limit.PageSize is not { Length: > 0 } size) throw Error(field, "is required");
        if (!sizes.Contains(size))
            throw Error(field, $"\"{size}\" is not a huge page size of this host ({(sizes.Count == 0 ? "it has none" : string.Join(", ", sizes))}, from {HugepageLimit.SysfsDirectory})");
        return new HugepageLimit(size, limit.Limit);
    })];

    static DeviceRule DeviceRule(OciDeviceRule rule, int index)
    {
        var field = $"linux.resources.devices[{index}]";
        var type = rule.Type switch
        {
            null or "" or "a" => 'a',
            "c" or "b" => rule.Type[0],
            _ => throw Error($"{field}.type", $"\"{rule.Type}\" is not a, c or b"),
        };
        var access = rule.Access is { Length: > 0 } a ? a : "rwm";
        if (access.Any(c => c is not ('r' or 'w' or 'm')) || access.Distinct().Count() != access.Length)
            throw Error($"{field}.access", $"\"{rule.Access}\" is not made of r, w and m");
        long? Number(long? value, string name) => value is null or -1 ? null
            : value >= 0 ? value : throw Error($"{field}.{name}", $"{value} is not a device number");
        var major = Number(rule.Major, "major");
        var minor = Number(rule.Minor, "minor");
        // The v1 controller reads any rule that starts with "a" as every device with every access (devcgroup_update_access).
        if (type == 'a' && (major is not null || minor is not null || access != "rwm"))
            throw Error(field, "a rule for all device types must cover every device and rwm access in tiny");
        return new DeviceRule(rule.Allow, type, major, minor, access);
    }

    static IReadOnlyList<DeviceNode> Devices(OciDevice[] devices)
    {
        List<DeviceNode> result = [];
        for (var i = 0; i < devices.Length; i++)
        {
            var device = devices[i];
            var field = $"linux.devices[{i}]";
            var path = Mounts.ContainerPath.Clean(device.Path ?? "");
            // Under /dev only: a fresh tmpfs in which nothing of the rootfs's can redirect mknod.
            if (path is null || !path.StartsWith("/dev/", StringComparison.Ordinal) || path.Split('/').Length < 3)
                throw Error($"{field}.path", $"\"{device.Path}\" must be a path under /dev in tiny");
            if (path.Split('/')[2] is "pts" or "shm" or "mqueue" or "fd" or "stdin" or "stdout" or "stderr" or "ptmx" or "core")
                throw Error($"{field}.path", $"\"{device.Path}\" is one of the mounts or links tiny makes in /dev");
            if (result.Any(d => d.Path == path)) throw Error($"{field}.path", $"\"{path}\" is listed twice");
            var type = device.Type switch
            {
                "c" or "u" => FileDescriptor.S_IFCHR,
                "b" => FileDescriptor.S_IFBLK,
                "p" => FileDescriptor.S_IFIFO,
                _ => throw Error($"{field}.type", $"\"{device.Type}\" is not c, u, b or p"),
            };
            if (device.Type != "p" && (device.Major is < 0 or > 0xfff || device.Minor is < 0 or > 0xfffff))
                throw Error(field, $"{device.Major}:{device.Minor} is not a device number");
            result.Add(new DeviceNode(path, type | ((device.FileMode ?? 0x1b6 /* 0666 */) & 0xfff), (uint)device.Major, (uint)device.Minor,
                device.Uid ?? 0, device.Gid ?? 0));
        }
        return result;
    }
}
