using ConsoleAppFramework;
using Microsoft.Extensions.Logging;
using Tiny.Runtime;
using Tiny.Runtime.Launch;
using Tiny.Runtime.Oci;
using Tiny.Runtime.Seccomp;
using Tiny.Runtime.Security;
using Tiny.Runtime.Spec;
using Tiny.Runtime.Users;
using ZLogger;

namespace Tiny;

internal sealed class RunCommand
{
    public static readonly CommandSyntax Syntax = new("run",
        Flags: ["--readonly", "--init", "--verbose", "-t", "--tty", "-i", "--interactive", "--timing", "-d", "--detach", "-h", "--help"],
        Repeatable: [["-e", "--env"], ["--cap-add"], ["--cap-drop"], ["-p", "--publish"], ["-v", "--volume"], ["--tmpfs"], ["--mount"], ["--uidmap"], ["--gidmap"]],
        HasCommandOperand: true);

    /// <summary>Run a command in a new container: tiny run [options] [--] COMMAND [ARG...]</summary>
    /// <param name="rootfs">Root file system directory [default: the host's /, read-only].</param>
    /// <param name="name">Container name (also its cgroup's name) [default: a random id].</param>
    /// <param name="hostname">Hostname inside the container [default: the name].</param>
    /// <param name="user">UID[:GID] or NAME[:GROUP] to run the command as.</param>
    /// <param name="env">-e, KEY=VALUE to set, or KEY to pass from the host (repeatable).</param>
    /// <param name="workdir">Working directory inside the container [default: /].</param>
    /// <param name="readonly">Mount the rootfs read-only.</param>
    /// <param name="memory">Memory limit, e.g. 512M or 1G.</param>
    /// <param name="cpus">CPU limit in CPUs, e.g. 1.5.</param>
    /// <param name="cpuWeight">Relative CPU weight, 1-10000 (cgroup v2 cpu.weight; v1 cpu.shares).</param>
    /// <param name="pids">Maximum number of processes.</param>
    /// <param name="capAdd">Capability to add to Docker's default set, e.g. NET_ADMIN or ALL (repeatable).</param>
    /// <param name="capDrop">Capability to drop from Docker's default set, or ALL (repeatable).</param>
    /// <param name="net">Network: bridge (a new namespace on bridge tiny0 with NAT), none (a new namespace with lo up) or host [default: bridge as root].</param>
    /// <param name="subnet">Subnet of bridge tiny0 when it is first made, e.g. 10.88.0.0/16 [default: a free private /16].</param>
    /// <param name="ip">The container's address on the bridge [default: the next free one].</param>
    /// <param name="publish">-p, Publish a port: [HOSTIP:]HOSTPORT:PORT[/tcp|udp] (repeatable).</param>
    /// <param name="seccomp">Seccomp profile: a Docker JSON profile file, or unconfined [default: Docker's default profile].</param>
    /// <param name="tty">-t, Give the command a terminal of its own (a pseudoterminal from the container's devpts).</param>
    /// <param name="interactive">-i, Forward tiny's input to the command's terminal (with -t; without it, stdin passes through anyway).</param>
    /// <param name="volume">-v, HOST:CONTAINER[:ro|rw] to bind a host file or directory (repeatable).</param>
    /// <param name="tmpfs">PATH[:size=N,mode=M,...] to mount a tmpfs, noexec,nosuid,nodev unless exec, suid or dev (repeatable).</param>
    /// <param name="mount">type=bind|tmpfs,source=HOST,target=PATH[,readonly][,tmpfs-size=N][,tmpfs-mode=M] as Docker's --mount (repeatable).</param>
    /// <param name="userns">User namespace: auto (65536 IDs leased for the container, 0-65535 inside) or host [default: host unless --uidmap or --gidmap].</param>
    /// <param name="uidmap">CONTAINER_UID:HOST_UID:COUNT to map in a new user namespace (repeatable; alone, it serves for gids too).</param>
    /// <param name="gidmap">CONTAINER_GID:HOST_GID:COUNT to map in a new user namespace (repeatable; alone, it serves for uids too).</param>
    /// <param name="init">Run a minimal init as PID 1 that forwards signals to the command and reaps orphans.</param>
    /// <param name="verbose">Log each setup step to stderr.</param>
    /// <param name="detach">-d, Return once the command runs, printing the name; a monitor process waits for it, records its exit status and cleans up.</param>
    /// <param name="pidFile">With -d: file to write the monitor's pid to (signal it to stop the container), removed when it ends.</param>
    /// <param name="logFile">With -d: file the command's output is appended to [default: discarded].</param>
    /// <param name="timing">Print each launch phase's microseconds to stderr after the run (or set TINY_TIMING=1).</param>
    public int Run(ConsoleAppContext context, string? rootfs = null, string? name = null, string? hostname = null,
        string? user = null, string? env = null, string? workdir = null, bool @readonly = false, string? memory = null,
        string? cpus = null, int? cpuWeight = null, long? pids = null, string? capAdd = null, string? capDrop = null,
        string? net = null, string? subnet = null, string? ip = null, string? publish = null, string? seccomp = null,
        string? volume = null, string? tmpfs = null, string? mount = null, string? userns = null, string? uidmap = null, string? gidmap = null, bool init = false,
        bool tty = false, bool interactive = false, bool verbose = false, bool timing = false,
        bool detach = false, string? pidFile = null, string? logFile = null)
    {
        if (!detach && (pidFile ?? logFile) is not null) throw new ContainerError($"{(pidFile is not null ? "--pid-file" : "--log-file")} needs -d");
        var launchTiming = LaunchTiming.StartIfAsked(timing);
        var options = new RunOptions
        {
            Rootfs = rootfs, Name = name, Hostname = hostname, User = user, Env = CommandSyntax.Split(env),
            Workdir = workdir, Readonly = @readonly, Memory = memory, Cpus = cpus, CpuWeight = cpuWeight, Pids = pids,
            CapAdd = CommandSyntax.Split(capAdd), CapDrop = CommandSyntax.Split(capDrop), Net = net, Subnet = subnet, Ip = ip,
            Publish = CommandSyntax.Split(publish), Seccomp = seccomp, Tty = tty, Interactive = interactive,
            Volumes = CommandSyntax.Split(volume), Tmpfs = CommandSyntax.Split(tmpfs), Mounts = CommandSyntax.Split(mount),
            Init = init, Userns = userns, UidMap = CommandSyntax.Split(uidmap), GidMap = CommandSyntax.Split(gidmap),
            Command = context.EscapedArguments.ToArray(),
        };
        try
        {
            var asRoot = Interop.Process.GetEffectiveUserId() == 0;
            var rootless = OciCommands.Globals.IsRootless
                ? RootlessIds.MapsFor(Interop.Process.GetEffectiveUserId(), Interop.Process.GetEffectiveGroupId(), RootlessSettings.Default)
                : null;
            var spec = options.ToSpec(Environment.GetEnvironmentVariable, asRoot, rootless);
            // The first tiny of -d starts the monitor, which launches.
            var startsMonitor = detach && !DetachedRun.IsMonitor;
            // Before the seccomp program, which a re-executed tiny would compile again.
            if (!startsMonitor) ReadOnlyBinary.EnsureFor(spec, tinyRun: true);
            launchTiming?.Mark("parse/spec");
            var seccompProgram = SeccompPolicy.ProgramFor(spec.Seccomp, spec.Capabilities);
            launchTiming?.Mark("seccomp program");
            using var logging = Logging.Create(verbose);
            var log = logging.CreateLogger("tiny");
            if (rootless is not null)
            {
                if (net is null) log.ZLogInformation($"network: none (rootless: a bridge needs root)");
                log.ZLogInformation($"rootless: uid map {string.Join(", ", rootless.UidMap)}, gid map {string.Join(", ", rootless.GidMap)}");
            }
            if (startsMonitor) return DetachedRun.Start(spec, nameGiven: name is not null, pidFile, logFile, log);
            var monitorChannel = DetachedRun.TakeChannel();
            ReportErrors.Channel = monitorChannel ?? -1;
            var containers = new NamedContainers(new ContainerStore(OciCommands.Globals.Root), log);
            return containers.Run(new ContainerLauncher(log) { Timing = launchTiming }, spec, seccompProgram, pidFile,
                detached: detach, started: monitorChannel is { } channel ? _ => DetachedRun.ReportStarted(channel) : null);
        }
        finally
        {
            if (launchTiming is not null) Console.Error.Write(launchTiming.Format());
        }
    }
}
