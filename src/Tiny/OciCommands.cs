using System.Text.Json;
using ConsoleAppFramework;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tiny.Runtime;
using Tiny.Runtime.Cgroups;
using Tiny.Runtime.Launch;
using Tiny.Runtime.Oci;
using Tiny.Runtime.Spec;

namespace Tiny;

/// <summary>runc's command line over OCI bundles, for podman, containerd and anyone who drives runc.</summary>
internal sealed class OciCommands
{
    /// <summary>runc run's own flags: given to `tiny run`, they make it runc's run rather than tiny's (-d and --pid-file
    /// are tiny run's too).</summary>
    static readonly string[] OciRunFlags =
        ["--bundle", "-b", "--keep", "--console-socket", "--no-pivot", "--no-new-keyring", "--preserve-fds"];

    /// <summary>Each command's flags (options without a value), so that <c>--flag=value</c> and <c>--flag value</c> both work.</summary>
    public static readonly CommandSyntax[] Syntaxes =
    [
        new("create", ["--no-pivot", "--no-new-keyring", "-h", "--help"], [], HasCommandOperand: false),
        new("run-bundle", ["--detach", "-d", "--keep", "--no-pivot", "--no-new-keyring", "-h", "--help"], [], HasCommandOperand: false),
        new("delete", ["--force", "-f", "-h", "--help"], [], HasCommandOperand: false),
        new("exec", ["--detach", "-d", "--tty", "-t", "-h", "--help"], [["-e", "--env"], ["-c", "--cap"]], HasCommandOperand: true),
        new("kill", ["--all", "-a", "-h", "--help"], [], HasCommandOperand: false),
        new("list", ["--quiet", "-q", "-h", "--help"], [], HasCommandOperand: false),
        new("pause", ["-h", "--help"], [], HasCommandOperand: false),
        new("update", ["-h", "--help"], [], HasCommandOperand: false),
        new("resume", ["-h", "--help"], [], HasCommandOperand: false),
        new("spec", ["--rootless", "-h", "--help"], [], HasCommandOperand: false),
        new("start", ["-h", "--help"], [], HasCommandOperand: false),
        new("state", ["-h", "--help"], [], HasCommandOperand: false),
        new("events", ["--stats", "-h", "--help"], [], HasCommandOperand: false),
    ];

    public static GlobalOptions Globals { get; set; } = new();
    public static ILogger Log { get; set; } = NullLogger.Instance;

    /// <summary>`tiny run` is runc's when global flags precede it or it carries a flag only runc's run has.</summary>
    public static string[] RouteRun(string[] command, GlobalOptions globals)
    {
        if (command.Length == 0 || command[0] != "run") return command;
        var oci = globals.Given || RunCommand.Syntax.OptionNames(command).Any(OciRunFlags.Contains);
        return oci ? ["run-bundle", .. command[1..]] : command;
    }

    OciRuntime Runtime => new(Globals, Log);

    /// <summary>Write a starter config.json for a bundle (a shell in rootfs/), as runc spec does.</summary>
    /// <param name="bundle">-b, The bundle directory to write config.json into [default: the current directory].</param>
    /// <param name="rootless">A config for a container run without root: a user namespace mapping your uid and gid to 0.</param>
    public int Spec(string bundle = ".", bool rootless = false)
    {
        var path = Path.Combine(bundle, OciConversion.ConfigFile);
        if (File.Exists(path)) throw new ContainerError($"File {path} exists. Remove it first");
        var cgroupNamespace = ContainerCgroup.DetectLayout() == CgroupLayout.Unified;
        var config = rootless
            ? OciSpec.RootlessConfig(Interop.Process.GetEffectiveUserId(), Interop.Process.GetEffectiveGroupId(), cgroupNamespace)
            : OciSpec.DefaultConfig(cgroupNamespace);
        File.WriteAllText(path, JsonSerializer.Serialize(config, OciJsonContext.Default.OciConfig));
        return 0;
    }

    /// <summary>Print what this runtime supports (runtime spec features document).</summary>
    public int Features()
    {
        Console.WriteLine(JsonSerializer.Serialize(OciSpec.Features(ConsoleApp.Release), FeaturesJsonContext.Default.OciFeatures));
        return 0;
    }

