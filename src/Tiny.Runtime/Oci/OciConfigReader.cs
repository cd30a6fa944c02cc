using System.Text;
using System.Text.Json;
using Tiny.Runtime.Seccomp;

namespace Tiny.Runtime.Oci;

/// <summary>
/// Reads config.json into an <see cref="OciConfig"/> (and tiny's state.json into a <see cref="ContainerRecord"/>) with
/// <see cref="Utf8JsonReader"/> alone, as <see cref="OciJsonContext"/> would: property names matched ignoring case, unknown properties skipped,
/// no comments or trailing commas, numbers only as JSON numbers, the last of a repeated property wins.
/// JsonSerializer's first use cost `run --bundle` 1.7 ms, building its metadata by reflection in NativeAOT; this reads in 0.1 ms.
/// </summary>
public static class OciConfigReader
{
    delegate T Read<out T>(ref Utf8JsonReader reader);

    /// <summary>Reads the value of property <c>name</c> into <c>target</c>; false for a property it does not know.</summary>
    delegate bool Field<in T>(ref Utf8JsonReader reader, T target, string name);

    /// <summary>The config in <paramref name="json"/> (UTF-8), or null for a document that is JSON null.</summary>
    /// <exception cref="JsonException">The document is not JSON or a value has the wrong type.</exception>
    public static OciConfig? Parse(ReadOnlySpan<byte> json) => Document<OciConfig>(json, ReadConfig);

    /// <summary>
    /// tiny's state.json (<see cref="ContainerStore.Serialize"/>) as <see cref="StateJsonContext"/> would read it: the
    /// serializer's first use cost each start, state, kill and delete about 1 ms.
    /// </summary>
    /// <exception cref="JsonException">The document is not JSON or a value has the wrong type.</exception>
    public static ContainerRecord? ParseRecord(ReadOnlySpan<byte> json) => Document<ContainerRecord>(json, ReadRecord);

    static T? Document<T>(ReadOnlySpan<byte> json, Field<T> field) where T : class, new()
    {
        // A UTF-8 byte order mark, which reading config.json as text (File.ReadAllText) skipped; Utf8JsonReader refuses it.
        if (json.StartsWith("\uFEFF"u8)) json = json[3..];
        var reader = new Utf8JsonReader(json);
        if (!reader.Read()) throw new JsonException("the document has no JSON value");
        var value = Object<T>(ref reader, field);
        reader.Read();
        return value;
    }

    static bool ReadRecord(ref Utf8JsonReader reader, ContainerRecord record, string name)
    {
        if (Is(name, "ociVersion")) record.OciVersion = String(ref reader)!;
        else if (Is(name, "id")) record.Id = String(ref reader)!;
        else if (Is(name, "pid")) record.Pid = Int(ref reader);
        else if (Is(name, "pidStartTime")) record.PidStartTime = ULong(ref reader);
        else if (Is(name, "bundle")) record.Bundle = String(ref reader)!;
        else if (Is(name, "rootfs")) record.Rootfs = String(ref reader)!;
        else if (Is(name, "created")) record.Created = Time(ref reader);
        else if (Is(name, "annotations")) record.Annotations = Map(ref reader)!;
        else if (Is(name, "cgroupDirectories")) record.CgroupDirectories = Strings(ref reader)!;
        else if (Is(name, "hooks")) record.Hooks = Object<OciHooks>(ref reader, ReadHooks);
        else if (Is(name, "command")) record.Command = Strings(ref reader);
        else if (Is(name, "monitorPid")) record.MonitorPid = Int(ref reader);
        else if (Is(name, "monitorStartTime")) record.MonitorStartTime = ULong(ref reader);
        else if (Is(name, "bridge")) record.Bridge = Bool(ref reader);
        else if (Is(name, "pidFile")) record.PidFile = String(ref reader);
        else if (Is(name, "exitCode")) record.ExitCode = Optional(ref reader, Int);
        else if (Is(name, "finished")) record.Finished = Optional(ref reader, Time);
        else if (Is(name, "freezerDirectory")) record.FreezerDirectory = String(ref reader);
        else return false;
        return true;
    }

