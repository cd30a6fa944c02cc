using System.Globalization;
using Tiny.Runtime.Cgroups;
using Tiny.Runtime.Mounts;
using Tiny.Runtime.Security;

namespace Tiny.Runtime.Spec;

/// <summary>`tiny run` options as typed on the command line, before validation.</summary>
public sealed partial record RunOptions
{
    public string? Rootfs { get; init; }
    public string? Name { get; init; }
    public string? Hostname { get; init; }
    public string? User { get; init; }
    public IReadOnlyList<string> Env { get; init; } = [];
    public string? Workdir { get; init; }
    public bool Readonly { get; init; }
    public string? Memory { get; init; }
    public string? Cpus { get; init; }
    public int? CpuWeight { get; init; }
    public long? Pids { get; init; }
    public IReadOnlyList<string> CapAdd { get; init; } = [];
    public IReadOnlyList<string> CapDrop { get; init; } = [];
    /// <summary>none, host or bridge; null means bridge for root and none for anyone else (a bridge needs root).</summary>
    public string? Net { get; init; }
    public string? Subnet { get; init; }
    public string? Ip { get; init; }
    public IReadOnlyList<string> Publish { get; init; } = [];
    public string? Seccomp { get; init; }
    public bool Tty { get; init; }
    public bool Interactive { get; init; }
    public bool Init { get; init; }
    public IReadOnlyList<string> Volumes { get; init; } = [];
    public IReadOnlyList<string> Tmpfs { get; init; } = [];
    public IReadOnlyList<string> Mounts { get; init; } = [];
    public IReadOnlyList<string> Command { get; init; } = [];
    /// <summary>auto, host, or null: no user namespace unless --uidmap or --gidmap asks for one.</summary>
    public string? Userns { get; init; }
    public IReadOnlyList<string> UidMap { get; init; } = [];
    public IReadOnlyList<string> GidMap { get; init; } = [];

    /// <summary>Checks every option and turns them into a <see cref="RunSpec"/>; the first bad one is a <see cref="ContainerError"/>.</summary>
    /// <param name="rootless">Rootless: the user namespace that gives the caller a root of its own (<see cref="Users.RootlessIds"/>).</param>
    public RunSpec ToSpec(Func<string, string?> hostEnv, bool asRoot = true, UserNamespace? rootless = null)
    {
        if (Command.Count == 0 || Command[0].Length == 0) throw new ContainerError("run needs a command: tiny run [options] [--] COMMAND [ARG...]");
        var rootfs = ResolveRootfs(Rootfs);
        var id = Name ?? RandomId();
        if (!IsValidName(id)) throw new ContainerError($"invalid --name \"{id}\": use letters, digits, '_', '.' and '-' (at most 64, starting with a letter or digit)");
        var hostname = Hostname ?? id;
        if (hostname.Length is 0 or > 64) throw new ContainerError($"invalid --hostname \"{hostname}\": 1 to 64 characters");
        var (uid, gid, home) = UserLookup.Resolve(User, rootfs ?? "/");
        var workdir = Workdir ?? "/";
        if (!workdir.StartsWith('/')) throw new ContainerError($"invalid --workdir \"{workdir}\": must be an absolute path");
        var network = ParseNetwork(bridgeByDefault: asRoot && rootless is null);
        var requested = UserNamespace.FromOptions(Userns, UidMap, GidMap);
        if (rootless is not null && requested is not null)
            throw new ContainerError("--userns, --uidmap and --gidmap need root: rootless, tiny maps your uid and gid to 0 and your /etc/subuid and /etc/subgid ranges after them");
        if (rootless is not null && network == NetworkMode.Bridge) throw new ContainerError("--net bridge needs root (rootless, the network is none)");
        var userNamespace = (rootless ?? requested)?.CheckedFor(rootfs, network, uid, gid);
        var mounts = MountOptions.Parse(Volumes, Tmpfs, Mounts, Path.GetFullPath);
        if (rootfs is null && mounts.FirstOrDefault(m => m.IsBind && IsUnder(m.Source!, RootfsSetup.HostRootStaging)) is { } hidden)
            throw new ContainerError($"bind source {hidden.Source}: {RootfsSetup.HostRootStaging} is hidden when the rootfs is the host's root; use --rootfs");

        return new RunSpec
        {
            Id = id,
            Hostname = hostname,
            Rootfs = rootfs,
            ReadonlyRootfs = Readonly,
            Mounts = mounts,
            Init = Init,
            Command = Command,
            Env = BuildEnv(hostname, home, hostEnv),
            Workdir = workdir,
            Uid = uid,
            Gid = gid,
            Capabilities = BuildCapabilities(),
            Limits = new ResourceLimits(
                Memory is null ? null : Size.Parse(Memory, "--memory"),
                Cpus is null ? null : CpuQuota(Cpus),
                CpuWeight is null or (>= 1 and <= 10000) ? CpuWeight : throw new ContainerError($"invalid --cpu-weight {CpuWeight}: must be from 1 to 10000"),
                Pids is null or > 0 ? Pids : throw new ContainerError($"invalid --pids {Pids}: must be a positive number")),
            Network = network,
            Bridge = network == NetworkMode.Bridge ? new BridgeOptions(Subnet, Ip, Publish) : null,
            Seccomp = Seccomp,
            Tty = Tty,
            Interactive = Interactive,
            UserNamespace = userNamespace,
            IdMappedRootfs = requested is not null,
            SetgroupsDenied = rootless is not null && Users.RootlessIds.DeniesSetgroups(rootless, asRoot),
            NotifySocket = hostEnv("NOTIFY_SOCKET") is { Length: > 0 } notify ? notify : null,
        };
    }

