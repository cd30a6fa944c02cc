using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Tiny.Interop;
using Tiny.Runtime.Launch;
using Tiny.Runtime;
using Tiny.Runtime.Spec;

namespace Tiny;

/// <summary>
/// tiny run -d: tiny starts itself again (/proc/self/exe) in a session of its own as the container's monitor, with
/// stdin /dev/null, stdout and stderr the --log-file (or /dev/null) and fd 3 a socket to the first tiny. The monitor
/// waits for one byte on it (sent once the first tiny has told systemd the monitor's pid, which must reach systemd
/// before anything the container sends), runs the container as tiny run does in the foreground and writes one line
/// back: "0" once the command runs, or the exit code and the one-line error. Then the first tiny prints the name and
/// returns.
/// </summary>
internal static class DetachedRun
{
    const string ChannelVariable = "TINY_MONITOR_FD";
    const int ChannelFd = 3;

    /// <summary>Whether this tiny is the monitor a tiny run -d started (its channel not yet taken).</summary>
    public static bool IsMonitor => Environment.GetEnvironmentVariable(ChannelVariable) is not null;

    /// <summary>In the monitor: the pipe to report on, taken out of the environment so the container never sees it.</summary>
    public static int? TakeChannel()
    {
        var value = Environment.GetEnvironmentVariable(ChannelVariable);
        if (value is null) return null;
        Environment.SetEnvironmentVariable(ChannelVariable, null);
        var channel = int.Parse(value, CultureInfo.InvariantCulture);
        FileDescriptor.ReadFully(channel, stackalloc byte[1]);
        return channel;
    }

    /// <summary>In the monitor, once the command runs: the first tiny may return.</summary>
    public static void ReportStarted(int channel)
    {
        ReportErrors.Channel = -1;
        FileDescriptor.TryWriteAll(channel, "0\n"u8);
        FileDescriptor.Close(channel);
    }

    /// <summary>Starts the monitor and waits for its report; returns the exit code (0 once the command runs).</summary>
    public static int Start(RunSpec spec, bool nameGiven, string? pidFile, string? logFile, ILogger log)
    {
        if (spec.Tty || spec.Interactive) throw new ContainerError("-d cannot be combined with -t or -i: a detached container has no terminal");
        if (pidFile is not null && Path.GetDirectoryName(Path.GetFullPath(pidFile)) is { } dir && !Directory.Exists(dir))
            throw new ContainerError($"--pid-file {pidFile}: directory {dir} does not exist");
        var output = OpenOrFail(logFile ?? "/dev/null", FileDescriptor.O_WRONLY | FileDescriptor.O_CREAT | FileDescriptor.O_APPEND, "--log-file");
        var input = FileDescriptor.Open("/dev/null", FileDescriptor.O_RDONLY);
        var (reportRead, reportWrite) = UnixSocket.CreatePair();
        int monitor;
        try
        {
            var args = Environment.GetCommandLineArgs();
            // args[1] is "run" (global flags make it runc's run); the monitor gets the name chosen here.
            string[] argv = nameGiven ? args : [args[0], args[1], "--name", spec.Id, .. args[2..]];
            // A loop: LINQ's Select over Cast is a generic virtual call, resolved from the binary's metadata.
            List<string> env = [];
            foreach (System.Collections.DictionaryEntry variable in Environment.GetEnvironmentVariables()) env.Add($"{variable.Key}={variable.Value}");
            env.Add($"{ChannelVariable}={ChannelFd}");
            monitor = Spawn.Detached("/proc/self/exe", argv, env, [input, output, output, reportWrite]);
            // Before the container can send READY=1 through the monitor: systemd takes only the main pid's messages.
            if (spec.NotifySocket is { } notifySocket) NotifyRelay.SendOnce(notifySocket, $"MAINPID={monitor}", log);
            FileDescriptor.TryWriteAll(reportRead, "g"u8);
        }
        finally
        {
            FileDescriptor.Close(reportWrite);
            FileDescriptor.Close(input);
            FileDescriptor.Close(output);
        }
        try
        {
            return ReadReport(reportRead, spec.Id, monitor);
        }
        finally
        {
            FileDescriptor.Close(reportRead);
        }
    }

    static int OpenOrFail(string path, int flags, string option)
    {
        try
        {
            return FileDescriptor.Open(path, flags, 0x1a0 /* 0640 */);
        }
        catch (SyscallException e)
        {
            throw new ContainerError($"{option} {path}: {Errno.Describe(e.Errno)}");
        }
    }

    static int ReadReport(int fd, string name, int monitor)
    {
        var buffer = new byte[4096];
        var length = 0;
        int n;
        while (Array.IndexOf(buffer, (byte)'\n', 0, length) < 0 && (n = FileDescriptor.TryRead(fd, buffer.AsSpan(length))) > 0)
            length += n;
        var line = Encoding.UTF8.GetString(buffer, 0, length).TrimEnd('\n');
        if (line == "0")
        {
            StandardOutput.WriteLine(name);
            return 0;
        }
        var space = line.IndexOf(' ');
        if (space > 0 && int.TryParse(line.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture, out var code))
            throw new ContainerError(line[(space + 1)..], code);
        throw new ContainerError($"the monitor (pid {monitor}) of container {name} ended during set-up");
    }
}
