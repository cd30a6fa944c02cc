using System.Diagnostics;

namespace Tiny.Tests.Integration.Run;

/// <summary>--init: tiny's own PID 1 forwards signals, reaps orphans and passes the command's status on.</summary>
public class InitTests
{
    [Before(Test)]
    public void Require() => Tiny.RequireRootAndBinary();

    [Test]
    public async Task A_double_forked_orphan_is_reaped_by_init_and_the_command_is_pid_2()
    {
        // The subshell exits at once; its sleep is orphaned to PID 1 and ends before ps runs.
        var result = await Tiny.Sh("(sleep 0.1 &); sleep 1; echo $$; ps -o pid,stat,comm | tail -n +2", "--init");
        await Assert.That(result.ExitCode).IsEqualTo(0);
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).ToArray();
        await Assert.That(lines[0]).IsEqualTo("2");
        await Assert.That(lines[1]).Matches("^1 +S +tiny-init$");
        await Assert.That(lines.Skip(1).Where(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1].StartsWith('Z'))).IsEmpty();
        var withoutInit = await Tiny.Sh("echo $$");
        await Assert.That(withoutInit.Stdout).IsEqualTo("1\n");
    }

    [Test]
    [Arguments("exit 3", 3)]
    [Arguments("kill -9 $$", 137)]
    [Arguments("kill -USR1 1; sleep 5", 138)]
    public async Task The_commands_exit_status_passes_through(string script, int exitCode)
    {
        var result = await Tiny.Sh(script, "--init");
        await Assert.That(result.ExitCode).IsEqualTo(exitCode);
    }

    [Test]
    public async Task A_shell_waiting_on_sleep_stops_when_tiny_gets_sigterm()
    {
        using var tiny = Tiny.Start(Tiny.Binary, ["run", "--rootfs", BusyboxRootfs.Path, "--init", "--", "sh", "-c", "sleep 100"]);
        var started = Stopwatch.StartNew();
        while (!Descendants(tiny.Id).Any(pid => Comm(pid) == "sleep"))
        {
            if (started.Elapsed > TimeSpan.FromSeconds(20)) throw new TimeoutException("the container's sleep never started");
            await Task.Delay(20);
        }
        Interop.Process.Kill(tiny.Id, Interop.Process.SIGTERM);
        await tiny.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        await Assert.That(tiny.ExitCode).IsEqualTo(128 + Interop.Process.SIGTERM);
    }

    static string? Comm(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); }
        catch (IOException) { return null; }
    }

    static IEnumerable<int> Descendants(int pid)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var child)) continue;
            try
            {
                // /proc/PID/stat: "pid (comm) state ppid ...", comm may hold spaces (proc_pid_stat(5)).
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                parents[child] = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
            }
            catch (IOException) { }
        }
        return parents.Keys.Where(p => IsBelow(p, pid, parents));
    }

    static bool IsBelow(int pid, int ancestor, Dictionary<int, int> parents)
    {
        for (var p = pid; parents.TryGetValue(p, out var parent) && p > 1; p = parent)
            if (parent == ancestor) return true;
        return false;
    }
}
