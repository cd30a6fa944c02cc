using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Tiny.Tests.Integration.Run;

/// <summary>tiny run -d with its monitor, ps, stop, wait, rm, start-stop-daemon and NOTIFY_SOCKET.</summary>
public class DetachTests
{
    const string StateRoot = "/run/tiny";

    [Before(Test)]
    public void Require() => Tiny.RequireRootAndBinary();

    static Task<Tiny.Result> Detach(string name, params string[] more) =>
        Tiny.Run(["run", "-d", "--name", name, "--net", "none", "--rootfs", BusyboxRootfs.Path, .. more]);

    static async Task<JsonElement?> PsEntry(string name)
    {
        var ps = await Tiny.Run("ps", "--format", "json");
        await Assert.That(ps.ExitCode).IsEqualTo(0);
        foreach (var entry in JsonDocument.Parse(ps.Stdout).RootElement.EnumerateArray())
            if (entry.GetProperty("name").GetString() == name) return entry.Clone();
        return null;
    }

    /// <summary>No state, cgroup or process of the container is left.</summary>
    static async Task AssertGone(string name, int? pid = null)
    {
        await Assert.That(Directory.Exists(Path.Combine(StateRoot, name))).IsFalse();
        await Assert.That(Tiny.CgroupDirectoriesOf(name)).IsEmpty();
        if (pid is { } p) await Assert.That(Tiny.IsAlive(p)).IsFalse();
    }

    [Test]
    public async Task Detach_ps_stop_wait_and_rm_round_trip_with_the_exit_status()
    {
        var name = Tiny.UniqueName("detach");
        var log = Path.Combine(Path.GetTempPath(), name + ".log");
        try
        {
            var run = await Detach(name, "--log-file", log, "--", "sh", "-c", "echo started; trap 'echo stopping; exit 7' TERM; while :; do sleep 0.05; done");
            await Assert.That(run.ExitCode).IsEqualTo(0);
            await Assert.That(run.Stdout).IsEqualTo(name + "\n");

            var entry = (await PsEntry(name))!.Value;
            await Assert.That(entry.GetProperty("status").GetString()).IsEqualTo("running");
            var pid = entry.GetProperty("pid").GetInt32();
            await Assert.That(Tiny.IsAlive(pid)).IsTrue();
            await Assert.That(entry.GetProperty("command").GetString()).StartsWith("sh -c echo started");
            var table = await Tiny.Run("ps");
            await Assert.That(table.Stdout).Contains(name);

            var stop = await Tiny.Run("stop", "-t", "10", name);
            await Assert.That(stop.ExitCode).IsEqualTo(0);
            var wait = await Tiny.Run("wait", name);
            await Assert.That(wait.Stdout).IsEqualTo("7\n");
            await Assert.That((await PsEntry(name))!.Value.GetProperty("status").GetString()).IsEqualTo("exited (7)");
            await Assert.That(Tiny.CgroupDirectoriesOf(name)).IsEmpty();
            await Assert.That(File.ReadAllText(log)).IsEqualTo("started\nstopping\n");

            await Assert.That((await Tiny.Run("rm", name)).ExitCode).IsEqualTo(0);
            await AssertGone(name, pid);
        }
        finally
        {
            await Tiny.Run("rm", "-f", name);
            File.Delete(log);
        }
    }

    [Test]
    public async Task Stop_escalates_to_sigkill_after_the_timeout()
    {
        var name = Tiny.UniqueName("stopkill");
        try
        {
            // sleep as PID 1 has no SIGTERM handler, so the kernel drops SIGTERM (pid_namespaces(7)).
            await Assert.That((await Detach(name, "sleep", "100")).ExitCode).IsEqualTo(0);
            await Assert.That((await Tiny.Run("stop", "-t", "0", name)).ExitCode).IsEqualTo(0);
            await Assert.That((await Tiny.Run("wait", name)).Stdout).IsEqualTo("137\n");
        }
        finally
        {
            await Tiny.Run("rm", "-f", name);
        }
        await AssertGone(name);
    }

    [Test]
    public async Task Stop_of_an_unknown_name_is_one_line_and_exit_1()
    {
        var result = await Tiny.Run("stop", "no-such-container-here");
        await Assert.That(result.ExitCode).IsEqualTo(1);
        await Assert.That(result.Stderr).IsEqualTo("tiny: no such container: no-such-container-here\n");
    }