    static bool ReadConfig(ref Utf8JsonReader reader, OciConfig config, string name)
    {
        if (Is(name, "ociVersion")) config.OciVersion = String(ref reader);
        else if (Is(name, "process")) config.Process = Object<OciProcess>(ref reader, ReadProcess);
        else if (Is(name, "root")) config.Root = Object<OciRoot>(ref reader, ReadRoot);
        else if (Is(name, "hostname")) config.Hostname = String(ref reader);
        else if (Is(name, "domainname")) config.Domainname = String(ref reader);
        else if (Is(name, "mounts")) config.Mounts = Objects<OciMount>(ref reader, ReadMount);
        else if (Is(name, "hooks")) config.Hooks = Object<OciHooks>(ref reader, ReadHooks);
        else if (Is(name, "annotations")) config.Annotations = Map(ref reader);
        else if (Is(name, "linux")) config.Linux = Object<OciLinux>(ref reader, ReadLinux);
        else if (Is(name, "solaris")) config.Solaris = Element(ref reader);
        else if (Is(name, "windows")) config.Windows = Element(ref reader);
        else if (Is(name, "vm")) config.Vm = Element(ref reader);
        else if (Is(name, "zos")) config.Zos = Element(ref reader);
        else return false;
        return true;
    }

    static bool ReadHooks(ref Utf8JsonReader reader, OciHooks hooks, string name)
    {
        if (Is(name, "prestart")) hooks.Prestart = Objects<OciHook>(ref reader, ReadHook);
        else if (Is(name, "createRuntime")) hooks.CreateRuntime = Objects<OciHook>(ref reader, ReadHook);
        else if (Is(name, "createContainer")) hooks.CreateContainer = Objects<OciHook>(ref reader, ReadHook);
        else if (Is(name, "startContainer")) hooks.StartContainer = Objects<OciHook>(ref reader, ReadHook);
        else if (Is(name, "poststart")) hooks.Poststart = Objects<OciHook>(ref reader, ReadHook);
        else if (Is(name, "poststop")) hooks.Poststop = Objects<OciHook>(ref reader, ReadHook);
        else return false;
        return true;
    }

    static bool ReadHook(ref Utf8JsonReader reader, OciHook hook, string name)
    {
        if (Is(name, "path")) hook.Path = String(ref reader);
        else if (Is(name, "args")) hook.Args = Strings(ref reader);
        else if (Is(name, "env")) hook.Env = Strings(ref reader);
        else if (Is(name, "timeout")) hook.Timeout = Optional(ref reader, Int);
        else return false;
        return true;
    }

    static bool ReadProcess(ref Utf8JsonReader reader, OciProcess process, string name)
    {
        if (Is(name, "terminal")) process.Terminal = Bool(ref reader);
        else if (Is(name, "consoleSize")) process.ConsoleSize = Object<OciConsoleSize>(ref reader, ReadConsoleSize);
        else if (Is(name, "user")) process.User = Object<OciUser>(ref reader, ReadUser);
        else if (Is(name, "args")) process.Args = Strings(ref reader);
        else if (Is(name, "commandLine")) process.CommandLine = String(ref reader);
        else if (Is(name, "env")) process.Env = Strings(ref reader);
        else if (Is(name, "cwd")) process.Cwd = String(ref reader);
        else if (Is(name, "capabilities")) process.Capabilities = Object<OciCapabilities>(ref reader, ReadCapabilities);
        else if (Is(name, "rlimits")) process.Rlimits = Objects<OciRlimit>(ref reader, ReadRlimit);
        else if (Is(name, "noNewPrivileges")) process.NoNewPrivileges = Bool(ref reader);
        else if (Is(name, "apparmorProfile")) process.ApparmorProfile = String(ref reader);
        else if (Is(name, "oomScoreAdj")) process.OomScoreAdj = Optional(ref reader, Int);
        else if (Is(name, "scheduler")) process.Scheduler = Element(ref reader);
        else if (Is(name, "selinuxLabel")) process.SelinuxLabel = String(ref reader);
        else if (Is(name, "ioPriority")) process.IoPriority = Element(ref reader);
        else if (Is(name, "execCPUAffinity")) process.ExecCpuAffinity = Element(ref reader);
        else return false;
        return true;
    }

    static bool ReadConsoleSize(ref Utf8JsonReader reader, OciConsoleSize size, string name)
    {
        if (Is(name, "height")) size.Height = UInt(ref reader);
        else if (Is(name, "width")) size.Width = UInt(ref reader);
        else return false;
        return true;
    }

