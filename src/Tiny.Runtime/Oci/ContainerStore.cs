using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Tiny.Interop;
using Tiny.Runtime.Cgroups;

namespace Tiny.Runtime.Oci;

public enum ContainerStatus { Created, Running, Paused, Stopped }

public static class ContainerStatusNames
{
    /// <summary>The status as the OCI state names it. Spelled out: Enum.ToString reads the enum's names from the
    /// binary's reflection metadata, a few hundred kilobytes of it read in on first use, and `state` is what container
    /// managers call most.</summary>
    public static string Name(this ContainerStatus status) => status switch
    {
        ContainerStatus.Created => "created",
        ContainerStatus.Running => "running",
        ContainerStatus.Paused => "paused",
        _ => "stopped",
    };
}

/// <summary>What tiny keeps about one container in ROOT/ID/state.json.</summary>
public sealed class ContainerRecord
{
    public string OciVersion { get; set; } = OciSpec.Version;
    public string Id { get; set; } = "";
    public int Pid { get; set; }
    /// <summary>The init's start time (field 22 of /proc/PID/stat): a later process with a recycled pid has another.</summary>
    public ulong PidStartTime { get; set; }
    public string Bundle { get; set; } = "";
    public string Rootfs { get; set; } = "";
    public DateTimeOffset Created { get; set; }
    public Dictionary<string, string> Annotations { get; set; } = [];
    public string[] CgroupDirectories { get; set; } = [];
    /// <summary>config.json's hooks at create: start and delete run theirs from here, as runc keeps them in its state.</summary>
    public OciHooks? Hooks { get; set; }

    // tiny run's containers (detached or not) share the store; for OCI containers these stay unset.
    /// <summary>The command as given to tiny run; null for an OCI container.</summary>
    public string[]? Command { get; set; }
    /// <summary>The process that waits for the container and cleans up after it: tiny run, or its monitor with -d.</summary>
    public int MonitorPid { get; set; }
    public ulong MonitorStartTime { get; set; }
    /// <summary>Whether the container has a lease on the bridge network (released by rm -f when its monitor is gone).</summary>
    public bool Bridge { get; set; }
    /// <summary>tiny run --pid-file, removed when the monitor ends.</summary>
    public string? PidFile { get; set; }
    /// <summary>The command's exit code, recorded by the monitor once it has reaped the container.</summary>
    public int? ExitCode { get; set; }
    public DateTimeOffset? Finished { get; set; }
    /// <summary>The v1 freezer directory `pause` made, to thaw and remove later.</summary>
    public string? FreezerDirectory { get; set; }
}

/// <summary>The state a client reads (runtime spec "State", with runc's extra fields rootfs, created and owner).</summary>
public sealed class OciState
{
    public string OciVersion { get; set; } = "";
    public string Id { get; set; } = "";
    public int Pid { get; set; }
    public string Status { get; set; } = "";
    public string Bundle { get; set; } = "";
    public string Rootfs { get; set; } = "";
    public string Created { get; set; } = "";
    public Dictionary<string, string>? Annotations { get; set; }
    public string Owner { get; set; } = "";
}

/// <summary>The state a hook reads on its stdin (runtime.md, "State"), as runc writes it: no pid once stopped, no empty annotations.</summary>
public sealed class OciHookState
{
    public string OciVersion { get; set; } = OciSpec.Version;
    public string Id { get; set; } = "";
    public string Status { get; set; } = "";
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int Pid { get; set; }
    public string Bundle { get; set; } = "";
    public Dictionary<string, string>? Annotations { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ContainerRecord))]
[JsonSerializable(typeof(OciState))] // the reference for ContainerStore.Serialize's test
[JsonSerializable(typeof(OciState[]))]
public sealed partial class StateJsonContext : JsonSerializerContext;

[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Serialization, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(OciHookState))]
public sealed partial class HookStateJsonContext : JsonSerializerContext;

/// <summary>
/// The containers under a root directory: ROOT/ID/ holds state.json (replaced atomically by rename(2)) and
/// the exec FIFO while the container is created and not started; a lock on ROOT/ID itself serialises commands on that
/// container (flock(2): released by the kernel if tiny dies). No lock file: each file made and removed costs a
/// journal transaction on a disk-backed root.
/// </summary>
public sealed partial class ContainerStore(string root)
{
    public const string StateFile = "state.json", ExecFifo = "exec.fifo";