    /// <summary>Change a container's memory, cpu, pids and block I/O weight limits.</summary>
    /// <param name="id">The container id.</param>
    /// <param name="resources">-r, A JSON file of linux.resources (memory, cpu, pids, blockIO.weight), or - for stdin.</param>
    /// <param name="blkioWeight">Block I/O weight of the cgroup, 10 to 1000.</param>
    /// <param name="memory">Memory limit in bytes (suffixes k, m, g).</param>
    /// <param name="memorySwap">Memory plus swap limit in bytes, -1 for unlimited.</param>
    /// <param name="cpuPeriod">CFS period in microseconds.</param>
    /// <param name="cpuQuota">CFS quota in microseconds per period.</param>
    /// <param name="cpuShare">CPU shares (relative weight).</param>
    /// <param name="pidsLimit">Maximum number of processes.</param>
    public int Update([Argument] string id, string? resources = null, int? blkioWeight = null, string? memory = null, string? memorySwap = null,
        long? cpuPeriod = null, long? cpuQuota = null, long? cpuShare = null, long? pidsLimit = null)
    {
        var config = resources is null ? new OciResources() : ReadResources(resources);
        config.Memory ??= new OciMemory();
        config.Cpu ??= new OciCpu();
        if (memory is not null) config.Memory.Limit = Size.Parse(memory, "--memory");
        if (memorySwap is not null) config.Memory.Swap = memorySwap == "-1" ? -1 : Size.Parse(memorySwap, "--memory-swap");
        if (cpuPeriod is not null) config.Cpu.Period = (ulong)cpuPeriod.Value;
        if (cpuQuota is not null) config.Cpu.Quota = cpuQuota;
        if (cpuShare is not null) config.Cpu.Shares = (ulong)cpuShare.Value;
        if (pidsLimit is not null) config.Pids = new OciPids { Limit = pidsLimit };
        if (blkioWeight is not null) config.BlockIo = new OciBlockIo { Weight = blkioWeight };
        // As runc update: of blockIO only the weight; no device rules or huge page limits.
        config.Devices = null;
        config.HugepageLimits = null;
        config.BlockIo = config.BlockIo is { Weight: > 0 and var weight } ? new OciBlockIo { Weight = weight } : null;
        Runtime.Update(id, OciConversion.Limits(config));
        return 0;
    }

    static OciResources ReadResources(string path)
    {
        try
        {
            var json = path == "-" ? Console.In.ReadToEnd() : File.ReadAllText(path);
            return JsonSerializer.Deserialize(json, OciJsonContext.Default.OciResources) ?? new OciResources();
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            throw new ContainerError($"--resources {path}: {e.Message}");
        }
    }

    /// <summary>Freeze every process of a running container.</summary>
    /// <param name="id">The container id.</param>
    public int Pause([Argument] string id)
    {
        Runtime.Pause(id);
        return 0;
    }

    /// <summary>Thaw a paused container.</summary>
    /// <param name="id">The container id.</param>
    public int Resume([Argument] string id)
    {
        Runtime.Resume(id);
        return 0;
    }

    /// <summary>Create a container from a bundle; it waits before running its process until `tiny start`.</summary>
    /// <param name="id">The container id.</param>
    /// <param name="bundle">-b, The bundle directory [default: the current directory].</param>
    /// <param name="pidFile">File to write the container's init pid to.</param>
    /// <param name="consoleSocket">Unix socket to send the pty master to (SCM_RIGHTS) when process.terminal is true.</param>
    /// <param name="noPivot">Do not use pivot_root (tiny always does).</param>
    /// <param name="noNewKeyring">Do not create a new session keyring (tiny never does).</param>
    /// <param name="preserveFds">Pass this many fds after stdio (3 onwards) to the container.</param>
    public int Create([Argument] string id, string bundle = ".", string? pidFile = null, string? consoleSocket = null,
        bool noPivot = false, bool noNewKeyring = false, int preserveFds = 0)
    {
        Runtime.Create(id, bundle, pidFile, preserveFds, consoleSocket);
        return 0;
    }

    /// <summary>Run a process in a running container: its namespaces, cgroup and seccomp filter.</summary>
    /// <param name="context">The container id, then the command and its arguments (unless --process).</param>
    /// <param name="process">-p, A process.json (the config's process object) to run instead.</param>
    /// <param name="detach">-d, Return once the process runs.</param>
    /// <param name="pidFile">File to write the process's pid to.</param>
    /// <param name="tty">-t, Give the process a terminal.</param>
    /// <param name="consoleSocket">Unix socket to send the pty master to (SCM_RIGHTS).</param>
    /// <param name="cwd">Working directory in the container.</param>
    /// <param name="env">-e, KEY=VALUE to add to the environment (repeatable).</param>
    /// <param name="user">-u, UID[:GID].</param>
    /// <param name="cap">-c, A capability to add (repeatable).</param>
    /// <param name="preserveFds">Pass this many fds after stdio (3 onwards) to the process.</param>
    public int Exec(ConsoleAppContext context, string? process = null, bool detach = false, string? pidFile = null,
        bool tty = false, string? consoleSocket = null, string? cwd = null, string? env = null, string? user = null, string? cap = null,
        int preserveFds = 0)
    {
        var operands = context.EscapedArguments;
        if (operands.Length == 0) throw new ContainerError("exec: a container id is required");
        var request = new OciRuntime.ExecRequest(process, operands[1..].ToArray(), tty, cwd, CommandSyntax.Split(env), user, CommandSyntax.Split(cap));
        return Runtime.Exec(operands[0], request, detach, pidFile, consoleSocket, preserveFds);
    }