    static bool ReadUser(ref Utf8JsonReader reader, OciUser user, string name)
    {
        if (Is(name, "uid")) user.Uid = UInt(ref reader);
        else if (Is(name, "gid")) user.Gid = UInt(ref reader);
        else if (Is(name, "umask")) user.Umask = Optional(ref reader, UInt);
        else if (Is(name, "additionalGids")) user.AdditionalGids = Array(ref reader, UInt);
        else if (Is(name, "username")) user.Username = String(ref reader);
        else return false;
        return true;
    }

    static bool ReadCapabilities(ref Utf8JsonReader reader, OciCapabilities capabilities, string name)
    {
        if (Is(name, "bounding")) capabilities.Bounding = Strings(ref reader);
        else if (Is(name, "effective")) capabilities.Effective = Strings(ref reader);
        else if (Is(name, "inheritable")) capabilities.Inheritable = Strings(ref reader);
        else if (Is(name, "permitted")) capabilities.Permitted = Strings(ref reader);
        else if (Is(name, "ambient")) capabilities.Ambient = Strings(ref reader);
        else return false;
        return true;
    }

    static bool ReadRlimit(ref Utf8JsonReader reader, OciRlimit rlimit, string name)
    {
        if (Is(name, "type")) rlimit.Type = String(ref reader);
        else if (Is(name, "hard")) rlimit.Hard = ULong(ref reader);
        else if (Is(name, "soft")) rlimit.Soft = ULong(ref reader);
        else return false;
        return true;
    }

    static bool ReadRoot(ref Utf8JsonReader reader, OciRoot root, string name)
    {
        if (Is(name, "path")) root.Path = String(ref reader);
        else if (Is(name, "readonly")) root.Readonly = Bool(ref reader);
        else return false;
        return true;
    }

    static bool ReadMount(ref Utf8JsonReader reader, OciMount mount, string name)
    {
        if (Is(name, "destination")) mount.Destination = String(ref reader);
        else if (Is(name, "source")) mount.Source = String(ref reader);
        else if (Is(name, "type")) mount.Type = String(ref reader);
        else if (Is(name, "options")) mount.Options = Strings(ref reader);
        else if (Is(name, "uidMappings")) mount.UidMappings = Element(ref reader);
        else if (Is(name, "gidMappings")) mount.GidMappings = Element(ref reader);
        else return false;
        return true;
    }

    static bool ReadIdMapping(ref Utf8JsonReader reader, OciIdMapping mapping, string name)
    {
        if (Is(name, "containerID")) mapping.ContainerId = UInt(ref reader);
        else if (Is(name, "hostID")) mapping.HostId = UInt(ref reader);
        else if (Is(name, "size")) mapping.Size = UInt(ref reader);
        else return false;
        return true;
    }

    static bool ReadLinux(ref Utf8JsonReader reader, OciLinux linux, string name)
    {
        if (Is(name, "namespaces")) linux.Namespaces = Objects<OciNamespace>(ref reader, ReadNamespace);
        else if (Is(name, "uidMappings")) linux.UidMappings = Objects<OciIdMapping>(ref reader, ReadIdMapping);
        else if (Is(name, "gidMappings")) linux.GidMappings = Objects<OciIdMapping>(ref reader, ReadIdMapping);
        else if (Is(name, "timeOffsets")) linux.TimeOffsets = Element(ref reader);
        else if (Is(name, "devices")) linux.Devices = Objects<OciDevice>(ref reader, ReadDevice);
        else if (Is(name, "netDevices")) linux.NetDevices = Element(ref reader);
        else if (Is(name, "cgroupsPath")) linux.CgroupsPath = String(ref reader);
        else if (Is(name, "rootfsPropagation")) linux.RootfsPropagation = String(ref reader);
        else if (Is(name, "resources")) linux.Resources = Object<OciResources>(ref reader, ReadResources);
        else if (Is(name, "sysctl")) linux.Sysctl = Map(ref reader);
        else if (Is(name, "seccomp")) linux.Seccomp = Object<LinuxSeccomp>(ref reader, ReadSeccomp);
        else if (Is(name, "maskedPaths")) linux.MaskedPaths = Strings(ref reader);
        else if (Is(name, "readonlyPaths")) linux.ReadonlyPaths = Strings(ref reader);
        else if (Is(name, "mountLabel")) linux.MountLabel = String(ref reader);
        else if (Is(name, "personality")) linux.Personality = Object<OciPersonality>(ref reader, ReadPersonality);
        else if (Is(name, "intelRdt")) linux.IntelRdt = Element(ref reader);
        else if (Is(name, "memoryPolicy")) linux.MemoryPolicy = Element(ref reader);
        else return false;
        return true;
    }