    public string Root { get; } = root;

    public string DirectoryOf(string id) => Path.Combine(Root, id);
    public string ExecFifoOf(string id) => Path.Combine(Root, id, ExecFifo);

    /// <summary>runc's rule for ids: letters, digits and _ + - . only, so an id is always one path component.</summary>
    public static void ValidateId(string id)
    {
        if (id.Length == 0 || id is "." or ".." || !AllIdCharacters(id)) throw new ContainerError($"invalid container id \"{id}\": use letters, digits, _ + - and .");
    }

    /// <summary>The state root, readable by its owner only (as runc's): with no other user's access, one cannot lay
    /// files for another to find there (a rootless root may be under /tmp).</summary>
    void MakeRoot()
    {
        if (!Directory.Exists(Root))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Root)!);
            FileSystem.MakeDirectory(Root, 0x1c0 /* 0700 */);
        }
        // Someone else's directory (or a symlink) where a rootless root would be, say /tmp/tiny-UID made first by
        // another user, is refused rather than used.
        var euid = Process.GetEffectiveUserId();
        if (euid != 0 && FileSystem.OwnerAndMode(Root) is { } found
            && (found.Owner != euid || (found.Mode & 0xf000) != 0x4000 /* S_IFDIR */ || (found.Mode & 0x3f /* 077 */) != 0))
            throw new ContainerError($"state directory {Root}: not a directory of yours that only you can use (owner {found.Owner}, mode {Convert.ToString(found.Mode & 0xfff, 8)})");
    }

    /// <summary>
    /// Makes ROOT/ID; an existing one is an error. It is not locked: a lock taken before clone would be shared with
    /// the init until it execs (flock(2) locks belong to the open file description), so the state is saved under
    /// <see cref="Lock"/> once the init exists.
    /// </summary>
    public void CreateDirectory(string id)
    {
        ValidateId(id);
        MakeRoot();
        if (!TryMakeDirectory(id)) throw new ContainerError($"container \"{id}\" already exists");
    }

    /// <summary>
    /// Makes ROOT/ID for a tiny run container: a name is free when no directory has it or its container has
    /// stopped and its monitor is gone (that one's state is replaced).
    /// </summary>
    public void Claim(string id)
    {
        ValidateId(id);
        MakeRoot();
        while (!TryMakeDirectory(id))
        {
            var (held, record) = TryOpen(id);
            if (held is null) continue;
            using (held)
            {
                if (record is null || StatusOf(record) != ContainerStatus.Stopped || IsAlive(record.MonitorPid, record.MonitorStartTime))
                    throw new ContainerError($"container name \"{id}\" is already in use");
                Remove(id);
            }
        }
    }

    bool TryMakeDirectory(string id)
    {
        try
        {
            return FileSystem.MakeDirectory(DirectoryOf(id), 0x1c0);
        }
        catch (SyscallException e)
        {
            throw new ContainerError($"create state directory {DirectoryOf(id)}: {Errno.Describe(e.Errno)}");
        }
    }

    /// <summary>The lock and record of ROOT/ID, (null, null) when it went away meanwhile, (lock, null) while it has no state yet.</summary>
    (ContainerLock?, ContainerRecord?) TryOpen(string id)
    {
        try
        {
            var held = Lock(id);
            return (held, Load(id));
        }
        catch (ContainerError) when (!Directory.Exists(DirectoryOf(id)))
        {
            return (null, null);
        }
    }

    /// <summary>Removes ROOT/ID if it has no state (or is missing); false when it holds a record.</summary>
    public bool RemoveUnrecorded(string id)
    {
        ValidateId(id);
        var (held, record) = TryOpen(id);
        if (held is null) return true;
        using (held)
        {
            if (record is not null) return false;
            Remove(id);
            return true;
        }
    }

    /// <summary>Whether the process <paramref name="pid"/> that started at <paramref name="startTime"/> still runs.</summary>
    public static bool IsAlive(int pid, ulong startTime) => pid > 0 && ProcessStartTime(pid) == startTime;

    /// <summary>Saves a record under the container's lock.</summary>
    public void SaveLocked(ContainerRecord record)
    {
        using var held = Lock(record.Id);
        Save(record);
    }

    ContainerLock Lock(string id)
    {
        try
        {
            return new ContainerLock(FileLock.AcquireDirectory(DirectoryOf(id)));
        }
        catch (SyscallException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR)
        {
            throw NotFound(id);
        }
    }

    /// <summary>Locks an existing container; one that is not there (or was deleted while we waited) does not exist.</summary>
    public (ContainerLock Lock, ContainerRecord Record) Open(string id)
    {
        ValidateId(id);
        var held = Lock(id);
        var record = Load(id);
        if (record is null)
        {
            held.Dispose();
            throw NotFound(id);
        }
        return (held, record);
    }

    // "container does not exist" and "container not running" are runc's words, which clients match.
    static ContainerError NotFound(string id) => new($"container does not exist: {id}");

    public ContainerRecord? Load(string id)
    {
        var path = Path.Combine(DirectoryOf(id), StateFile);
        try
        {
            return OciConfigReader.ParseRecord(FileDescriptor.ReadAllBytes(path));
        }
        catch (SyscallException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR)
        {
            return null;
        }
        catch (JsonException e)
        {
            throw new ContainerError($"{path}: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    /// <summary>Writes state.json through a temporary file and rename(2), so a reader sees the old or the new state, whole.</summary>
    public void Save(ContainerRecord record)
    {
        var dir = DirectoryOf(record.Id);
        var temporary = Path.Combine(dir, StateFile + ".tmp");
        // open, write and close only (File.WriteAllBytes also statfs(2)s and flock(2)s it).
        var fd = FileDescriptor.Open(temporary, FileDescriptor.O_WRONLY | FileDescriptor.O_CREAT | FileDescriptor.O_TRUNC, 0x1b6 /* 0666 */);
        try
        {
            FileDescriptor.WriteAll(fd, Serialize(record));
        }
        finally
        {
            FileDescriptor.Close(fd);
        }
        File.Move(temporary, Path.Combine(dir, StateFile), overwrite: true);
    }

    /// <summary>
    /// state.json as <see cref="StateJsonContext"/> writes it, byte for byte, by hand: the serializer's first use
    /// builds its metadata through reflection, which cost about 0.8 ms of every launch; its escaping is
    /// <see cref="DefaultJsonEscaping"/>'s.
    /// </summary>
    internal static byte[] Serialize(ContainerRecord record) => WriteIndented(json =>
    {
        json.WriteStartObject();
        json.WriteString("ociVersion", record.OciVersion);
        json.WriteString("id", record.Id);
        json.WriteNumber("pid", record.Pid);
        json.WriteNumber("pidStartTime", record.PidStartTime);
        json.WriteString("bundle", record.Bundle);
        json.WriteString("rootfs", record.Rootfs);
        json.WriteString("created", record.Created);
        WriteMap(json, "annotations", record.Annotations);
        WriteArray(json, "cgroupDirectories", record.CgroupDirectories);
        if (record.Hooks is { } hooks)
        {
            // Only bundles with hooks pay for the serializer here.
            json.WritePropertyName("hooks");
            JsonSerializer.Serialize(json, hooks, StateJsonContext.Default.OciHooks);
        }
        if (record.Command is { } command) WriteArray(json, "command", command);
        json.WriteNumber("monitorPid", record.MonitorPid);
        json.WriteNumber("monitorStartTime", record.MonitorStartTime);
        json.WriteBoolean("bridge", record.Bridge);
        if (record.PidFile is { } pidFile) json.WriteString("pidFile", pidFile);
        if (record.ExitCode is { } exitCode) json.WriteNumber("exitCode", exitCode);
        if (record.Finished is { } finished) json.WriteString("finished", finished);
        if (record.FreezerDirectory is { } freezer) json.WriteString("freezerDirectory", freezer);
        json.WriteEndObject();
    });

    /// <summary>
    /// `tiny state` (one state) and `list --format json` (an array) as <see cref="StateJsonContext"/> writes them, byte
    /// for byte, by hand: the serializer's first use was half of `tiny state`, which containerd and podman call often.
    /// </summary>
    public static byte[] Serialize(IReadOnlyList<OciState> states, bool asArray) => WriteIndented(json =>
    {
        if (asArray) json.WriteStartArray();
        foreach (var state in states)
        {
            json.WriteStartObject();
            json.WriteString("ociVersion", state.OciVersion);
            json.WriteString("id", state.Id);
            json.WriteNumber("pid", state.Pid);
            json.WriteString("status", state.Status);
            json.WriteString("bundle", state.Bundle);
            json.WriteString("rootfs", state.Rootfs);
            json.WriteString("created", state.Created);
            if (state.Annotations is { } annotations) WriteMap(json, "annotations", annotations);
            json.WriteString("owner", state.Owner);
            json.WriteEndObject();
        }
        if (asArray) json.WriteEndArray();
    });

    /// <summary>The UTF-8 JSON that <paramref name="write"/> writes, indented and escaped as the serializer does.</summary>
    static byte[] WriteIndented(Action<Utf8JsonWriter> write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = DefaultJsonEscaping.Instance }))
            write(json);
        return buffer.WrittenSpan.ToArray();
    }

    static void WriteMap(Utf8JsonWriter json, string name, IEnumerable<KeyValuePair<string, string>> map)
    {
        json.WriteStartObject(name);
        foreach (var (key, value) in map) json.WriteString(key, value);
        json.WriteEndObject();
    }

    static void WriteArray(Utf8JsonWriter json, string name, string[] items)
    {
        json.WriteStartArray(name);
        foreach (var item in items) json.WriteStringValue(item);
        json.WriteEndArray();
    }

    /// <summary>Removes ROOT/ID: state.json, then the directory, or if it holds more (the exec FIFO, a notify socket),
    /// the whole tree.</summary>
    public void Remove(string id)
    {
        var dir = DirectoryOf(id);
        FileSystem.TryUnlink(Path.Combine(dir, StateFile));
        var errno = FileSystem.TryRemoveDirectory(dir);
        if (errno == Errno.ENOTEMPTY) Directory.Delete(dir, recursive: true);
        else if (errno != 0) throw new ContainerError($"remove state directory {dir}: {Errno.Describe(errno)}");
    }

    /// <summary>The record of each container that has one. A loop: LINQ's Select over another operator is a generic
    /// virtual call, which the runtime resolves from the binary's metadata on first use.</summary>
    public List<ContainerRecord> LoadAll()
    {
        List<ContainerRecord> records = [];
        foreach (var id in Ids())
            if (Load(id) is { } record) records.Add(record);
        return records;
    }

    public IEnumerable<string> Ids() =>
        Directory.Exists(Root)
            ? Directory.EnumerateDirectories(Root).Select(Path.GetFileName).Where(id => File.Exists(Path.Combine(Root, id!, StateFile))).Order()!
            : [];

    /// <summary>created while the init waits on the exec FIFO, running while it lives (paused while frozen), stopped
    /// once it has exited.</summary>
    public ContainerStatus StatusOf(ContainerRecord record)
    {
        if (!IsAlive(record.Pid, record.PidStartTime)) return ContainerStatus.Stopped;
        if (File.Exists(ExecFifoOf(record.Id))) return ContainerStatus.Created;
        return new Freezer(KernelCgroupFileSystem.Instance).IsFrozen(record.CgroupDirectories, record.FreezerDirectory)
            ? ContainerStatus.Paused
            : ContainerStatus.Running;
    }

    public OciState StateOf(ContainerRecord record)
    {
        var status = StatusOf(record);
        return new OciState
        {
            OciVersion = record.OciVersion,
            Id = record.Id,
            Pid = status == ContainerStatus.Stopped ? 0 : record.Pid,
            Status = status.Name(),
            Bundle = record.Bundle,
            Rootfs = record.Rootfs,
            Created = record.Created.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture),
            Annotations = record.Annotations.Count > 0 ? record.Annotations : null,
        };
    }

    /// <summary>
    /// The start time of a live process (proc(5), /proc/PID/stat field 22), or null when there is none or it is a
    /// zombie: an init that has exited but not been reaped (its parent, tiny create, is gone) counts as stopped.
    /// </summary>
    public static ulong? ProcessStartTime(int pid)
    {
        string stat;
        try
        {
            stat = FileDescriptor.ReadAllText($"/proc/{pid}/stat");
        }
        catch (SyscallException)
        {
            return null;
        }
        // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        if (fields[0] is "Z" or "X" or "x") return null;
        return ulong.Parse(fields[19], CultureInfo.InvariantCulture);
    }

    private static bool AllIdCharacters(string id)
    {
        foreach (var c in id)
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '+' or '-' or '.')) return false;
        return true;
    }
}

/// <summary>A held per-container lock; disposing releases it.</summary>
public sealed class ContainerLock(int fd) : IDisposable
{
    int _fd = fd;

    public void Dispose()
    {
        FileLock.Release(_fd);
        _fd = -1;
    }
}