    NetworkMode ParseNetwork(bool bridgeByDefault)
    {
        var network = (Net ?? (bridgeByDefault ? "bridge" : "none")) switch
        {
            "none" => NetworkMode.None,
            "host" => NetworkMode.Host,
            "bridge" => NetworkMode.Bridge,
            _ => throw new ContainerError($"invalid --net \"{Net}\": expected bridge, none or host"),
        };
        if (network != NetworkMode.Bridge)
        {
            var bridgeOnly = Subnet is not null ? "--subnet" : Ip is not null ? "--ip" : Publish.Count > 0 ? "--publish" : null;
            if (bridgeOnly is not null)
                throw new ContainerError($"{bridgeOnly} needs --net bridge (the network is {network.ToString().ToLowerInvariant()})");
        }
        return network;
    }

    static bool IsUnder(string path, string directory) =>
        path == directory || path.StartsWith(directory + "/", StringComparison.Ordinal);

    /// <summary>12 hex digits, never digits only: the id is the default hostname, and resolvers take an all-digit
    /// name for a number, not a host (Docker's stringid does the same, moby#3869).</summary>
    internal static string RandomId()
    {
        while (true)
        {
            var id = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray())[..12];
            if (!id.All(char.IsAsciiDigit)) return id;
        }
    }

    static string? ResolveRootfs(string? rootfs)
    {
        if (rootfs is null) return null;
        var full = Path.GetFullPath(rootfs);
        var info = new DirectoryInfo(full);
        if (!info.Exists)
            throw new ContainerError(File.Exists(full) ? $"rootfs {rootfs}: not a directory" : $"rootfs {rootfs}: no such file or directory");
        var resolved = info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full;
        return resolved == "/" ? null : resolved.TrimEnd('/');
    }

    IReadOnlyList<string> BuildEnv(string hostname, string home, Func<string, string?> hostEnv)
    {
        List<string> env = [$"PATH={RunDefaults.Path}", $"HOSTNAME={hostname}", $"HOME={home}"];
        foreach (var entry in Env)
        {
            var eq = entry.IndexOf('=');
            var key = eq < 0 ? entry : entry[..eq];
            if (key.Length == 0) throw new ContainerError($"invalid --env \"{entry}\": expected KEY=VALUE");
            string value;
            if (eq >= 0) value = entry[(eq + 1)..];
            else if (hostEnv(key) is { } inherited) value = inherited;
            else continue; // Docker: `-e KEY` with KEY unset on the host sets nothing.
            env.RemoveAll(e => e.StartsWith(key + "=", StringComparison.Ordinal));
            env.Add($"{key}={value}");
        }
        return env;
    }

    CapabilitySet BuildCapabilities()
    {
        var caps = CapabilitySet.DockerDefault;
        foreach (var name in CapDrop)
            caps = IsAll(name) ? new CapabilitySet(0) : caps.Without(ParseCapability(name, "--cap-drop"));
        foreach (var name in CapAdd)
            caps = IsAll(name) ? CapabilitySet.Bounding() : caps.With(ParseCapability(name, "--cap-add"));
        return caps;
    }

    static bool IsAll(string name) => name.Equals("ALL", StringComparison.OrdinalIgnoreCase);

    static Capability ParseCapability(string name, string option) =>
        CapabilitySet.TryParse(name, out var cap) ? cap : throw new ContainerError($"invalid {option} \"{name}\": unknown capability");

    static long CpuQuota(string cpus)
    {
        if (!double.TryParse(cpus, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0) || double.IsInfinity(value))
            throw new ContainerError($"invalid --cpus \"{cpus}\": expected a positive number such as 1.5");
        return (long)Math.Round(value * ResourceLimits.CpuPeriodMicros);
    }

    /// <summary>Docker's container names, at most 64 long: a letter or digit, then letters, digits, '_', '.' and '-'.</summary>
    private static bool IsValidName(string name)
    {
        if (name.Length is 0 or > 64 || !char.IsAsciiLetterOrDigit(name[0])) return false;
        foreach (var c in name)
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '.' or '-')) return false;
        return true;
    }
}