    static bool ReadDevice(ref Utf8JsonReader reader, OciDevice device, string name)
    {
        if (Is(name, "type")) device.Type = String(ref reader);
        else if (Is(name, "path")) device.Path = String(ref reader);
        else if (Is(name, "major")) device.Major = Long(ref reader);
        else if (Is(name, "minor")) device.Minor = Long(ref reader);
        else if (Is(name, "fileMode")) device.FileMode = Optional(ref reader, UInt);
        else if (Is(name, "uid")) device.Uid = Optional(ref reader, UInt);
        else if (Is(name, "gid")) device.Gid = Optional(ref reader, UInt);
        else return false;
        return true;
    }

    static bool ReadDeviceRule(ref Utf8JsonReader reader, OciDeviceRule rule, string name)
    {
        if (Is(name, "allow")) rule.Allow = Bool(ref reader);
        else if (Is(name, "type")) rule.Type = String(ref reader);
        else if (Is(name, "major")) rule.Major = Optional(ref reader, Long);
        else if (Is(name, "minor")) rule.Minor = Optional(ref reader, Long);
        else if (Is(name, "access")) rule.Access = String(ref reader);
        else return false;
        return true;
    }

    static bool ReadNamespace(ref Utf8JsonReader reader, OciNamespace ns, string name)
    {
        if (Is(name, "type")) ns.Type = String(ref reader);
        else if (Is(name, "path")) ns.Path = String(ref reader);
        else return false;
        return true;
    }

    static bool ReadResources(ref Utf8JsonReader reader, OciResources resources, string name)
    {
        if (Is(name, "devices")) resources.Devices = Objects<OciDeviceRule>(ref reader, ReadDeviceRule);
        else if (Is(name, "memory")) resources.Memory = Object<OciMemory>(ref reader, ReadMemory);
        else if (Is(name, "cpu")) resources.Cpu = Object<OciCpu>(ref reader, ReadCpu);
        else if (Is(name, "pids")) resources.Pids = Object<OciPids>(ref reader, ReadPids);
        else if (Is(name, "blockIO")) resources.BlockIo = Object<OciBlockIo>(ref reader, ReadBlockIo);
        else if (Is(name, "hugepageLimits")) resources.HugepageLimits = Objects<OciHugepageLimit>(ref reader, ReadHugepageLimit);
        else if (Is(name, "network")) resources.Network = Element(ref reader);
        else if (Is(name, "rdma")) resources.Rdma = Element(ref reader);
        else if (Is(name, "unified")) resources.Unified = Element(ref reader);
        else return false;
        return true;
    }

    static bool ReadMemory(ref Utf8JsonReader reader, OciMemory memory, string name)
    {
        if (Is(name, "limit")) memory.Limit = Optional(ref reader, Long);
        else if (Is(name, "reservation")) memory.Reservation = Optional(ref reader, Long);
        else if (Is(name, "swap")) memory.Swap = Optional(ref reader, Long);
        else if (Is(name, "kernel")) memory.Kernel = Optional(ref reader, Long);
        else if (Is(name, "kernelTCP")) memory.KernelTcp = Optional(ref reader, Long);
        else if (Is(name, "swappiness")) memory.Swappiness = Optional(ref reader, ULong);
        else if (Is(name, "disableOOMKiller")) memory.DisableOomKiller = Optional(ref reader, Bool);
        else if (Is(name, "useHierarchy")) memory.UseHierarchy = Optional(ref reader, Bool);
        else if (Is(name, "checkBeforeUpdate")) memory.CheckBeforeUpdate = Optional(ref reader, Bool);
        else return false;
        return true;
    }

