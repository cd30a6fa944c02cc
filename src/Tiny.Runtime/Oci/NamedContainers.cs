using System.Globalization;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Tiny.Interop;
using Tiny.Runtime.Launch;
using Tiny.Runtime.Network;
using Tiny.Runtime.Spec;
using Stopwatch = System.Diagnostics.Stopwatch;

namespace Tiny.Runtime.Oci;

/// <summary>One line of tiny ps.</summary>
public sealed record ContainerSummary(string Name, int Pid, string Status, int? ExitCode, string Command, DateTimeOffset Created, int MonitorPid);

[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Serialization, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(ContainerSummary[]))]
public sealed partial class SummaryJsonContext : JsonSerializerContext;

/// <summary>
/// tiny run's containers in the OCI state store, by name: the record written while one runs (by tiny run, or by
/// its monitor with -d, which keeps the exit code afterwards), and ps, stop, wait and rm over them.
/// </summary>
public sealed class NamedContainers(ContainerStore store, ILogger log)
{
    /// <summary>How long rm waits for a killed container's monitor to clean up.</summary>
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Runs <paramref name="spec"/> under its name as <see cref="ContainerLauncher.Run"/> does. The state is removed
    /// afterwards, or with <paramref name="detached"/> (a detached container's monitor) kept with the exit code
    /// for wait and ps. <paramref name="pidFile"/> gets this process's pid once the command runs and goes at the end.
    /// With NOTIFY_SOCKET the container's messages are relayed; in the foreground tiny sends MAINPID, its own pid
    /// (a detached container's MAINPID, the monitor's, comes from the tiny that started it).
    /// </summary>
    public int Run(ContainerLauncher launcher, RunSpec spec, byte[]? seccomp, string? pidFile, bool detached,
        Action<LaunchedContainer>? started = null)
    {
        ContainerLauncher.RequireRootOrUserNamespace(spec);
        using var namespacesAhead = NamespacesAhead.StartFor(spec);
        store.Claim(spec.Id);
        ContainerRecord? record = null;
        var running = false;
        var self = Process.GetProcessId();
        var fullPidFile = pidFile is null ? null : Path.GetFullPath(pidFile);
        NotifyRelay? notify = null;
        try
        {
            if (spec.NotifySocket is { } hostSocket)
            {
                notify = NotifyRelay.Bind(hostSocket, Path.Combine(store.DirectoryOf(spec.Id), "notify"), log);
                spec = notify.Apply(spec);
            }
            var exitCode = launcher.Run(spec, seccomp, cloned: child =>
            {
                record = new ContainerRecord
                {
                    Id = spec.Id,
                    Pid = child.Pid,
                    PidStartTime = ContainerStore.ProcessStartTime(child.Pid) ?? 0,
                    Rootfs = spec.RootfsDisplay,
                    Created = DateTimeOffset.UtcNow,
                    CgroupDirectories = child.Cgroup.Directories.ToArray(),
                    Command = spec.Command.ToArray(),
                    MonitorPid = self,
                    MonitorStartTime = ContainerStore.ProcessStartTime(self) ?? 0,
                    Bridge = spec.Bridge is not null,
                    PidFile = fullPidFile,
                };
                store.SaveLocked(record);
            }, started: child =>
            {
                running = true;
                if (fullPidFile is not null) OciRuntime.WritePidFile(fullPidFile, self);
                if (!detached) notify?.Send($"MAINPID={self}");
                started?.Invoke(child);
            }, notify: notify, namespacesAhead: namespacesAhead);
            if (detached && running) RecordExit(record!, exitCode);
            return exitCode;
        }
        finally
        {
            notify?.Dispose();
            if (fullPidFile is not null && running) RemovePidFile(fullPidFile, self);
            if ((!detached || !running) && Directory.Exists(store.DirectoryOf(spec.Id))) store.Remove(spec.Id);
        }
    }

    void RecordExit(ContainerRecord record, int exitCode)
    {
        record.ExitCode = exitCode;
        record.Finished = DateTimeOffset.UtcNow;
        try
        {
            store.SaveLocked(record);
        }
        catch (ContainerError)
        {
            // tiny rm -f removed the container meanwhile.
        }
    }

