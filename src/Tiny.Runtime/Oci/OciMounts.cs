using Tiny.Runtime.Mounts;
using static Tiny.Interop.Mount;

namespace Tiny.Runtime.Oci;

/// <summary>config.json <c>mounts</c> as <see cref="MountRequest"/>s, with runc's reading of the options.</summary>
public static class OciMounts
{
    /// <summary>The mounts tiny's rootfs set-up makes anyway, with runc's default options (runc spec): a config may
    /// list them with the same type; tiny makes them with the config's options instead of these.</summary>
    public static readonly (string Destination, string Type, string Source, string[] Options)[] Standard =
    [
        ("/proc", "proc", "proc", []),
        ("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        ("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        ("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        ("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        ("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
    ];

    /// <summary>What `runc spec --rootless` (and `tiny spec --rootless`) lists instead: the host's /sys bound, since sysfs
    /// needs the network namespace's owner, and devpts without gid= (a gid the user namespace may not map).</summary>
    public static readonly (string Destination, string Type, string Source, string[] Options)[] RootlessStandard =
    [
        ("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
        ("/sys", "none", "/sys", ["rbind", "nosuid", "noexec", "nodev", "ro"]),
    ];

    static readonly string[] FileSystems = ["tmpfs", "proc", "sysfs", "mqueue", "devpts"];

    /// <summary>Options that set (true) or clear (false) a mount flag (mount(8)).</summary>
    static readonly Dictionary<string, (bool Set, ulong Flag)> Flags = new()
    {
        ["ro"] = (true, MS_RDONLY), ["rw"] = (false, MS_RDONLY),
        ["nosuid"] = (true, MS_NOSUID), ["suid"] = (false, MS_NOSUID),
        ["nodev"] = (true, MS_NODEV), ["dev"] = (false, MS_NODEV),
        ["noexec"] = (true, MS_NOEXEC), ["exec"] = (false, MS_NOEXEC),
        ["sync"] = (true, MS_SYNCHRONOUS), ["async"] = (false, MS_SYNCHRONOUS),
        ["dirsync"] = (true, MS_DIRSYNC),
        ["noatime"] = (true, MS_NOATIME), ["atime"] = (false, MS_NOATIME),
        ["nodiratime"] = (true, MS_NODIRATIME), ["diratime"] = (false, MS_NODIRATIME),
        ["relatime"] = (true, MS_RELATIME), ["norelatime"] = (false, MS_RELATIME),
        ["strictatime"] = (true, MS_STRICTATIME), ["nostrictatime"] = (false, MS_STRICTATIME),
        ["bind"] = (true, MS_BIND), ["rbind"] = (true, MS_BIND | MS_REC),
        ["defaults"] = (true, 0),
    };

    static readonly Dictionary<string, ulong> Propagation = new()
    {
        ["private"] = MS_PRIVATE, ["rprivate"] = MS_REC | MS_PRIVATE, ["shared"] = MS_SHARED, ["rshared"] = MS_REC | MS_SHARED,
        ["slave"] = MS_SLAVE, ["rslave"] = MS_REC | MS_SLAVE, ["unbindable"] = MS_UNBINDABLE, ["runbindable"] = MS_REC | MS_UNBINDABLE,
    };

    /// <summary>The options tiny reads, for `tiny features`; a file system's own (size=, mode=) pass through as data.</summary>
    public static string[] OptionNames => [.. Flags.Keys.Concat(Propagation.Keys).Append(CopyUp).Order()];

    /// <summary>What a config's mounts ask for: requests for every mount but the standard ones, the standard ones'
    /// own flags, and the flags of the cgroup view at /sys/fs/cgroup (null for none).</summary>
    public sealed record Converted(IReadOnlyList<MountRequest> Requests, IReadOnlyList<StandardMount> Standard, ulong? CgroupFlags);

    public const string CgroupMountPoint = "/sys/fs/cgroup";

    /// <summary>Converts a config's mounts; a bind source is relative to the bundle.</summary>
    public static Converted Convert(OciMount[] mounts, string bundle)
    {
        List<MountRequest> requests = [];
        List<StandardMount> standardMounts = [];
        ulong? cgroupFlags = null;
        for (var i = 0; i < mounts.Length; i++)
        {
            var mount = mounts[i];
            var field = $"mounts[{i}] ({mount.Destination})";
            var destination = ContainerPath.Clean(mount.Destination ?? "") ?? throw Error(field, "destination must be an absolute path");
            var standard = Standard.FirstOrDefault(s => s.Destination == destination);
            if (mount.UidMappings is not null || mount.GidMappings is not null) throw Error(field, "uidMappings and gidMappings are not supported by tiny");
            if (mount.Type == "cgroup")
            {
                if (destination != CgroupMountPoint) throw Error(field, $"a cgroup mount is supported at {CgroupMountPoint} only");
                var (flags, propagation, data) = Options(mount);
                if (data.Count > 0 || (flags & MS_BIND) != 0) throw Error(field, $"option \"{(data.Count > 0 ? data[0] : "bind")}\" is not supported by tiny for a cgroup mount");
                cgroupFlags = flags;
                continue;
            }
            if (standard.Destination is not null && mount.Type == standard.Type)
            {
                var (flags, propagation, data) = Options(mount);
                if (propagation != 0 || (flags & MS_BIND) != 0 || data.Contains(CopyUp))
                    throw Error(field, $"propagation, bind and {CopyUp} options are not supported by tiny on its own /proc, /sys and /dev");
                standardMounts.Add(new StandardMount(destination, flags, data.Count == 0 ? null : string.Join(',', data)));
                continue;
            }
            var request = ToRequest(mount, destination, field, bundle);
            if (request.CopyUp) CheckCopyUpPlace(mounts, i, destination, field);
            requests.Add(request);
        }
        return new Converted(requests, standardMounts, cgroupFlags);
    }

    static (ulong Flags, ulong Propagation, List<string> Data) Options(OciMount mount)
    {
        ulong flags = 0, propagation = 0;
        List<string> data = [];
        foreach (var option in mount.Options ?? [])
        {
            if (Flags.TryGetValue(option, out var flag)) flags = flag.Set ? flags | flag.Flag : flags & ~flag.Flag;
            else if (Propagation.TryGetValue(option, out var type)) propagation = type;
            else data.Add(option);
        }
        return (flags, propagation, data);
    }

    static MountRequest ToRequest(OciMount mount, string destination, string field, string bundle)
    {
        var (flags, propagation, data) = Options(mount);
        var bind = mount.Type == "bind" || (flags & MS_BIND) != 0;
        if (bind)
        {
            if (data.Count > 0) throw Error(field, $"option \"{data[0]}\" is not supported by tiny for a bind mount");
            if (string.IsNullOrEmpty(mount.Source)) throw Error(field, "a bind mount needs a source");
            var source = Path.GetFullPath(mount.Source, bundle);
            if (!File.Exists(source) && !Directory.Exists(source)) throw Error(field, $"source {source}: no such file or directory");
            return new MountRequest(destination, source, "bind", flags | MS_BIND, propagation, null);
        }
        if (mount.Type is null || !FileSystems.Contains(mount.Type)) throw Error(field, $"type \"{mount.Type}\" is not supported by tiny");
        // runc's and crun's extension (the tmpfs starts as a copy of the directory it covers), not a kernel option.
        var copyUp = data.RemoveAll(option => option == CopyUp) > 0;
        if (copyUp && mount.Type != "tmpfs") throw Error(field, $"option \"{CopyUp}\" is for tmpfs mounts");
        return new MountRequest(destination, mount.Source ?? mount.Type, mount.Type, flags, propagation,
            data.Count == 0 ? null : string.Join(',', data)) { CopyUp = copyUp };
    }

    const string CopyUp = "tmpcopyup";

    /// <summary>
    /// The copy is made before the container's mounts (<see cref="TmpfsCopies"/>), from the rootfs: so a tmpcopyup
    /// mount may not be at or below another mount, which runc would copy from instead, nor below the /proc, /sys and
    /// /dev tiny makes.
    /// </summary>
    static void CheckCopyUpPlace(OciMount[] mounts, int index, string destination, string field)
    {
        static bool IsAtOrBelow(string path, string other) => path == other || path.StartsWith(other + "/", StringComparison.Ordinal);
        var covering = mounts.Take(index).Select(m => ContainerPath.Clean(m.Destination ?? ""))
            .Concat(Standard.Select(s => s.Destination))
            .FirstOrDefault(other => other is not null && IsAtOrBelow(destination, other));
        if (covering is not null) throw Error(field, $"option \"{CopyUp}\" is not supported by tiny at or below another mount ({covering})");
    }

    static ContainerError Error(string field, string problem) => new($"{OciConversion.ConfigFile}: {field} {problem}");
}
