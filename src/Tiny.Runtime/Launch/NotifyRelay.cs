using Microsoft.Extensions.Logging;
using Tiny.Interop;
using Tiny.Runtime.Mounts;
using Tiny.Runtime.Spec;
using ZLogger;

namespace Tiny.Runtime.Launch;

/// <summary>
/// systemd's NOTIFY_SOCKET (sd_notify(3)) passed through to a container as runc does: a datagram socket of tiny's
/// own in a per-container directory, that directory bound read-only at /run/notify in the container and
/// NOTIFY_SOCKET set there to its socket; what the container sends (READY=1, STATUS=...) is relayed to the host's
/// socket from tiny's own, so systemd sees it from the pid it watches (sent as MAINPID).
/// </summary>
public sealed class NotifyRelay : IDisposable
{
    public const string ContainerDirectory = "/run/notify", SocketName = "notify.sock";

    readonly string hostSocket;
    readonly string directory;
    readonly ILogger log;
    readonly byte[] buffer = new byte[4096];
    int socket;

    public int Socket => socket;

    NotifyRelay(string hostSocket, string directory, int socket, ILogger log)
    {
        this.hostSocket = hostSocket;
        this.directory = directory;
        this.socket = socket;
        this.log = log;
    }

    /// <summary>Binds the socket in <paramref name="directory"/> (made here).</summary>
    public static NotifyRelay Bind(string hostSocket, string directory, ILogger log)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, SocketName);
        var socket = UnixSocket.CreateDatagram(path);
        // Any user the command runs as may send to it (runc's mode too).
        FileSystem.SetMode(path, 0x1ff);
        return new NotifyRelay(hostSocket, directory, socket, log);
    }

    /// <summary>
    /// <paramref name="spec"/> with the socket's directory bound into the container and NOTIFY_SOCKET in its
    /// environment. On the host's root, where tiny makes no mount points, it is bound over the directory of the
    /// host's own socket, which exists there.
    /// </summary>
    public RunSpec Apply(RunSpec spec)
    {
        var destination = spec.Rootfs is not null ? ContainerDirectory
            : hostSocket.StartsWith('@') ? throw new ContainerError($"NOTIFY_SOCKET {hostSocket}: an abstract socket has no directory to bind on the host's root; use --rootfs")
            : Path.GetDirectoryName(hostSocket)!;
        var mount = new MountRequest(destination, directory, "bind",
            Mount.MS_BIND | Mount.MS_RDONLY | Mount.MS_NOSUID | Mount.MS_NODEV | Mount.MS_NOEXEC, 0, null);
        return spec with
        {
            Mounts = [.. spec.Mounts, mount],
            Env = [.. spec.Env.Where(e => !e.StartsWith("NOTIFY_SOCKET=", StringComparison.Ordinal)), $"NOTIFY_SOCKET={destination}/{SocketName}"],
        };
    }

    /// <summary>Sends <paramref name="message"/> to the host's socket from a socket of this process.</summary>
    public void Send(string message) => Forward(System.Text.Encoding.UTF8.GetBytes(message));

    /// <summary>Sends <paramref name="message"/> to <paramref name="hostSocket"/> once, from an unbound socket.</summary>
    public static void SendOnce(string hostSocket, string message, ILogger log)
    {
        var fd = UnixSocket.CreateDatagram(null);
        try
        {
            Report(UnixSocket.TrySendTo(fd, System.Text.Encoding.UTF8.GetBytes(message), hostSocket), hostSocket, log);
        }
        finally
        {
            FileDescriptor.Close(fd);
        }
    }

    void Forward(ReadOnlySpan<byte> message) => Report(UnixSocket.TrySendTo(socket, message, hostSocket), hostSocket, log);

    static void Report(int errno, string hostSocket, ILogger log)
    {
        if (errno != 0) log.ZLogWarning($"NOTIFY_SOCKET {hostSocket}: {Errno.Describe(errno)}");
    }

    /// <summary>Relays every datagram waiting on the socket.</summary>
    public void RelayPending()
    {
        int n;
        while ((n = UnixSocket.TryReceive(socket, buffer)) >= 0) Forward(buffer.AsSpan(0, n));
    }

    /// <summary>Relays messages until <paramref name="pid"/> exits (and those it sent last).</summary>
    public void RelayUntilExit(int pid)
    {
        var pidFd = Process.OpenPidFd(pid);
        Span<FileDescriptor.PollFd> fds = stackalloc FileDescriptor.PollFd[2];
        fds[0] = new() { Fd = pidFd, Events = FileDescriptor.POLLIN };
        fds[1] = new() { Fd = socket, Events = FileDescriptor.POLLIN };
        try
        {
            while (fds[0].ReturnedEvents == 0)
            {
                FileDescriptor.Poll(fds, -1);
                if (fds[1].ReturnedEvents != 0) RelayPending();
            }
            RelayPending();
        }
        finally
        {
            FileDescriptor.Close(pidFd);
        }
    }

    public void Dispose()
    {
        FileDescriptor.Close(Interlocked.Exchange(ref socket, -1));
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }
}