    static bool ReadCpu(ref Utf8JsonReader reader, OciCpu cpu, string name)
    {
        if (Is(name, "shares")) cpu.Shares = Optional(ref reader, ULong);
        else if (Is(name, "quota")) cpu.Quota = Optional(ref reader, Long);
        else if (Is(name, "burst")) cpu.Burst = Optional(ref reader, ULong);
        else if (Is(name, "period")) cpu.Period = Optional(ref reader, ULong);
        else if (Is(name, "realtimeRuntime")) cpu.RealtimeRuntime = Optional(ref reader, Long);
        else if (Is(name, "realtimePeriod")) cpu.RealtimePeriod = Optional(ref reader, ULong);
        else if (Is(name, "cpus")) cpu.Cpus = String(ref reader);
        else if (Is(name, "mems")) cpu.Mems = String(ref reader);
        else if (Is(name, "idle")) cpu.Idle = Optional(ref reader, Long);
        else return false;
        return true;
    }

    static bool ReadPids(ref Utf8JsonReader reader, OciPids pids, string name)
    {
        if (Is(name, "limit")) pids.Limit = Optional(ref reader, Long);
        else return false;
        return true;
    }

    static bool ReadBlockIo(ref Utf8JsonReader reader, OciBlockIo blockIo, string name)
    {
        if (Is(name, "weight")) blockIo.Weight = Optional(ref reader, Int);
        else if (Is(name, "leafWeight")) blockIo.LeafWeight = Optional(ref reader, Int);
        else if (Is(name, "weightDevice")) blockIo.WeightDevice = Objects<OciWeightDevice>(ref reader, ReadWeightDevice);
        else if (Is(name, "throttleReadBpsDevice")) blockIo.ThrottleReadBpsDevice = Objects<OciThrottleDevice>(ref reader, ReadThrottleDevice);
        else if (Is(name, "throttleWriteBpsDevice")) blockIo.ThrottleWriteBpsDevice = Objects<OciThrottleDevice>(ref reader, ReadThrottleDevice);
        else if (Is(name, "throttleReadIOPSDevice")) blockIo.ThrottleReadIopsDevice = Objects<OciThrottleDevice>(ref reader, ReadThrottleDevice);
        else if (Is(name, "throttleWriteIOPSDevice")) blockIo.ThrottleWriteIopsDevice = Objects<OciThrottleDevice>(ref reader, ReadThrottleDevice);
        else return false;
        return true;
    }

    static bool ReadWeightDevice(ref Utf8JsonReader reader, OciWeightDevice device, string name)
    {
        if (Is(name, "major")) device.Major = Long(ref reader);
        else if (Is(name, "minor")) device.Minor = Long(ref reader);
        else if (Is(name, "weight")) device.Weight = Optional(ref reader, Int);
        else if (Is(name, "leafWeight")) device.LeafWeight = Optional(ref reader, Int);
        else return false;
        return true;
    }

    static bool ReadThrottleDevice(ref Utf8JsonReader reader, OciThrottleDevice device, string name)
    {
        if (Is(name, "major")) device.Major = Long(ref reader);
        else if (Is(name, "minor")) device.Minor = Long(ref reader);
        else if (Is(name, "rate")) device.Rate = ULong(ref reader);
        else return false;
        return true;
    }

    static bool ReadHugepageLimit(ref Utf8JsonReader reader, OciHugepageLimit limit, string name)
    {
        if (Is(name, "pageSize")) limit.PageSize = String(ref reader);
        else if (Is(name, "limit")) limit.Limit = ULong(ref reader);
        else return false;
        return true;
    }

    static bool ReadPersonality(ref Utf8JsonReader reader, OciPersonality personality, string name)
    {
        if (Is(name, "domain")) personality.Domain = String(ref reader);
        else if (Is(name, "flags")) personality.Flags = Strings(ref reader);
        else return false;
        return true;
    }

    static bool ReadSeccomp(ref Utf8JsonReader reader, LinuxSeccomp seccomp, string name)
    {
        if (Is(name, "defaultAction")) seccomp.DefaultAction = String(ref reader);
        else if (Is(name, "defaultErrnoRet")) seccomp.DefaultErrnoRet = Optional(ref reader, UInt);
        else if (Is(name, "architectures")) seccomp.Architectures = Strings(ref reader);
        else if (Is(name, "flags")) seccomp.Flags = Strings(ref reader);
        else if (Is(name, "listenerPath")) seccomp.ListenerPath = String(ref reader);
        else if (Is(name, "listenerMetadata")) seccomp.ListenerMetadata = String(ref reader);
        else if (Is(name, "syscalls")) seccomp.Syscalls = Objects<LinuxSyscall>(ref reader, ReadSyscall);
        else return false;
        return true;
    }

