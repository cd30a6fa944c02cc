namespace Tiny.Runtime.Oci;

/// <summary>
/// runc's global flags, which come before the command (<c>tiny --root DIR --log FILE create ...</c>), as
/// containerd's go-runc and conmon pass them; both <c>--flag value</c> and <c>--flag=value</c>.
/// </summary>
public sealed record GlobalOptions
{
    public const string DefaultRoot = "/run/tiny";

    readonly string? root;

    /// <summary>--root, or where tiny keeps state by default: /run/tiny for root, else $XDG_RUNTIME_DIR/tiny
    /// (when this user may write there) or /tmp/tiny-UID, as runc does rootless.</summary>
    public string Root { get => root ?? DefaultRootFor(Interop.Process.GetEffectiveUserId()); init => root = value; }

    /// <summary>--rootless: true or false as given; null (auto) is rootless when tiny is not root.</summary>
    public bool? Rootless { get; init; }

    public bool IsRootless => Rootless ?? !Interop.Process.IsHostRoot();
    public string? Log { get; init; }
    public string LogFormat { get; init; } = "text";
    public bool Debug { get; init; }
    public bool SystemdCgroup { get; init; }
    /// <summary>Whether any global flag was given: then `run` is the OCI one (runc's), not tiny's own.</summary>
    public bool Given { get; init; }

    static readonly string[] ValueFlags = ["--root", "--log", "--log-format", "--rootless", "--criu"];
    static readonly string[] BoolFlags = ["--debug", "--systemd-cgroup"];

    /// <summary>Takes the global flags off the front of <paramref name="args"/>; the rest starts with the command.</summary>
    public static (GlobalOptions Options, string[] Command) Extract(string[] args)
    {
        var options = new GlobalOptions();
        var i = 0;
        for (; i < args.Length && args[i].StartsWith("--", StringComparison.Ordinal) && args[i].Length > 2; i++)
        {
            var eq = args[i].IndexOf('=');
            var name = eq > 0 ? args[i][..eq] : args[i];
            string? value = eq > 0 ? args[i][(eq + 1)..] : null;
            if (BoolFlags.Contains(name))
            {
                var on = value is null || bool.TryParse(value, out var parsed) && parsed;
                options = name == "--debug" ? options with { Debug = on } : options with { SystemdCgroup = on };
            }
            else if (ValueFlags.Contains(name))
            {
                if (value is null)
                {
                    if (i + 1 >= args.Length) throw new ContainerError($"flag {name} needs a value");
                    value = args[++i];
                }
                options = name switch
                {
                    "--root" => options with { Root = value.Length > 0 ? Path.GetFullPath(value) : throw new ContainerError("--root must not be empty") },
                    "--log" => options with { Log = value.Length > 0 ? value : null },
                    "--log-format" => options with
                    {
                        LogFormat = value is "text" or "json" ? value : throw new ContainerError($"invalid --log-format \"{value}\": expected text or json"),
                    },
                    "--rootless" => options with
                    {
                        Rootless = value switch
                        {
                            "auto" => null,
                            "true" => true,
                            "false" => false,
                            _ => throw new ContainerError($"invalid --rootless \"{value}\": expected auto, true or false"),
                        },
                    },
                    _ => throw new ContainerError($"{name} (checkpoint and restore) is not supported"),
                };
            }
            else break;
            // --rootless alone leaves `tiny run` tiny's own: it says how to run, not that runc's command line is in use.
            if (name != "--rootless") options = options with { Given = true };
        }
        return (options, args[i..]);
    }

    static string DefaultRootFor(uint euid)
    {
        if (euid == 0 && Interop.Process.IsHostRoot()) return DefaultRoot;
        if (Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } runtimeDir && runtimeDir.StartsWith('/')
            && Directory.Exists(runtimeDir) && Interop.FileSystem.IsWritable(runtimeDir))
            return Path.Combine(runtimeDir, "tiny");
        return $"/tmp/tiny-{euid}";
    }
}