    /// <summary>Removes a pid file that still names <paramref name="pid"/> (not one a later daemon rewrote).</summary>
    static void RemovePidFile(string path, int pid)
    {
        try
        {
            if (File.ReadAllText(path).Trim() == pid.ToString(CultureInfo.InvariantCulture)) File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Every container in the store, tiny run's and OCI ones, oldest first.</summary>
    public IReadOnlyList<ContainerSummary> List() => store.LoadAll().OrderBy(r => r.Created).ToList().ConvertAll(Summarize);

    ContainerSummary Summarize(ContainerRecord record)
    {
        var status = store.StatusOf(record);
        var monitorGone = record.MonitorPid > 0 && record.ExitCode is null && !ContainerStore.IsAlive(record.MonitorPid, record.MonitorStartTime);
        var text = status switch
        {
            ContainerStatus.Stopped when record.ExitCode is { } code => $"exited ({code})",
            _ => status.Name(),
        } + (monitorGone ? " (monitor gone)" : "");
        var command = record.Command is { } args ? string.Join(' ', args) : $"(oci bundle {record.Bundle})";
        return new ContainerSummary(record.Id, status == ContainerStatus.Stopped ? 0 : record.Pid, text, record.ExitCode,
            command, record.Created, record.MonitorPid);
    }

    /// <summary>SIGTERM to the command, SIGKILL after <paramref name="timeout"/>; returns once its monitor has cleaned up.</summary>
    public void Stop(string name, TimeSpan timeout)
    {
        var record = Find(name);
        if (Ended(record)) return;
        Process.Kill(record.Pid, Process.SIGTERM);
        if (WaitUntilEnded(record, timeout)) return;
        Process.Kill(record.Pid, Process.SIGKILL);
        if (!WaitUntilEnded(record, Patience)) throw new ContainerError($"container \"{name}\" still runs after SIGKILL");
    }

    /// <summary>Waits for the container to end and returns its exit code.</summary>
    public int Wait(string name)
    {
        var record = Find(name);
        WaitUntilEnded(record, Timeout.InfiniteTimeSpan);
        return Find(name).ExitCode
            ?? throw new ContainerError($"container \"{name}\" ended with no exit status recorded (its monitor was killed)");
    }

    /// <summary>
    /// Removes an ended container's state; with <paramref name="force"/> a running one is killed first, and what a
    /// killed monitor left (processes, cgroup, network lease) goes too.
    /// </summary>
    public void Remove(string name, bool force, OciRuntime oci)
    {
        var record = Find(name);
        if (!Ended(record))
        {
            if (!force) throw new ContainerError($"container \"{name}\" is running: stop it first or use rm -f");
            Process.Kill(record.Pid, Process.SIGKILL);
            if (!WaitUntilEnded(record, Patience) && MonitorAlive(record))
                throw new ContainerError($"container \"{name}\": its monitor (pid {record.MonitorPid}) did not end");
        }
        if (record.Bridge) ContainerNetwork.Release(name, log);
        if (record.PidFile is not null) RemovePidFile(record.PidFile, record.MonitorPid);
        oci.Delete(name, force: true);
    }

    ContainerRecord Find(string name)
    {
        ContainerStore.ValidateId(name);
        return store.Load(name) ?? throw new ContainerError($"no such container: {name}", 1);
    }

    static bool MonitorAlive(ContainerRecord record) => ContainerStore.IsAlive(record.MonitorPid, record.MonitorStartTime);

    /// <summary>Ended: the command has exited and its monitor (if any) is gone, so nothing of it is left to clean up by it.</summary>
    bool Ended(ContainerRecord record) => store.StatusOf(record) == ContainerStatus.Stopped && !MonitorAlive(record);

    bool WaitUntilEnded(ContainerRecord record, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!Ended(record))
        {
            if (timeout != Timeout.InfiniteTimeSpan && clock.Elapsed > timeout) return false;
            Thread.Sleep(10);
        }
        return true;
    }
}