    static bool ReadSyscall(ref Utf8JsonReader reader, LinuxSyscall syscall, string name)
    {
        if (Is(name, "names")) syscall.Names = Strings(ref reader);
        else if (Is(name, "action")) syscall.Action = String(ref reader);
        else if (Is(name, "errnoRet")) syscall.ErrnoRet = Optional(ref reader, UInt);
        else if (Is(name, "args")) syscall.Args = Objects<SeccompArg>(ref reader, ReadSeccompArg);
        else return false;
        return true;
    }

    static bool ReadSeccompArg(ref Utf8JsonReader reader, SeccompArg arg, string name)
    {
        if (Is(name, "index")) arg.Index = UInt(ref reader);
        else if (Is(name, "value")) arg.Value = ULong(ref reader);
        else if (Is(name, "valueTwo")) arg.ValueTwo = ULong(ref reader);
        else if (Is(name, "op")) arg.Op = String(ref reader);
        else return false;
        return true;
    }

    /// <summary>JsonSerializer's matching with PropertyNameCaseInsensitive.</summary>
    static bool Is(string name, string property) => string.Equals(name, property, StringComparison.OrdinalIgnoreCase);

    /// <summary>Moves to the next property's value inside an object; false at the object's end.</summary>
    static bool NextProperty(ref Utf8JsonReader reader, out string name)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.EndObject)
        {
            name = "";
            return false;
        }
        name = reader.GetString()!;
        reader.Read();
        return true;
    }

    /// <summary>An object whose properties <paramref name="field"/> reads, unknown ones skipped, or null for JSON null.</summary>
    static T? Object<T>(ref Utf8JsonReader reader, Field<T> field) where T : class, new()
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        Expect(ref reader, JsonTokenType.StartObject, "an object");
        var target = new T();
        while (NextProperty(ref reader, out var name))
            if (!field(ref reader, target, name)) reader.Skip();
        return target;
    }

    static T[]? Array<T>(ref Utf8JsonReader reader, Read<T> read)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        Expect(ref reader, JsonTokenType.StartArray, "an array");
        var items = new List<T>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray) items.Add(read(ref reader));
        return [.. items];
    }

    static T[]? Objects<T>(ref Utf8JsonReader reader, Field<T> field) where T : class, new() =>
        Array(ref reader, (ref r) => Object(ref r, field)!);

    static string[]? Strings(ref Utf8JsonReader reader) => Array(ref reader, (ref r) => String(ref r)!);

    static Dictionary<string, string>? Map(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        Expect(ref reader, JsonTokenType.StartObject, "an object");
        var map = new Dictionary<string, string>();
        while (NextProperty(ref reader, out var name)) map[name] = String(ref reader)!;
        return map;
    }

    static JsonElement? Element(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.Null ? null : JsonElement.ParseValue(ref reader);

    static T? Optional<T>(ref Utf8JsonReader reader, Read<T> read) where T : struct =>
        reader.TokenType == JsonTokenType.Null ? null : read(ref reader);

    static string? String(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        Expect(ref reader, JsonTokenType.String, "a string");
        return reader.GetString();
    }

    static DateTimeOffset Time(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.String && reader.TryGetDateTimeOffset(out var value) ? value : throw Wrong(ref reader, "an ISO 8601 time");

    static bool Bool(ref Utf8JsonReader reader) => reader.TokenType switch
    {
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        _ => throw Wrong(ref reader, "true or false"),
    };

    static int Int(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var value) ? value : throw Wrong(ref reader, "a 32-bit integer");

    static uint UInt(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetUInt32(out var value) ? value : throw Wrong(ref reader, "an unsigned 32-bit integer");

    static long Long(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) ? value : throw Wrong(ref reader, "a 64-bit integer");

    static ulong ULong(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetUInt64(out var value) ? value : throw Wrong(ref reader, "an unsigned 64-bit integer");

    static void Expect(ref Utf8JsonReader reader, JsonTokenType type, string what)
    {
        if (reader.TokenType != type) throw Wrong(ref reader, what);
    }

    static JsonException Wrong(ref Utf8JsonReader reader, string what)
    {
        var found = reader.TokenType is JsonTokenType.Number or JsonTokenType.String
            ? Encoding.UTF8.GetString(reader.ValueSpan)
            : reader.TokenType.ToString();
        return new JsonException($"expected {what}, found {found} at byte {reader.TokenStartIndex}");
    }
}
