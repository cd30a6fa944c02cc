using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tiny.Runtime.Seccomp;

/// <summary>A Docker/moby seccomp profile (moby's profiles/seccomp/default.json format).</summary>
public sealed class SeccompProfile
{
    public string? DefaultAction { get; set; }
    public uint? DefaultErrnoRet { get; set; }
    public string[]? Architectures { get; set; }
    public ArchMapEntry[]? ArchMap { get; set; }
    public ProfileSyscall[]? Syscalls { get; set; }
    public string? ListenerPath { get; set; }
    public string[]? Flags { get; set; }

    public static SeccompProfile Parse(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize(json, SeccompJsonContext.Default.SeccompProfile)
                ?? throw new ContainerError($"seccomp profile {source}: empty document");
        }
        catch (JsonException e)
        {
            throw new ContainerError($"seccomp profile {source}: {OneLine(e.Message)}");
        }
    }

    public static SeccompProfile Load(string path)
    {
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ContainerError($"seccomp profile {path}: no such file");
        }
        catch (UnauthorizedAccessException)
        {
            throw new ContainerError($"seccomp profile {path}: permission denied");
        }
        catch (IOException e)
        {
            throw new ContainerError($"seccomp profile {path}: {OneLine(e.Message)}");
        }
        return Parse(json, path);
    }

    internal static string OneLine(string text) => text.ReplaceLineEndings(" ");
}

public sealed class ArchMapEntry
{
    public string? Architecture { get; set; }
    public string[]? SubArchitectures { get; set; }
}

public sealed class ProfileSyscall
{
    public string? Name { get; set; }
    public string[]? Names { get; set; }
    public string? Action { get; set; }
    public uint? ErrnoRet { get; set; }
    public SeccompArg[]? Args { get; set; }
    public ProfileFilter? Includes { get; set; }
    public ProfileFilter? Excludes { get; set; }
    public string? Comment { get; set; }
}

/// <summary>The <c>includes</c>/<c>excludes</c> of a profile group.</summary>
public sealed class ProfileFilter
{
    public string[]? Caps { get; set; }
    public string[]? Arches { get; set; }
    public string? MinKernel { get; set; }
}

/// <summary>One argument condition, as in both the Docker profile and the OCI runtime spec.</summary>
public sealed class SeccompArg
{
    public uint Index { get; set; }
    public ulong Value { get; set; }
    public ulong ValueTwo { get; set; }
    public string? Op { get; set; }
}

/// <summary>The OCI runtime spec's <c>linux.seccomp</c> object (config.json).</summary>
public sealed class LinuxSeccomp
{
    public string? DefaultAction { get; set; }
    public uint? DefaultErrnoRet { get; set; }
    public string[]? Architectures { get; set; }
    public string[]? Flags { get; set; }
    public string? ListenerPath { get; set; }
    public string? ListenerMetadata { get; set; }
    public LinuxSyscall[]? Syscalls { get; set; }
}

/// <summary>One entry of the OCI <c>linux.seccomp.syscalls</c> list.</summary>
public sealed class LinuxSyscall
{
    public string[]? Names { get; set; }
    public string? Action { get; set; }
    public uint? ErrnoRet { get; set; }
    public SeccompArg[]? Args { get; set; }
}

[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true, ReadCommentHandling = JsonCommentHandling.Skip,
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(SeccompProfile))]
[JsonSerializable(typeof(LinuxSeccomp))]
public sealed partial class SeccompJsonContext : JsonSerializerContext;
