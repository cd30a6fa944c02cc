using ConsoleAppFramework;
using Tiny.Runtime.Launch;
using Tiny.Runtime.Seccomp;
using Tiny.Runtime.Spec;

namespace Tiny;

internal sealed class RunCommand
{
    public static readonly CommandSyntax Syntax = new("run",
        Flags: ["--readonly", "-v", "--verbose", "-h", "--help"],
        Repeatable: [["-e", "--env"], ["--cap-add"], ["--cap-drop"]],
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
    /// <param name="net">Network: none (a new namespace with lo up) or host.</param>
    /// <param name="seccomp">Seccomp profile: a Docker JSON profile file, or unconfined [default: Docker's default profile].</param>
    /// <param name="verbose">-v, Log each setup step to stderr.</param>
    public int Run(ConsoleAppContext context, string? rootfs = null, string? name = null, string? hostname = null,
        string? user = null, string? env = null, string? workdir = null, bool @readonly = false, string? memory = null,
        string? cpus = null, int? cpuWeight = null, long? pids = null, string? capAdd = null, string? capDrop = null,
        string net = "none", string? seccomp = null, bool verbose = false)
    {
        var options = new RunOptions
        {
            Rootfs = rootfs, Name = name, Hostname = hostname, User = user, Env = CommandSyntax.Split(env),
            Workdir = workdir, Readonly = @readonly, Memory = memory, Cpus = cpus, CpuWeight = cpuWeight, Pids = pids,
            CapAdd = CommandSyntax.Split(capAdd), CapDrop = CommandSyntax.Split(capDrop), Net = net, Seccomp = seccomp,
            Command = context.EscapedArguments.ToArray(),
        };
        var spec = options.ToSpec(Environment.GetEnvironmentVariable);
        using var logging = Logging.Create(verbose);
        return new ContainerLauncher(logging.CreateLogger("tiny")).Run(spec, SeccompPolicy.ProgramFor(spec.Seccomp, spec.Capabilities));
    }
}
