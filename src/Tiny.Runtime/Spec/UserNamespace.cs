using System.Globalization;

namespace Tiny.Runtime.Spec;

/// <summary>One line of a uid_map or gid_map: <see cref="Count"/> IDs from <see cref="ContainerId"/> inside
/// map to those from <see cref="HostId"/> outside (user_namespaces(7)).</summary>
public readonly record struct IdMapping(uint ContainerId, uint HostId, uint Count)
{
    public bool MapsContainerId(uint id) => id >= ContainerId && id - ContainerId < Count;

    public override string ToString() => $"{ContainerId}:{HostId}:{Count}";

    /// <summary>"C:H:N" as --uidmap and --gidmap take it; <see cref="UserNamespace.CheckedMap"/> checks the ranges.</summary>
    public static IdMapping Parse(string text, string option)
    {
        var parts = text.Split(':');
        if (parts.Length != 3 || !parts.All(p => uint.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            throw new ContainerError($"invalid {option} \"{text}\": expected CONTAINER_ID:HOST_ID:COUNT");
        var mapping = new IdMapping(uint.Parse(parts[0], CultureInfo.InvariantCulture), uint.Parse(parts[1], CultureInfo.InvariantCulture),
            uint.Parse(parts[2], CultureInfo.InvariantCulture));
        return mapping;
    }
}

/// <summary>
/// The user namespace a container runs in: its uid and gid maps. <see cref="Auto"/> (empty maps) asks for
/// 65536 IDs leased for the container when it starts (<see cref="Users.IdRangeLease"/>).
/// </summary>
public sealed record UserNamespace(IReadOnlyList<IdMapping> UidMap, IReadOnlyList<IdMapping> GidMap)
{
    /// <summary>How many IDs `--userns auto` maps: 0-65535 inside, as Docker's and podman's defaults.</summary>
    public const uint AutoSize = 65536;

    /// <summary>The kernel's limit on lines in one map (UID_GID_MAP_MAX_EXTENTS, user_namespaces(7)).</summary>
    public const int MaxLines = 340;

    public static UserNamespace Auto { get; } = new([], []);

    public bool IsAuto => UidMap.Count == 0;

    /// <summary>Container IDs 0-65535 on the host's <paramref name="hostStart"/> onwards, for uids and gids alike.</summary>
    public static UserNamespace Leased(uint hostStart) => new([new(0, hostStart, AutoSize)], [new(0, hostStart, AutoSize)]);

    public static bool Maps(IReadOnlyList<IdMapping> map, uint containerId) => map.Any(m => m.MapsContainerId(containerId));

    /// <summary>The map's text for /proc/PID/uid_map or gid_map: all lines in one write (user_namespaces(7)).</summary>
    public static string Format(IReadOnlyList<IdMapping> map) =>
        string.Concat(map.Select(m => $"{m.ContainerId} {m.HostId} {m.Count}\n"));

    public bool Equals(UserNamespace? other) => other is not null && UidMap.SequenceEqual(other.UidMap) && GidMap.SequenceEqual(other.GidMap);
    public override int GetHashCode() => UidMap.Count;

    /// <summary>
    /// The maps as --uidmap and --gidmap give them, checked. As podman does, a map given for only one kind of
    /// ID serves for both. Ranges may not overlap on either side (the kernel refuses such a map), and container
    /// ID 0 must be mapped in both: tiny sets the container up as its root before it becomes --user.
    /// </summary>
    public static UserNamespace? FromOptions(string? userns, IReadOnlyList<string> uidMap, IReadOnlyList<string> gidMap)
    {
        var explicitMaps = uidMap.Count > 0 || gidMap.Count > 0;
        switch (userns)
        {
            case null or "host" when !explicitMaps: return null;
            case null: break;
            case "auto" when !explicitMaps: return Auto;
            case "auto" or "host": throw new ContainerError($"--userns {userns} cannot be combined with --uidmap or --gidmap");
            default: throw new ContainerError($"invalid --userns \"{userns}\": expected auto or host");
        }
        var uids = ParseMap(uidMap.Count > 0 ? uidMap : gidMap, uidMap.Count > 0 ? "--uidmap" : "--gidmap");
        var gids = ParseMap(gidMap.Count > 0 ? gidMap : uidMap, gidMap.Count > 0 ? "--gidmap" : "--uidmap");
        return new UserNamespace(uids, gids);
    }

    /// <summary>This user namespace, checked against the rest of the container; a <see cref="ContainerError"/> when
    /// they do not fit together.</summary>
    public UserNamespace CheckedFor(string? rootfs, NetworkMode network, uint uid, uint gid)
    {
        // The host's root cannot be id-mapped for one container without id-mapping the host's own mounts under it.
        if (rootfs is null) throw new ContainerError("a user namespace needs --rootfs (the host's root cannot be the rootfs)");
        // sysfs can only be mounted by the user namespace that owns the network namespace; Docker refuses it too.
        if (network == NetworkMode.Host) throw new ContainerError("a user namespace cannot share the host's network (--net host)");
        if (!IsAuto && !Maps(UidMap, uid)) throw new ContainerError($"--user uid {uid} is not mapped by the user namespace's uid map");
        if (!IsAuto && !Maps(GidMap, gid)) throw new ContainerError($"--user gid {gid} is not mapped by the user namespace's gid map");
        if (IsAuto && (uid >= AutoSize || gid >= AutoSize))
            throw new ContainerError($"--user {uid}:{gid} is outside the IDs --userns auto maps (0-{AutoSize - 1})");
        return this;
    }

    static IReadOnlyList<IdMapping> ParseMap(IReadOnlyList<string> lines, string option) =>
        CheckedMap(lines.Select(line => IdMapping.Parse(line, option)).ToArray(), option);

    /// <summary>A map as the kernel takes it: at most <see cref="MaxLines"/> lines, each of at least one ID with neither
    /// range reaching 4294967295, which is no ID ((uid_t)-1; map_write() in kernel/user_namespace.c), no range
    /// overlapping another on either side; and mapping container ID 0, which tiny sets the container up as.</summary>
    public static IReadOnlyList<IdMapping> CheckedMap(IReadOnlyList<IdMapping> map, string option)
    {
        if (map.Count > MaxLines) throw new ContainerError($"too many {option} ranges: {map.Count} (the kernel takes at most {MaxLines})");
        for (var i = 0; i < map.Count; i++)
        {
            if (map[i].Count == 0) throw new ContainerError($"invalid {option} \"{map[i]}\": the count must be at least 1");
            if ((ulong)map[i].ContainerId + map[i].Count > uint.MaxValue || (ulong)map[i].HostId + map[i].Count > uint.MaxValue)
                throw new ContainerError($"invalid {option} \"{map[i]}\": IDs go up to 4294967294");
            for (var j = 0; j < i; j++)
            {
                if (Overlap(map[i].ContainerId, map[j].ContainerId, map[i].Count, map[j].Count))
                    throw new ContainerError($"invalid {option} \"{map[i]}\": its container IDs overlap those of \"{map[j]}\"");
                if (Overlap(map[i].HostId, map[j].HostId, map[i].Count, map[j].Count))
                    throw new ContainerError($"invalid {option} \"{map[i]}\": its host IDs overlap those of \"{map[j]}\"");
            }
        }
        if (!Maps(map, 0)) throw new ContainerError($"{option} must map container ID 0 (tiny sets the container up as its root)");
        return map;
    }

    static bool Overlap(uint first, uint second, uint firstCount, uint secondCount) =>
        (ulong)first < (ulong)second + secondCount && (ulong)second < (ulong)first + firstCount;
}
