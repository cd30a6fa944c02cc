using System.Diagnostics;
using System.Net.Sockets;

namespace Tiny.Tests.Integration.Oci;

/// <summary>
/// SIGKILL of tiny in the middle of create, start, exec or delete: a later `delete --force` (what podman and
/// containerd run after a failed command) leaves no state, cgroup, mount or process of the container.
/// </summary>
public class OciKillSafetyTests
{
    [Test]
    [Arguments("create", "state directory")]
    [Arguments("create", "init exists")]
    [Arguments("start", "running")]
    [Arguments("exec", "exec'd process")]
    [Arguments("delete", "running")]
    public async Task Delete_force_after_a_killed_command_leaves_nothing(string command, string killPoint)
    {
        RuntimeUnderTest.Require("tiny");
        using var runtime = RuntimeUnderTest.Of("tiny");
        var id = runtime.NewId("kill9");
        // The id in the command line marks every process of the container (and every tiny working on it).
        var blockedInConnect = killPoint == "state directory";
        using var bundle = await OciBundle.Create(["sh", "-c", $"sleep 1000; : {id}"], config => config["process"]!["terminal"] = blockedInConnect);
        // Between its state directory and the init's record tiny create connects to --console-socket: a listener
        // whose backlog is full holds it there (unix(7): connect blocks while the peer's queue is full).
        var consoleSocket = Path.Combine(runtime.Root, "console.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var queued = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        if (blockedInConnect)
        {
            listener.Bind(new UnixDomainSocketEndPoint(consoleSocket));
            listener.Listen(0);
            queued.Connect(new UnixDomainSocketEndPoint(consoleSocket));
        }
        var stateDirectory = Path.Combine(runtime.Root, id);

        if (command != "create")
        {
            await Assert.That((await runtime.Detached("create", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
            if (command != "start") await Assert.That((await runtime.Run("start", id)).ExitCode).IsEqualTo(0);
            // exec needs the init to have left the exec FIFO behind: start may return just before.
            if (command == "exec") await Assert.That((string?)(await runtime.WaitForStatus(id, "running"))["status"]).IsEqualTo("running");
        }
        // Once the init waits to be started tiny create writes --pid-file, through a temporary file: a FIFO there
        // with no reader holds it (fifo(7)).
        var pidFile = Path.Combine(runtime.Root, "pid");
        if (killPoint == "init exists") await Tiny.Exec("/usr/bin/mkfifo", [Path.Combine(runtime.Root, ".pid.tmp")]);
        Func<bool> reached = killPoint switch
        {
            "state directory" => () => Directory.Exists(stateDirectory),
            "init exists" => () => File.Exists(Path.Combine(stateDirectory, "state.json")) && Directory.Exists(PidsCgroupOf(id)),
            // One read of each command line: a tiny in the middle of its execve reads as empty.
            "exec'd process" => () => CommandLinesNaming($"exec-{id}").Any(commandLine => !commandLine.Contains("--root")),
            _ => () => true,
        };
        string[] args = command switch
        {
            "create" when blockedInConnect => ["create", "--bundle", bundle.Path, "--console-socket", consoleSocket, id],
            "create" => ["create", "--bundle", bundle.Path, "--pid-file", pidFile, id],
            "exec" => ["exec", id, "sh", "-c", $"sleep 1000; : exec-{id}"],
            "delete" => ["delete", "--force", id],
            _ => [command, id],
        };
        try
        {
            await KillWhen(runtime, args, reached);
        }
        finally
        {
            var delete = await runtime.Run("delete", "--force", id);
            await Assert.That(delete.ExitCode).IsEqualTo(0);
        }
        await Assert.That(Leftovers(id, stateDirectory)).IsEmpty();
    }

    /// <summary>What of the containers whose ids start with <paramref name="id"/> is still on the host.</summary>
    internal static List<string> Leftovers(string id, string stateDirectory)
    {
        List<string> left = [];
        if (Directory.Exists(stateDirectory)) left.Add($"state {string.Join(' ', Directory.EnumerateFileSystemEntries(stateDirectory))}");
        left.AddRange(Tiny.CgroupDirectoriesOf(id + "*").Select(dir => $"cgroup {dir}"));
        left.AddRange(File.ReadLines("/proc/self/mountinfo").Where(line => line.Contains(id)).Select(line => $"mount {line}"));
        left.AddRange(ProcessesNaming(id).Select(pid => $"process {pid} {ReadCommandLine(pid).Replace('\0', ' ')}"));
        return left;
    }

    /// <summary>Starts tiny with <paramref name="args"/> and SIGKILLs it as soon as <paramref name="reached"/> holds.</summary>
    static async Task KillWhen(RuntimeUnderTest runtime, string[] args, Func<bool> reached)
    {
        var info = new ProcessStartInfo(runtime.Binary) { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in (string[])["--root", runtime.Root, .. args]) info.ArgumentList.Add(arg);
        using var tiny = Process.Start(info)!;
        var deadline = Stopwatch.StartNew();
        while (!reached() && !tiny.HasExited && deadline.Elapsed < TimeSpan.FromSeconds(30)) Thread.SpinWait(100);
        if (tiny.HasExited)
            throw new InvalidOperationException($"tiny {string.Join(' ', args)} ended before the kill point (exit {tiny.ExitCode}): {await tiny.StandardError.ReadToEndAsync()}");
        if (!reached()) throw new InvalidOperationException($"tiny {string.Join(' ', args)} did not reach the kill point in 30 s");
        tiny.Kill();
        await tiny.WaitForExitAsync();
    }

    /// <summary>Where tiny makes a container's pids cgroup: tiny-ID under the caller's (this test's) own.</summary>
    static string PidsCgroupOf(string id)
    {
        var own = File.ReadLines("/proc/self/cgroup").Select(line => line.Split(':')).Single(f => f[1].Split(',').Contains("pids"))[2];
        return $"/sys/fs/cgroup/pids{own.TrimEnd('/')}/tiny-{id}";
    }

    /// <summary>Live processes whose command line contains <paramref name="marker"/> (zombies have none).</summary>
    static int[] ProcessesNaming(string marker) => OtherProcesses().Where(pid => ReadCommandLine(pid).Contains(marker)).ToArray();

    /// <summary>The command lines that contain <paramref name="marker"/>, each read once.</summary>
    static string[] CommandLinesNaming(string marker) =>
        OtherProcesses().Select(ReadCommandLine).Where(commandLine => commandLine.Contains(marker)).ToArray();

    static IEnumerable<int> OtherProcesses() =>
        Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(name => name!.All(char.IsAsciiDigit))
            .Select(name => int.Parse(name!)).Where(pid => pid != Environment.ProcessId);

    static string ReadCommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }
}