    /// <summary>Start a created container's process.</summary>
    /// <param name="id">The container id.</param>
    public int Start([Argument] string id)
    {
        Runtime.Start(id);
        return 0;
    }

    /// <summary>Print a container's state as JSON.</summary>
    /// <param name="id">The container id.</param>
    public int State([Argument] string id)
    {
        StandardOutput.WriteLine(ContainerStore.Serialize([Runtime.State(id)], asArray: false));
        return 0;
    }

    /// <summary>Send a signal to a container's init (or with --all to every process in it).</summary>
    /// <param name="id">The container id.</param>
    /// <param name="signal">Name (TERM, SIGTERM) or number [default: SIGTERM].</param>
    /// <param name="all">-a, Signal every process in the container's cgroup.</param>
    public int Kill([Argument] string id, [Argument] string signal = "SIGTERM", bool all = false)
    {
        Runtime.Kill(id, signal, all);
        return 0;
    }

    /// <summary>Delete a stopped or created container: its cgroup and state.</summary>
    /// <param name="id">The container id.</param>
    /// <param name="force">-f, Kill a running container first.</param>
    public int Delete([Argument] string id, bool force = false)
    {
        Runtime.Delete(id, force);
        return 0;
    }

    /// <summary>List the containers under --root.</summary>
    /// <param name="format">-f, table or json.</param>
    /// <param name="quiet">-q, Print the ids only.</param>
    public int List(string format = "table", bool quiet = false)
    {
        var states = Runtime.List();
        if (quiet)
        {
            foreach (var state in states) Console.WriteLine(state.Id);
        }
        else if (format == "json")
        {
            StandardOutput.WriteLine(ContainerStore.Serialize(states.ToArray(), asArray: true));
        }
        else if (format == "table")
        {
            Console.WriteLine($"{"ID",-20} {"PID",-8} {"STATUS",-10} {"BUNDLE",-40} {"CREATED",-30} OWNER");
            foreach (var s in states) Console.WriteLine($"{s.Id,-20} {s.Pid,-8} {s.Status,-10} {s.Bundle,-40} {s.Created,-30} root");
        }
        else
        {
            throw new ContainerError($"invalid --format \"{format}\": expected table or json");
        }
        return 0;
    }

    /// <summary>runc run: create and start a container from a bundle, in the foreground unless --detach.</summary>
    /// <param name="id">The container id.</param>
    /// <param name="bundle">-b, The bundle directory [default: the current directory].</param>
    /// <param name="detach">-d, Return once the container runs.</param>
    /// <param name="pidFile">File to write the container's init pid to.</param>
    /// <param name="consoleSocket">Unix socket to send the pty master to (SCM_RIGHTS) when process.terminal is true.</param>
    /// <param name="keep">Keep the container's state after it exits.</param>
    /// <param name="noPivot">Do not use pivot_root (tiny always does).</param>
    /// <param name="noNewKeyring">Do not create a new session keyring (tiny never does).</param>
    /// <param name="preserveFds">Pass this many fds after stdio (3 onwards) to the container.</param>
    [Command("run-bundle")]
    [Hidden]
    public int RunBundle([Argument] string id, string bundle = ".", bool detach = false, string? pidFile = null,
        string? consoleSocket = null, bool keep = false, bool noPivot = false, bool noNewKeyring = false, int preserveFds = 0)
    {
        var timing = LaunchTiming.StartIfAsked();
        try
        {
            return new OciRuntime(Globals, Log) { Timing = timing }.Run(id, bundle, pidFile, preserveFds, detach, keep, consoleSocket);
        }
        finally
        {
            if (timing is not null) Console.Error.Write(timing.Format());
        }
    }

    /// <summary>Print a container's resource usage and OOM kills as JSON lines, every interval until it stops.</summary>
    /// <param name="id">The container id.</param>
    /// <param name="stats">Print the stats once, then exit.</param>
    /// <param name="interval">How often to print the stats (5s, 100ms, 1m) [default: 5s].</param>
    public int Events([Argument] string id, bool stats = false, string interval = "5s")
    {
        var period = OciEvents.ParseDuration(interval, "--interval");
        var events = new OciEvents(Runtime.Store, Log, StandardOutput.WriteLine);
        if (stats) events.Stats(id);
        else events.Watch(id, period);
        return 0;
    }
}