    [Test]
    public async Task A_taken_name_and_a_missing_pid_file_directory_are_one_line_exit_125_and_leave_nothing()
    {
        var name = Tiny.UniqueName("taken");
        try
        {
            await Assert.That((await Detach(name, "sleep", "100")).ExitCode).IsEqualTo(0);
            var pid = (await PsEntry(name))!.Value.GetProperty("pid").GetInt32();
            var again = await Detach(name, "sleep", "100");
            await Assert.That(again.ExitCode).IsEqualTo(125);
            await Assert.That(again.Stderr).IsEqualTo($"tiny: container name \"{name}\" is already in use\n");
            await Assert.That(Tiny.IsAlive(pid)).IsTrue();
        }
        finally
        {
            await Tiny.Run("rm", "-f", name);
        }
        await AssertGone(name);

        var other = Tiny.UniqueName("pidfile");
        var missing = await Detach(other, "--pid-file", "/nonexistent-dir/x.pid", "sleep", "100");
        await Assert.That(missing.ExitCode).IsEqualTo(125);
        await Assert.That(missing.Stderr).IsEqualTo("tiny: --pid-file /nonexistent-dir/x.pid: directory /nonexistent-dir does not exist\n");
        await AssertGone(other);
    }

    [Test]
    public async Task A_monitor_killed_with_sigkill_leaves_state_that_ps_reports_and_rm_f_cleans_with_the_network_lease()
    {
        var name = Tiny.UniqueName("lost");
        try
        {
            var run = await Tiny.Run("run", "-d", "--name", name, "--rootfs", BusyboxRootfs.Path, "sleep", "100");
            await Assert.That(run.ExitCode).IsEqualTo(0);
            var monitor = (await PsEntry(name))!.Value.GetProperty("monitorPid").GetInt32();
            await Assert.That(File.ReadAllText("/run/tiny/net/leases")).Contains($" {name} ");
            Interop.Process.Kill(monitor, Interop.Process.SIGKILL);
            while (Tiny.IsAlive(monitor)) await Task.Delay(10);

            var entry = (await PsEntry(name))!.Value;
            await Assert.That(entry.GetProperty("status").GetString()).EndsWith("(monitor gone)");
            await Assert.That(Tiny.CgroupDirectoriesOf(name)).IsNotEmpty();

            var rm = await Tiny.Run("rm", "-f", name);
            await Assert.That(rm.ExitCode).IsEqualTo(0);
            await AssertGone(name);
            await Assert.That(File.ReadAllText("/run/tiny/net/leases")).DoesNotContain($" {name} ");
            // The host end of the veth pair: "tiny" and the name's first ten letters and digits.
            var hostLink = "tiny" + new string(name.Where(char.IsAsciiLetterOrDigit).Take(10).ToArray());
            await Assert.That(Directory.Exists("/sys/class/net/" + hostLink)).IsFalse();
        }
        finally
        {
            await Tiny.Run("rm", "-f", name);
        }
    }

    [Test]
    public async Task Start_stop_daemon_starts_and_stops_a_container_by_its_pid_file()
    {
        Skip.Unless(File.Exists("/sbin/start-stop-daemon") || File.Exists("/usr/sbin/start-stop-daemon"), "start-stop-daemon is missing (apt-get install dpkg)");
        var name = Tiny.UniqueName("ssd");
        var pidFile = Path.Combine(Path.GetTempPath(), name + ".pid");
        string[] start = ["--start", "--pidfile", pidFile, "--exec", Tiny.Binary, "--", "run", "-d", "--pid-file", pidFile,
            "--name", name, "--net", "none", "--init", "--rootfs", BusyboxRootfs.Path, "sleep", "100"];
        try
        {
            var started = await Tiny.Exec("start-stop-daemon", start);
            await Assert.That(started.ExitCode).IsEqualTo(0);
            var monitor = int.Parse(File.ReadAllText(pidFile));
            await Assert.That(File.ResolveLinkTarget($"/proc/{monitor}/exe", false)!.FullName).IsEqualTo(Path.GetFullPath(Tiny.Binary));
            var again = await Tiny.Exec("start-stop-daemon", start);
            await Assert.That(again.ExitCode).IsEqualTo(1);
            await Assert.That(again.Stdout).Contains("already running");

            var stopped = await Tiny.Exec("start-stop-daemon", ["--stop", "--pidfile", pidFile, "--exec", Tiny.Binary, "--retry", "TERM/10"]);
            await Assert.That(stopped.ExitCode).IsEqualTo(0);
            await Assert.That(File.Exists(pidFile)).IsFalse();
            await Assert.That((await Tiny.Run("wait", name)).Stdout).IsEqualTo($"{128 + Interop.Process.SIGTERM}\n");
            await Assert.That(Tiny.CgroupDirectoriesOf(name)).IsEmpty();
        }
        finally
        {
            await Tiny.Run("rm", "-f", name);
            File.Delete(pidFile);
        }
        await AssertGone(name);
    }

