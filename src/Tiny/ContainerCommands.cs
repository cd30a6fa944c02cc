using System.Globalization;
using System.Text.Json;
using ConsoleAppFramework;
using Microsoft.Extensions.Logging;
using Tiny.Runtime;
using Tiny.Runtime.Oci;
using Tiny.Runtime.Spec;

namespace Tiny;

/// <summary>Docker's commands over tiny run's containers (detached or not) by name: ps, stop, wait, rm.</summary>
internal sealed class ContainerCommands
{
    public static readonly CommandSyntax[] Syntaxes =
    [
        new("ps", ["-h", "--help"], [], HasCommandOperand: false),
        new("stop", ["-h", "--help"], [], HasCommandOperand: false),
        new("wait", ["-h", "--help"], [], HasCommandOperand: false),
        new("rm", ["--force", "-f", "-h", "--help"], [], HasCommandOperand: false),
    ];

    static OciRuntime Oci => new(OciCommands.Globals, OciCommands.Log);

    static NamedContainers Containers => new(Oci.Store, OciCommands.Log);

    /// <summary>List the containers (name, pid, status, command, age), or with an id the processes in that container.</summary>
    /// <param name="id">A container: print the pids of its processes instead.</param>
    /// <param name="format">-f, table or json.</param>
    public int Ps([Argument] string? id = null, string format = "table")
    {
        if (format is not ("table" or "json")) throw new ContainerError($"invalid --format \"{format}\": expected table or json");
        if (id is not null) return PrintProcesses(id, format);
        var containers = Containers.List();
        if (format == "json")
        {
            Console.WriteLine(JsonSerializer.Serialize(containers.ToArray(), SummaryJsonContext.Default.ContainerSummaryArray));
            return 0;
        }
        Console.WriteLine($"{"NAME",-24} {"PID",-8} {"STATUS",-28} {"AGE",-8} COMMAND");
        foreach (var c in containers)
            Console.WriteLine($"{c.Name,-24} {c.Pid,-8} {c.Status,-28} {Age(DateTimeOffset.UtcNow - c.Created),-8} {c.Command}");
        return 0;
    }

    int PrintProcesses(string id, string format)
    {
        var pids = Oci.Processes(id);
        if (format == "json")
        {
            Console.WriteLine("[" + string.Join(",", pids) + "]");
            return 0;
        }
        Console.WriteLine($"{"PID",-8} CMD");
        foreach (var pid in pids) Console.WriteLine($"{pid,-8} {CommandLine(pid)}");
        return 0;
    }

    static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").TrimEnd('\0').Replace('\0', ' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    static string Age(TimeSpan age) =>
        age.TotalSeconds < 60 ? $"{(int)age.TotalSeconds}s"
        : age.TotalMinutes < 60 ? $"{(int)age.TotalMinutes}m"
        : age.TotalHours < 48 ? $"{(int)age.TotalHours}h"
        : $"{(int)age.TotalDays}d";

    /// <summary>Stop a container: SIGTERM to its command, SIGKILL after the timeout; returns once it has ended.</summary>
    /// <param name="name">The container's name.</param>
    /// <param name="time">-t, Seconds to wait after SIGTERM before SIGKILL.</param>
    public int Stop([Argument] string name, int time = 10)
    {
        if (time < 0) throw new ContainerError($"invalid -t {time}: must be 0 or more");
        Containers.Stop(name, TimeSpan.FromSeconds(time));
        StandardOutput.WriteLine(name);
        return 0;
    }

    /// <summary>Wait for a container to end and print its exit code.</summary>
    /// <param name="name">The container's name.</param>
    public int Wait([Argument] string name)
    {
        StandardOutput.WriteLine(Containers.Wait(name).ToString(CultureInfo.InvariantCulture));
        return 0;
    }

    /// <summary>Remove an ended container's state; with -f kill it first and clean up what a lost monitor left.</summary>
    /// <param name="name">The container's name.</param>
    /// <param name="force">-f, Kill a running container, then remove it with its cgroup and network lease.</param>
    public int Rm([Argument] string name, bool force = false)
    {
        Containers.Remove(name, force, Oci);
        StandardOutput.WriteLine(name);
        return 0;
    }
}
