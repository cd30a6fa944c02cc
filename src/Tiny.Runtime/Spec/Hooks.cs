using System.Globalization;
using Tiny.Interop;

namespace Tiny.Runtime.Spec;

/// <summary>The six points of an OCI container's lifecycle where hooks run (config.md, "POSIX-platform Hooks").</summary>
public enum HookKind { Prestart, CreateRuntime, CreateContainer, StartContainer, Poststart, Poststop }

/// <summary>
/// One hook: <see cref="Path"/> (absolute) run with <see cref="Args"/> (argv, [Path] when empty) and <see cref="Env"/>
/// (null: the environment of the process that runs it, as runc's hooks get), killed after <see cref="TimeoutSeconds"/>.
/// </summary>
public sealed record Hook(string Path, IReadOnlyList<string> Args, IReadOnlyList<string>? Env, int? TimeoutSeconds)
{
    public IReadOnlyList<string> Argv => Args.Count > 0 ? Args : [Path];

    public bool Equals(Hook? other) => other is not null && Path == other.Path && TimeoutSeconds == other.TimeoutSeconds
        && Args.SequenceEqual(other.Args) && (Env is null ? other.Env is null : other.Env is not null && Env.SequenceEqual(other.Env));

    public override int GetHashCode() => Path.GetHashCode();
}

/// <summary>A container's hooks by kind, each list in the order the config gives.</summary>
public sealed record ContainerHooks(IReadOnlyDictionary<HookKind, IReadOnlyList<Hook>> ByKind)
{
    public IReadOnlyList<Hook> this[HookKind kind] => ByKind.TryGetValue(kind, out var hooks) ? hooks : [];

    /// <summary>Whether the child must stop before pivot_root for the runtime's prestart and createRuntime hooks.</summary>
    public bool PausesBeforePivot => this[HookKind.Prestart].Count + this[HookKind.CreateRuntime].Count > 0;

    /// <summary>The name config.json gives the kind (prestart, createRuntime, ...).</summary>
    public static string NameOf(HookKind kind)
    {
        var name = kind.ToString();
        return char.ToLowerInvariant(name[0]) + name[1..];
    }

    /// <summary>"createRuntime hook #0 (/usr/bin/x)": what a message names.</summary>
    public static string Describe(HookKind kind, int index, Hook hook) => $"{NameOf(kind)} hook #{index} ({hook.Path})";
}

/// <summary>
/// How a hook ended, as one int the container child can report over its error pipe in place of an errno: bit 20 and
/// up the hook's index + 1, bits 12-19 the outcome, bits 0-11 the detail (errno, exit status or signal). Any value with
/// bit 20 or higher set is above every errno, so a report tells them apart.
/// </summary>
public static class HookOutcome
{
    public const int ExecFailed = 1, Exited = 2, Signalled = 3, TimedOut = 4;

    public static int Encode(int index, int outcome, int detail) => ((index + 1) << 20) | (outcome << 12) | (detail & 0xfff);

    /// <summary>The outcome of a wait status (waitpid(2)): exited with a status, or killed by a signal.</summary>
    public static int FromWaitStatus(int index, int status) =>
        (status & 0x7f) == 0 ? Encode(index, Exited, (status >> 8) & 0xff) : Encode(index, Signalled, status & 0x7f);

    public static bool IsHookOutcome(int value) => value >= 1 << 20;

    public static int IndexOf(int value) => (value >> 20) - 1;

    /// <summary>"exit status 3", "killed by signal 9", "timed out after 2s", "exec: No such file or directory".</summary>
    public static string Describe(int value, int? timeoutSeconds)
    {
        var detail = value & 0xfff;
        return ((value >> 12) & 0xff) switch
        {
            ExecFailed => $"exec: {Errno.Describe(detail)}",
            Exited => $"exit status {detail.ToString(CultureInfo.InvariantCulture)}",
            Signalled => $"killed by signal {detail.ToString(CultureInfo.InvariantCulture)}",
            TimedOut => $"timed out after {timeoutSeconds}s (killed)",
            _ => $"failed ({value})",
        };
    }
}