    /// <summary>The init script in README.md, run as written but for its paths and name.</summary>
    [Test]
    public async Task The_readme_init_script_starts_and_stops_its_container()
    {
        Skip.Unless(File.Exists("/sbin/start-stop-daemon") || File.Exists("/usr/sbin/start-stop-daemon"), "start-stop-daemon is missing (apt-get install dpkg)");
        var readme = File.ReadAllText(Path.Combine(Tiny.RepositoryRoot, "README.md"));
        var start = readme.IndexOf("#!/bin/sh\n# /etc/init.d/web", StringComparison.Ordinal);
        var name = Tiny.UniqueName("initd");
        var directory = Directory.CreateTempSubdirectory("tiny-initd-").FullName;
        var script = readme[start..readme.IndexOf("```", start, StringComparison.Ordinal)]
            .Replace("/usr/local/bin/tiny", Tiny.Binary).Replace("/srv/web/rootfs", BusyboxRootfs.Path)
            .Replace("/run/web.pid", Path.Combine(directory, "web.pid")).Replace("/var/log/web.log", Path.Combine(directory, "web.log"))
            .Replace("-h /www", "-h /").Replace(" web ", $" {name} ").Replace(" web;", $" {name};");
        var path = Path.Combine(directory, "web");
        File.WriteAllText(path, script);
        try
        {
            var started = await Tiny.Exec("/bin/sh", [path, "start"]);
            await Assert.That(started.ExitCode).IsEqualTo(0);
            await Assert.That((await Tiny.Run("ps")).Stdout).Contains(name);
            var stopped = await Tiny.Exec("/bin/sh", [path, "stop"]);
            await Assert.That(stopped.ExitCode).IsEqualTo(0);
            await Assert.That((await Tiny.Run("ps")).Stdout).DoesNotContain(name);
            await Assert.That(File.Exists(Path.Combine(directory, "web.pid"))).IsFalse();
        }
        finally
        {
            await Tiny.Run("rm", "-f", name);
            Directory.Delete(directory, recursive: true);
        }
        await AssertGone(name);
    }

    [Test]
    [Arguments(false)]
    [Arguments(true)]
    public async Task A_readiness_message_from_the_container_reaches_the_notify_socket_with_mainpid(bool detach)
    {
        Skip.Unless(File.Exists("/usr/bin/systemd-notify"), "systemd-notify is missing (busybox has no client for a unix datagram socket)");
        var name = Tiny.UniqueName("notify");
        var directory = Directory.CreateDirectory(Path.Combine("/run", name)).FullName;
        var path = Path.Combine(directory, "notify.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.ReceiveTimeout = 20000;
        // The host's systemd-notify, with the libraries it links, bound read-only into the busybox rootfs.
        string[] options = ["--name", name, "--net", "none", "--rootfs", BusyboxRootfs.Path, "-v", "/usr/lib:/usr/lib:ro", "-v", "/usr/lib:/lib:ro",
            "-v", "/usr/lib64:/lib64:ro", "-v", "/usr/bin/systemd-notify:/bin/systemd-notify:ro"];
        string[] command = ["sh", "-c", "systemd-notify --ready --status=serving"];
        try
        {
            var info = new System.Diagnostics.ProcessStartInfo(Tiny.Binary) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in (string[])["run", .. detach ? ["-d"] : Array.Empty<string>(), .. options, "--", .. command]) info.ArgumentList.Add(arg);
            info.Environment["NOTIFY_SOCKET"] = path;
            using var tiny = System.Diagnostics.Process.Start(info)!;
            // Datagrams until the container's: tiny's MAINPID comes first (with -d, from the tiny that started the
            // monitor; the monitor may say it again).
            var buffer = new byte[4096];
            List<string> messages = [];
            while (messages.Count < 5 && !messages.Any(m => m.Split('\n').Contains("READY=1")))
                messages.Add(Encoding.UTF8.GetString(buffer, 0, listener.Receive(buffer)));
            await tiny.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
            await Assert.That(tiny.ExitCode).IsEqualTo(0);
            var ready = messages[^1].Split('\n');
            await Assert.That(ready).Contains("READY=1");
            await Assert.That(ready).Contains("STATUS=serving");
            var expected = detach ? (await PsEntry(name))!.Value.GetProperty("monitorPid").GetInt32() : tiny.Id;
            await Assert.That(messages[..^1]).IsNotEmpty();
            foreach (var mainPid in messages[..^1]) await Assert.That(mainPid).IsEqualTo($"MAINPID={expected}");
            if (detach) await Assert.That((await Tiny.Run("wait", name)).Stdout).IsEqualTo("0\n");
        }
        finally
        {
            await Tiny.Run("rm", "-f", name);
            Directory.Delete(directory, recursive: true);
        }
        await AssertGone(name);
    }

    [Test]
    public async Task Exec_names_a_container_tiny_run_started()
    {
        var name = Tiny.UniqueName("noexec");
        try
        {
            await Assert.That((await Detach(name, "sleep", "100")).ExitCode).IsEqualTo(0);
            var exec = await Tiny.Run("exec", name, "true");
            await Assert.That(exec.ExitCode).IsEqualTo(125);
            await Assert.That(exec.Stderr).IsEqualTo($"tiny: exec: container {name} was started by tiny run, not from an OCI bundle\n");
        }
        finally
        {
            await Tiny.Run("rm", "-f", name);
        }
        await AssertGone(name);
    }
}
