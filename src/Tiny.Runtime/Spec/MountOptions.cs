using Tiny.Runtime.Mounts;
using static Tiny.Interop.Mount;

namespace Tiny.Runtime.Spec;

/// <summary>`-v/--volume`, `--tmpfs` and `--mount` as Docker spells them, turned into <see cref="MountRequest"/>s.</summary>
public static class MountOptions
{
    /// <summary>Docker's flags for a tmpfs from --tmpfs or --mount (moby volume/mounts/linux_parser.go).</summary>
    const ulong TmpfsDefaults = MS_NOSUID | MS_NODEV | MS_NOEXEC;

    /// <summary>All mounts, sorted so that a mount never hides one beneath it ("/a" before "/a/b", as Docker sorts).</summary>
    public static IReadOnlyList<MountRequest> Parse(IEnumerable<string> volumes, IEnumerable<string> tmpfs, IEnumerable<string> mounts, Func<string, string> fullPath)
    {
        var requests = volumes.Select(v => Volume(v, fullPath))
            .Concat(tmpfs.Select(Tmpfs))
            .Concat(mounts.Select(m => Mount(m, fullPath)))
            .ToArray();
        var duplicate = requests.GroupBy(r => r.Destination).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ContainerError($"duplicate mount point {duplicate.Key}");
        return requests.OrderBy(r => r.Destination.Count(c => c == '/')).ToArray();
    }

    /// <summary>HOST:CONTAINER[:ro|rw], a recursive bind.</summary>
    public static MountRequest Volume(string spec, Func<string, string> fullPath)
    {
        var parts = spec.Split(':');
        if (parts.Length is < 2 or > 3 || parts[0].Length == 0 || parts[1].Length == 0)
            throw new ContainerError($"invalid --volume \"{spec}\": expected HOST:CONTAINER[:ro|rw]");
        var readOnly = parts.Length == 3 && parts[2] switch
        {
            "ro" => true,
            "rw" => false,
            _ => throw new ContainerError($"invalid --volume \"{spec}\": mode \"{parts[2]}\" is not ro or rw"),
        };
        var destination = Destination(parts[1], "--volume", spec);
        return Bind(HostPath(parts[0], fullPath, "volume"), destination, readOnly);
    }

    /// <summary>PATH[:OPTIONS], OPTIONS being size=N, mode=OCTAL and ro, rw, exec, noexec, suid, nosuid, dev, nodev.</summary>
    public static MountRequest Tmpfs(string spec)
    {
        var colon = spec.IndexOf(':');
        var destination = Destination(colon < 0 ? spec : spec[..colon], "--tmpfs", spec);
        var flags = TmpfsDefaults;
        List<string> data = [];
        foreach (var option in colon < 0 ? [] : spec[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var (key, value) = option.IndexOf('=') is var eq and >= 0 ? (option[..eq], option[(eq + 1)..]) : (option, null);
            if (value is not null)
            {
                data.Add(TmpfsOption(key, value, "--tmpfs", spec));
                continue;
            }
            flags = key switch
            {
                "ro" => flags | MS_RDONLY, "rw" => flags & ~MS_RDONLY,
                "noexec" => flags | MS_NOEXEC, "exec" => flags & ~MS_NOEXEC,
                "nosuid" => flags | MS_NOSUID, "suid" => flags & ~MS_NOSUID,
                "nodev" => flags | MS_NODEV, "dev" => flags & ~MS_NODEV,
                _ => throw new ContainerError($"invalid --tmpfs \"{spec}\": unknown option \"{option}\""),
            };
        }
        return new MountRequest(destination, "tmpfs", "tmpfs", flags, 0, data.Count == 0 ? null : string.Join(',', data));
    }

    /// <summary>type=bind|tmpfs,source=,target=,readonly as Docker's --mount (src, dst, destination, ro; tmpfs-size, tmpfs-mode).</summary>
    public static MountRequest Mount(string spec, Func<string, string> fullPath)
    {
        string? type = null, source = null, target = null;
        var readOnly = false;
        List<string> tmpfsData = [];
        foreach (var field in spec.Split(','))
        {
            var eq = field.IndexOf('=');
            var (key, value) = eq < 0 ? (field, null) : (field[..eq], field[(eq + 1)..]);
            switch (key)
            {
                case "type": type = value; break;
                case "source" or "src": source = value; break;
                case "target" or "dst" or "destination": target = value; break;
                case "readonly" or "ro":
                    readOnly = value switch
                    {
                        null or "true" or "1" => true,
                        "false" or "0" => false,
                        _ => throw new ContainerError($"invalid --mount \"{spec}\": {key} takes true or false"),
                    };
                    break;
                case "tmpfs-size" or "tmpfs-mode" when value is not null:
                    tmpfsData.Add(TmpfsOption(key["tmpfs-".Length..], value, "--mount", spec));
                    break;
                default: throw new ContainerError($"invalid --mount \"{spec}\": unknown field \"{field}\"");
            }
        }
        if (string.IsNullOrEmpty(target)) throw new ContainerError($"invalid --mount \"{spec}\": target is missing");
        var destination = Destination(target, "--mount", spec);
        switch (type)
        {
            case "bind":
                if (string.IsNullOrEmpty(source)) throw new ContainerError($"invalid --mount \"{spec}\": source is missing");
                if (tmpfsData.Count > 0) throw new ContainerError($"invalid --mount \"{spec}\": tmpfs options need type=tmpfs");
                return Bind(HostPath(source, fullPath, "mount source"), destination, readOnly);
            case "tmpfs":
                if (source is not null) throw new ContainerError($"invalid --mount \"{spec}\": a tmpfs has no source");
                return new MountRequest(destination, "tmpfs", "tmpfs", TmpfsDefaults | (readOnly ? MS_RDONLY : 0), 0,
                    tmpfsData.Count == 0 ? null : string.Join(',', tmpfsData));
            default:
                throw new ContainerError($"invalid --mount \"{spec}\": type must be bind or tmpfs");
        }
    }

    static MountRequest Bind(string source, string destination, bool readOnly) =>
        new(destination, source, "bind", MS_BIND | MS_REC | (readOnly ? MS_RDONLY : 0), 0, null);

    static string Destination(string path, string option, string spec) =>
        ContainerPath.Clean(path) is { } clean && clean != "/"
            ? clean
            : throw new ContainerError($"invalid {option} \"{spec}\": the container path must be absolute and not /");

    static string HostPath(string path, Func<string, string> fullPath, string what)
    {
        var full = fullPath(path);
        return File.Exists(full) || Directory.Exists(full) ? full : throw new ContainerError($"{what} {path}: no such file or directory");
    }

    /// <summary>size=N (a size such as 64m, passed in bytes) or mode=OCTAL, as tmpfs(5) options.</summary>
    static string TmpfsOption(string key, string value, string option, string spec) => key switch
    {
        "size" => $"size={Size.Parse(value, $"{option} size")}",
        "mode" when value.Length is > 0 and <= 4 && value.All(c => c is >= '0' and <= '7') => $"mode={value}",
        "mode" => throw new ContainerError($"invalid {option} \"{spec}\": mode \"{value}\" is not an octal file mode"),
        _ => throw new ContainerError($"invalid {option} \"{spec}\": unknown option \"{key}={value}\""),
    };
}
